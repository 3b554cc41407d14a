//! glibc malloc settings for tensor work (BENCHMARKS.md, "Seed methods: step time").
//!
//! libtorch allocates every CPU tensor with `posix_memalign`. glibc's defaults give freed memory at
//! the top of the heap back to the system and hand some large blocks out as fresh mappings, so each
//! training step faults its activations' pages in again: 10–25 % of a ResNet-20 step on 2 cores, more
//! when two passes are alive at once (stability training). Keeping freed memory in the process stops
//! that; the price is that the process keeps its peak resident size until it exits.
use crate::error::{Error, Result};
use std::sync::OnceLock;

/// What [`keep_freed_memory`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MallocSetting {
    /// Large blocks come from the heap up to 32 MiB and freed memory stays in the process.
    KeepFreed,
    /// Left as the system has it: `ROBUSTCNN_MALLOC=system`, glibc tunables set, or not glibc.
    System,
}

/// Environment variables with which the user has already chosen malloc's behaviour.
const USER_SETTINGS: [&str; 4] =
    ["GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"];

/// Blocks up to this size come from the heap rather than a fresh mapping (glibc's largest allowed).
const MMAP_THRESHOLD: i32 = 32 << 20;

/// Whether the environment asks to leave malloc as the system has it: `ROBUSTCNN_MALLOC=system`
/// (`keep`, the default, keeps freed memory) or any of glibc's own malloc variables.
pub fn system_requested(var: impl Fn(&str) -> Option<String>) -> Result<bool> {
    let system = match var("ROBUSTCNN_MALLOC").as_deref() {
        None | Some("keep") => false,
        Some("system") => true,
        Some(other) => {
            return Err(Error::Config(format!("ROBUSTCNN_MALLOC={other}: expected `keep` (the default) or `system`")))
        }
    };
    Ok(system || USER_SETTINGS.iter().any(|k| var(k).is_some()))
}

/// Sets glibc's mmap and trim thresholds so freed tensor memory is reused without page faults, unless
/// the environment says otherwise; call once at start-up, before any thread allocates.
pub fn keep_freed_memory() -> Result<MallocSetting> {
    let setting = if system_requested(|k| std::env::var(k).ok())? { MallocSetting::System } else { set_thresholds() };
    Ok(*SETTING.get_or_init(|| setting))
}

static SETTING: OnceLock<MallocSetting> = OnceLock::new();

/// The setting this process runs with (the system's when [`keep_freed_memory`] was not called).
pub fn setting() -> MallocSetting {
    SETTING.get().copied().unwrap_or(MallocSetting::System)
}

impl std::fmt::Display for MallocSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MallocSetting::KeepFreed => "malloc keeps freed memory (ROBUSTCNN_MALLOC=system for glibc's defaults)",
            MallocSetting::System => "malloc as the system sets it",
        })
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_thresholds() -> MallocSetting {
    // SAFETY: mallopt only changes allocator parameters; both values are within glibc's limits.
    let ok = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
    };
    if ok {
        MallocSetting::KeepFreed
    } else {
        MallocSetting::System
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() -> MallocSetting {
    MallocSetting::System
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|p| p.0 == k).map(|p| p.1.to_string())
    }

    #[test]
    fn the_users_own_malloc_settings_win() {
        let system = |pairs: &[(&str, &str)]| system_requested(env(pairs)).unwrap();
        assert!(!system(&[]));
        assert!(!system(&[("ROBUSTCNN_MALLOC", "keep")]));
        assert!(system(&[("ROBUSTCNN_MALLOC", "system")]));
        assert!(system(&[("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0")]));
        assert!(system(&[("MALLOC_TRIM_THRESHOLD_", "131072")]));
    }

    #[test]
    fn an_unknown_choice_is_one_error_naming_the_variable() {
        let e = system_requested(env(&[("ROBUSTCNN_MALLOC", "sytem")])).unwrap_err().to_string();
        assert!(e.contains("ROBUSTCNN_MALLOC=sytem") && e.contains("`keep`") && e.contains("`system`"), "{e}");
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_both_thresholds() {
        assert_eq!(set_thresholds(), MallocSetting::KeepFreed);
    }
}
