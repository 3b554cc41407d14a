//! Resources (RELIABILITY.md): running out of memory on a batch suggests a smaller one and leaves
//! no run behind; a filesystem without room for the output is refused before work starts.
mod common;
use std::os::unix::process::CommandExt;
use std::process::Command;

#[test]
fn running_out_of_memory_on_a_batch_suggests_a_smaller_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let args = ["train", "--quiet", "--steps", "2", "--batch-size", "4800", "--val-fraction", "0.2", "--out"];
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_robustcnn"));
    cmd.args(args).arg(&run);
    // SAFETY: setrlimit is async-signal-safe; it caps this child's address space at 2.5 GB, so
    // libtorch's allocation for a 4,800-image batch (about 1 GB per activation) fails.
    unsafe {
        cmd.pre_exec(|| {
            let cap = libc::rlimit { rlim_cur: 2_500_000_000, rlim_max: 2_500_000_000 };
            if libc::setrlimit(libc::RLIMIT_AS, &cap) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: out of memory: ") && err.trim_end().lines().count() == 1, "{err}");
    assert!(err.contains("can't allocate memory") && err.contains("use a smaller batch size (--batch-size"), "{err}");
    assert!(!run.exists(), "the failed run was left behind");
    // The same batch fits without the cap: memory, not the recipe, was the problem.
    common::ok(&[&args[..], &[run.to_str().unwrap()]].concat());
}

#[test]
fn an_output_without_enough_free_space_is_refused_before_work_starts() {
    let dir = tempfile::tempdir().unwrap();
    let free = robustcnn::disk::available_bytes(dir.path()).expect("statvfs works on the temporary folder");
    assert!(free > 0);
    robustcnn::disk::check_space(dir.path(), 1, "one byte").unwrap();
    let e = robustcnn::disk::check_space(dir.path(), free.saturating_mul(4).max(1 << 62), "the corrupted dataset")
        .unwrap_err()
        .to_string();
    let path = dir.path().display().to_string();
    assert!(
        e.starts_with(&format!("{path}: the corrupted dataset needs about ")) && e.contains(" of disk space, only "),
        "{e}"
    );
    assert_eq!(robustcnn::disk::size_text(999), "999 B");
    assert_eq!(robustcnn::disk::size_text(1_500_000), "1.5 MB");
    assert_eq!(robustcnn::disk::size_text(3_670_016_000), "3.7 GB");
}
