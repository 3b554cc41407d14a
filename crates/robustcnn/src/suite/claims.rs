//! Claims on a suite's cells, so that many workers (N processes, a Slurm job array, several machines
//! on one shared filesystem) share one suite directory and train each cell once: a claim is a file
//! created atomically, kept fresh while its worker lives, and taken over once stale
//! (docs/distributed.md §4).
use crate::error::{Error, IoContext, Result};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// The folder of a suite directory that holds the claims.
pub const CLAIMS_DIR: &str = "claims";

/// How often a worker refreshes its claim: every 5 s, or a third of the stale time if that is shorter.
fn refresh_every() -> Duration {
    Duration::from_secs(5).min(stale_after() / 3)
}

/// A claim unrefreshed for this long belongs to a dead worker: ROBUSTCNN_CLAIM_STALE (seconds), else 60 s.
pub fn stale_after() -> Duration {
    std::env::var("ROBUSTCNN_CLAIM_STALE")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map_or(Duration::from_secs(60), Duration::from_secs_f64)
}

/// This worker's name: host, process id, and the Slurm array task when there is one.
pub fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string();
    let task = std::env::var("SLURM_ARRAY_TASK_ID").map(|t| format!(" (array task {t})")).unwrap_or_default();
    format!("{}:{}{task}", if host.is_empty() { "localhost" } else { &host }, std::process::id())
}

/// claims/<run name with / as __>.claim
fn claim_path(out: &Path, run: &str) -> PathBuf {
    out.join(CLAIMS_DIR).join(format!("{}.claim", file_name(run)))
}

fn file_name(run: &str) -> String {
    run.replace('/', "__")
}

/// Who holds a cell, and how long ago they last showed life.
#[derive(Clone, Debug, PartialEq)]
pub struct Holder {
    pub worker: String,
    pub idle: Duration,
}

impl Holder {
    /// Unrefreshed for longer than [`stale_after`], or held by a process of this machine that has ended.
    pub fn is_stale(&self) -> bool {
        self.idle > stale_after() || self.ended_here()
    }

    /// Whether the holder was a process on this machine that no longer exists.
    fn ended_here(&self) -> bool {
        let here = worker_name();
        let host = |w: &str| w.split(':').next().unwrap_or("").to_string();
        let pid =
            self.worker.split(':').nth(1).and_then(|p| p.split_whitespace().next()).and_then(|p| p.parse::<u32>().ok());
        match pid {
            Some(pid) if host(&self.worker) == host(&here) => !Path::new(&format!("/proc/{pid}")).exists(),
            _ => false,
        }
    }
}

/// The holder of `run`'s claim in the suite directory `out`, if it is claimed.
pub fn holder(out: &Path, run: &str) -> Option<Holder> {
    let path = claim_path(out, run);
    let worker = std::fs::read_to_string(&path).ok()?.trim().to_string();
    let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
    let idle = SystemTime::now().duration_since(modified).unwrap_or_default();
    Some(Holder { worker, idle })
}

/// A held claim: refreshed on its own thread, removed when dropped.
pub struct Claim {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    refresher: Option<JoinHandle<()>>,
}

/// What trying to claim a cell found.
pub enum Attempt {
    /// This worker holds the cell now (`took_over`: from a dead worker, named).
    Held { claim: Claim, took_over: Option<String> },
    /// A live worker holds it.
    Busy(Holder),
}

/// Claims `run` for `worker`: creates its claim file atomically, or takes over a stale one (the
/// stale file is renamed away first, which only one worker can do).
pub fn try_claim(out: &Path, run: &str, worker: &str) -> Result<Attempt> {
    let dir = out.join(CLAIMS_DIR);
    std::fs::create_dir_all(&dir).at(&dir)?;
    let path = claim_path(out, run);
    let mut took_over = None;
    if let Some(h) = holder(out, run) {
        if !h.is_stale() {
            return Ok(Attempt::Busy(h));
        }
        let aside = dir.join(format!("{}.stale-{}", file_name(run), std::process::id()));
        if std::fs::rename(&path, &aside).is_err() {
            // Another worker took it over first.
            return Ok(holder(out, run).map_or(Attempt::Busy(h.clone()), Attempt::Busy));
        }
        let _ = std::fs::remove_file(&aside);
        took_over = Some(h.worker);
    }
    match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(mut f) => {
            f.write_all(worker.as_bytes()).and_then(|_| f.sync_all()).at(&path)?;
            Ok(Attempt::Held { claim: Claim::keep_fresh(path), took_over })
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(match holder(out, run) {
            Some(h) => Attempt::Busy(h),
            None => Attempt::Busy(Holder { worker: "another worker".into(), idle: Duration::ZERO }),
        }),
        Err(e) => Err(Error::io(&path, e)),
    }
}

impl Claim {
    fn keep_fresh(path: PathBuf) -> Claim {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, file, every) = (stop.clone(), path.clone(), refresh_every());
        let refresher = std::thread::spawn(move || {
            let mut waited = Duration::ZERO;
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                waited += Duration::from_millis(100);
                if waited >= every {
                    waited = Duration::ZERO;
                    if let Ok(f) = OpenOptions::new().append(true).open(&file) {
                        let _ = f.set_modified(SystemTime::now());
                    }
                }
            }
        });
        Claim { path, stop, refresher: Some(refresher) }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.refresher.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}
