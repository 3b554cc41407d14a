//! Telling which rank of a job stopped: each rank bumps a counter in the job's store twice a second.
//! Rank 0 watches every counter and ends the job when one stands still for the heartbeat timeout,
//! so that a stopped rank never leaves the others waiting in a collective that no socket error ends
//! (NCCL, or a paused process); after a failed collective, the counters name the rank lost
//! (docs/distributed.md).
use super::Launch;
use robustcnn_bridge::c10d::Store;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const BEAT: Duration = Duration::from_millis(500);
/// Set by rank 0 when it finds a rank lost; the other ranks read it and end too.
const LOST_FLAG: &str = "heartbeat/lost";
const LOST_LINE: &str = "heartbeat/lost-line";
const LOST_SEEN: &str = "heartbeat/lost-seen";
/// How long rank 0, which hosts the store, waits for the other ranks to read that a rank was lost.
const TELL_WAIT: Duration = Duration::from_secs(5);

const RUNNING: u8 = 0;
const STOP: u8 = 1;
/// Set by the beating thread as it returns.
const ENDED: u8 = 2;

fn key(rank: usize) -> String {
    format!("heartbeat/{rank}")
}

/// What the beating thread and the store's watchdog share.
struct Shared {
    state: AtomicU8,
    started: Instant,
    /// When the store last answered, in milliseconds since `started`.
    answered_ms: AtomicU64,
}

impl Shared {
    fn mark_answered(&self) {
        self.answered_ms.store(self.started.elapsed().as_millis() as u64, Ordering::SeqCst);
    }

    fn silent_for(&self) -> Duration {
        self.started.elapsed().saturating_sub(Duration::from_millis(self.answered_ms.load(Ordering::SeqCst)))
    }
}

