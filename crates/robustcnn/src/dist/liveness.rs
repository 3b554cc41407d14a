//! Telling which rank of a job stopped: each rank bumps a counter in the job's store every second, so
//! a rank whose counter stands still after a failed collective is the one lost (docs/distributed.md).
use super::Launch;
use robustcnn_bridge::c10d::Store;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

const BEAT: Duration = Duration::from_millis(500);

fn key(rank: usize) -> String {
    format!("heartbeat/{rank}")
}

/// This rank's heartbeat, on its own thread and store connection, until dropped.
pub struct Heartbeat {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    pub fn start(l: &Launch) -> Result<Heartbeat, String> {
        let store = Store::connect(&l.master_addr, l.master_port, false, 0, 10_000)?;
        store.add(&key(l.rank), 1)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, rank) = (stop.clone(), l.rank);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(BEAT);
                if store.add(&key(rank), 1).is_err() {
                    return;
                }
            }
        });
        Ok(Heartbeat { stop, thread: Some(thread) })
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Which ranks stopped beating, in words: their counters read twice, four beats apart.
pub fn stopped_ranks(store: &Store, l: &Launch) -> String {
    let read = || -> Option<Vec<i64>> { (0..l.world).map(|r| store.add(&key(r), 0).ok()).collect() };
    let Some(before) = read() else {
        return if l.rank == 0 {
            "the job's store stopped answering".into()
        } else {
            "rank 0 was lost (it hosts the job's store, which stopped answering)".into()
        };
    };
    std::thread::sleep(BEAT * 4);
    let Some(after) = read() else {
        return "rank 0 was lost (it hosts the job's store, which stopped answering)".into();
    };
    let stopped: Vec<String> =
        (0..l.world).filter(|&r| r != l.rank && after[r] == before[r]).map(|r| r.to_string()).collect();
    match stopped.len() {
        0 => {
            "no rank has stopped (a collective timed out: a rank is far slower than the others, or the network failed)"
                .into()
        }
        1 => format!("rank {} was lost (its process stopped)", stopped[0]),
        _ => format!("ranks {} were lost (their processes stopped)", stopped.join(", ")),
    }
}
