//! The fuzz targets' seed corpus and saved crashes (fuzz/, RELIABILITY.md): every input is handled
//! without a panic, and the seeds are valid inputs that reach past the readers' first checks.
use robustcnn::fuzzing;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The entry points share one scratch folder per process: the tests take turns and remove it after.
static SCRATCH: Mutex<()> = Mutex::new(());

fn fuzz_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz").join(sub)
}

/// (target, file) for every file under fuzz/<sub>/<target>/.
fn inputs(sub: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for target in std::fs::read_dir(fuzz_dir(sub)).unwrap() {
        let target = target.unwrap().path();
        if !target.is_dir() {
            continue;
        }
        let name = target.file_name().unwrap().to_string_lossy().into_owned();
        assert!(fuzzing::TARGETS.contains(&name.as_str()), "fuzz/{sub}/{name}: not a fuzz target");
        for f in std::fs::read_dir(&target).unwrap() {
            out.push((name.clone(), f.unwrap().path()));
        }
    }
    out.sort();
    out
}

#[test]
fn every_seed_and_saved_crash_is_handled_without_a_panic() {
    let _turn = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    let mut all = inputs("corpus");
    for t in fuzzing::TARGETS {
        assert!(all.iter().any(|(n, _)| n == t), "fuzz target {t} has no seed in fuzz/corpus/{t}");
    }
    all.extend(inputs("regressions"));
    for (target, file) in all {
        let data = std::fs::read(&file).unwrap();
        let ran = std::panic::catch_unwind(|| fuzzing::run(&target, &data));
        assert!(ran.is_ok(), "fuzz target {target} panicked on {}", file.display());
        assert!(ran.unwrap());
    }
    fuzzing::remove_scratch();
}

#[test]
fn the_checkpoint_seed_is_what_training_writes_and_loads_back() {
    let _turn = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    let seed = fuzz_dir("corpus/checkpoint/tiny.safetensors");
    let written = fuzzing::tiny_checkpoint();
    if std::env::var_os("ROBUSTCNN_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::write(&seed, &written).unwrap();
    }
    let stored = std::fs::read(&seed).unwrap();
    assert_eq!(stored, written, "the checkpoint format changed: rerun with ROBUSTCNN_WRITE_FUZZ_SEEDS=1");
    let st = fuzzing::load_tiny_checkpoint(&stored).expect("the seed loads");
    assert_eq!((st.epoch, st.step), (1, 7));
    let mut cut = stored.clone();
    cut.truncate(stored.len() - 10);
    let e = fuzzing::load_tiny_checkpoint(&cut).unwrap_err().to_string();
    assert!(e.contains("checkpoint.safetensors") && e.contains("not a readable safetensors file"), "{e}");
    fuzzing::remove_scratch();
}

#[test]
fn the_other_seeds_pass_their_readers() {
    let read = |p: &str| std::fs::read(fuzz_dir(&format!("corpus/{p}"))).unwrap();
    let npy = corrupt::npy::parse(Path::new("x"), &read("npy/images-5x4x4x3.npy")).unwrap();
    assert_eq!(npy.shape, vec![5, 4, 4, 3]);
    let names: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    for f in ["tiny-raw", "tiny-gz", "two-28x28-raw"] {
        let data = read(&format!("idx/{f}"));
        let n = u16::from_be_bytes([data[0], data[1]]) as usize;
        let files = ((Path::new("i"), data[2..2 + n].to_vec()), (Path::new("l"), data[2 + n..].to_vec()));
        let ds = robustcnn::data::idx::from_file_bytes(files.0, files.1, &names).unwrap();
        assert!(!ds.is_empty(), "{f}");
    }
    assert!(robustcnn::config::Config::from_toml(
        "x",
        &String::from_utf8(read("config/fashion-mnist-lfm.toml")).unwrap()
    )
    .is_ok());
}
