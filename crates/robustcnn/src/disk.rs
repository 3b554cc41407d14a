//! Free space on the filesystem an output goes to, checked before long work starts (RELIABILITY.md).
use crate::error::{Error, Result};
use std::path::Path;

/// Bytes an unprivileged process may still write on the filesystem holding `dir` (statvfs), or
/// None where the system cannot tell.
pub fn available_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut s = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a NUL-terminated path and `s` a buffer of the size statvfs writes.
    let rc = unsafe { libc::statvfs(c.as_ptr(), s.as_mut_ptr()) };
    // SAFETY: statvfs filled `s` when it returned 0.
    (rc == 0).then(|| unsafe { s.assume_init() }).map(|s| s.f_bavail * s.f_frsize)
}

/// Fails when `dir`'s filesystem has fewer than `needed` bytes free; `what` names the output.
pub fn check_space(dir: &Path, needed: u64, what: &str) -> Result<()> {
    match available_bytes(dir) {
        Some(free) if free < needed => Err(Error::Config(format!(
            "{}: {what} needs about {} of disk space, only {} is free there",
            dir.display(),
            size_text(needed),
            size_text(free)
        ))),
        _ => Ok(()),
    }
}

/// A byte count in the largest unit that keeps it ≥ 1 (B, KB, MB, GB, TB; powers of 1000).
pub fn size_text(bytes: u64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}