/// This rank's heartbeat, on its own thread and store connection, until dropped. With a
/// timeout, that thread also watches the job (rank 0 every counter, the others rank 0's verdict), and
/// on the other ranks a watchdog ends the process when the store, which rank 0 hosts, stops answering.
pub struct Heartbeat {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Heartbeat {
    pub fn start(l: &Launch, timeout: Option<Duration>) -> Result<Heartbeat, String> {
        let store = Store::connect(&l.master_addr, l.master_port, false, 0, 10_000)?;
        store.add(&key(l.rank), 1)?;
        let shared =
            Arc::new(Shared { state: AtomicU8::new(RUNNING), started: Instant::now(), answered_ms: AtomicU64::new(0) });
        let mut threads = Vec::new();
        let (beating, rank) = (shared.clone(), l.rank);
        let mut watch = timeout.map(|t| Watch::new(l.rank, l.world, t));
        threads.push(std::thread::spawn(move || {
            beat(&store, rank, &beating, watch.as_mut());
            beating.state.store(ENDED, Ordering::SeqCst);
        }));
        if let (Some(t), true) = (timeout, l.rank != 0) {
            let watching = shared.clone();
            threads.push(std::thread::spawn(move || watch_the_store(&watching, t)));
        }
        Ok(Heartbeat { shared, threads })
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        let _ = self.shared.state.compare_exchange(RUNNING, STOP, Ordering::SeqCst, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The beating thread: bumps this rank's counter every beat and, watching, ends the process when a rank is lost.
fn beat(store: &Store, rank: usize, shared: &Shared, mut watch: Option<&mut Watch>) {
    loop {
        std::thread::sleep(BEAT);
        if shared.state.load(Ordering::SeqCst) == STOP {
            return;
        }
        if store.add(&key(rank), 1).is_ok() {
            shared.mark_answered();
            if let Some(line) = watch.as_deref_mut().and_then(|w| w.check(store)) {
                end_process(&line);
            }
        }
    }
}

/// Ranks other than 0: a store call to a paused rank 0 never returns, so this thread, which makes
/// none, ends the process once the store has been silent for `timeout`.
fn watch_the_store(shared: &Shared, timeout: Duration) {
    let mut last_round = Instant::now();
    while shared.state.load(Ordering::SeqCst) != ENDED {
        std::thread::sleep(BEAT);
        if last_round.elapsed() > timeout / 2 {
            shared.mark_answered(); // this process itself was paused
        }
        last_round = Instant::now();
        if shared.silent_for() >= timeout {
            end_process(&format!(
                "rank 0 was lost: the job's store, which it hosts, has not answered for {:.0} s{TIMEOUT_HINT}",
                timeout.as_secs_f64()
            ));
        }
    }
}

/// What the beating thread knows of the other ranks: on rank 0, the last change of every counter.
struct Watch {
    rank: usize,
    timeout: Duration,
    /// Per rank: its counter's last value and when it last changed.
    counters: Vec<(i64, Instant)>,
    last_round: Instant,
}

impl Watch {
    fn new(rank: usize, world: usize, timeout: Duration) -> Watch {
        let now = Instant::now();
        Watch { rank, timeout, counters: vec![(0, now); world], last_round: now }
    }

    /// One round of watching: the line to end this process with, when a rank was lost.
    fn check(&mut self, store: &Store) -> Option<String> {
        if self.rank != 0 {
            return (store.add(LOST_FLAG, 0).ok()? > 0).then(|| heard_from_rank_0(store));
        }
        let now = Instant::now();
        if now - self.last_round > self.timeout / 2 {
            // This process itself was paused (suspended, or starved): nobody's silence can be told.
            for c in self.counters.iter_mut() {
                c.1 = now;
            }
        }
        self.last_round = now;
        let lost = self.lost_ranks(store, now)?;
        let readers = self.counters.len() - 1 - lost.len();
        Some(tell_the_others(store, &lost_line(&lost, self.timeout), readers))
    }

    /// Rank 0: reads every other rank's counter; the ranks whose counter stood still for the timeout.
    fn lost_ranks(&mut self, store: &Store, now: Instant) -> Option<Vec<usize>> {
        for (r, c) in self.counters.iter_mut().enumerate().skip(1) {
            match store.add(&key(r), 0) {
                Ok(v) if v != c.0 => *c = (v, now),
                _ => {}
            }
        }
        let lost: Vec<usize> = (1..self.counters.len()).filter(|&r| now - self.counters[r].1 >= self.timeout).collect();
        (!lost.is_empty()).then_some(lost)
    }
}

const TIMEOUT_HINT: &str =
    " (its process is stopped, hung in the system, or gone; ROBUSTCNN_DIST_HEARTBEAT_TIMEOUT sets the wait)";

/// The line every rank ends with when rank 0 found `lost` silent.
fn lost_line(lost: &[usize], timeout: Duration) -> String {
    let names: Vec<String> = lost.iter().map(|r| r.to_string()).collect();
    let (who, was) = if lost.len() == 1 { ("rank", "was") } else { ("ranks", "were") };
    format!("{who} {} {was} lost: no heartbeat for {:.0} s{TIMEOUT_HINT}", names.join(", "), timeout.as_secs_f64())
}

/// Rank 0: publishes `line` and waits (briefly) until the `readers` ranks still working have read it,
/// since the store ends with rank 0's process.
fn tell_the_others(store: &Store, line: &str, readers: usize) -> String {
    if store.set(LOST_LINE, line.as_bytes()).and_then(|_| store.add(LOST_FLAG, 1)).is_ok() {
        let started = Instant::now();
        while started.elapsed() < TELL_WAIT {
            match store.add(LOST_SEEN, 0) {
                Ok(seen) if (seen as usize) < readers => std::thread::sleep(BEAT / 5),
                _ => break,
            }
        }
    }
    line.to_string()
}

/// A rank other than 0: reads the line rank 0 published and says it read it.
fn heard_from_rank_0(store: &Store) -> String {
    let line = store.get(LOST_LINE).map(|b| String::from_utf8_lossy(&b).into_owned());
    let _ = store.add(LOST_SEEN, 1);
    line.unwrap_or_else(|_| "rank 0 found a rank lost, and was lost itself before saying which".into())
}

/// Ends this process with `line` as its one error line, once no file is being written.
fn end_process(line: &str) -> ! {
    let _writing = crate::train::checkpoint::hold_writes();
    eprintln!("error: distributed: {line}");
    // SAFETY: _exit ends the process without running atexit handlers or destructors, which could
    // wait on the collective this rank's main thread is stuck in.
    unsafe { libc::_exit(1) }
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
