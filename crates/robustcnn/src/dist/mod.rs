//! Data-parallel jobs on PyTorch's distributed engine (c10d, Gloo): joining the job, the collectives
//! training and evaluation use, and naming a lost rank instead of hanging (docs/distributed.md).
pub mod launch;
mod liveness;
pub mod sync_bn;

pub use launch::Launch;

use crate::error::{Error, Result};
use liveness::Heartbeat;
use robustcnn_bridge::c10d::{GradSync, Group, Store};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tch::Tensor;

/// The job this process joined (like torch.distributed's default process group): evaluations shard
/// their batches over its ranks.
static JOB: OnceLock<Arc<Dist>> = OnceLock::new();

/// Makes `dist` this process's job, once; returns it.
pub fn set_job(dist: Dist) -> Arc<Dist> {
    let job = Arc::new(dist);
    let _ = JOB.set(job.clone());
    JOB.get().cloned().unwrap_or(job)
}

/// Whether this process writes results: a single process, or rank 0 of its job.
pub fn is_main() -> bool {
    JOB.get().is_none_or(|d| d.is_main())
}

/// The job this process joined, if any.
pub fn job() -> Option<Arc<Dist>> {
    JOB.get().cloned()
}

/// Gradient buckets are all-reduced in pieces of at most this many bytes (DDP's default bucket size).
const BUCKET_BYTES: usize = 25 << 20;
/// The first bucket of the overlapped averaging, launched early in the backward pass (DDP's 1 MB).
const FIRST_BUCKET_BYTES: usize = 1 << 20;

/// How long to wait for every rank to join, for any one collective, and for a silent rank's heartbeat.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub rendezvous: Duration,
    pub collective: Duration,
    /// After this long without a rank's heartbeat, the job ends naming it (`None`: never).
    pub heartbeat: Option<Duration>,
}

/// The shortest heartbeat timeout: four beats.
const SHORTEST_HEARTBEAT: f64 = 2.0;

impl Timeouts {
    /// ROBUSTCNN_DIST_TIMEOUT (seconds) for joining and for each collective, else 300 s and 1,800 s
    /// (torch's default); ROBUSTCNN_DIST_HEARTBEAT_TIMEOUT (seconds, 0 for never), else 60 s.
    pub fn from_env() -> Result<Timeouts> {
        let (rendezvous, collective) = match std::env::var("ROBUSTCNN_DIST_TIMEOUT") {
            Ok(v) => {
                let s: f64 = v.trim().parse().ok().filter(|s: &f64| *s > 0.0).ok_or_else(|| {
                    Error::Config(format!("ROBUSTCNN_DIST_TIMEOUT={v}: expected a number of seconds above 0"))
                })?;
                (Duration::from_secs_f64(s), Duration::from_secs_f64(s))
            }
            Err(_) => (Duration::from_secs(300), Duration::from_secs(1800)),
        };
        let heartbeat = match std::env::var("ROBUSTCNN_DIST_HEARTBEAT_TIMEOUT") {
            Ok(v) => match v.trim().parse::<f64>() {
                Ok(0.0) => None,
                Ok(s) if s >= SHORTEST_HEARTBEAT && s.is_finite() => Some(Duration::from_secs_f64(s)),
                _ => {
                    return Err(Error::Config(format!(
                        "ROBUSTCNN_DIST_HEARTBEAT_TIMEOUT={v}: expected a number of seconds, at least \
                         {SHORTEST_HEARTBEAT} (or 0 to never end a job for a silent rank)"
                    )))
                }
            },
            Err(_) => Some(Duration::from_secs(60)),
        };
        Ok(Timeouts { rendezvous, collective, heartbeat })
    }
}

/// Which process group carries the collectives on CUDA tensors (those on CPU tensors are always Gloo's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// NCCL when this build has it and a GPU is visible, else Gloo: torch.distributed's default.
    Auto,
    Gloo,
    Nccl,
}

impl Backend {
    /// ROBUSTCNN_DIST_BACKEND: auto (the default), gloo or nccl.
    pub fn from_env() -> Result<Backend> {
        match std::env::var("ROBUSTCNN_DIST_BACKEND").ok().filter(|v| !v.is_empty()).as_deref() {
            None | Some("auto") => Ok(Backend::Auto),
            Some("gloo") => Ok(Backend::Gloo),
            Some("nccl") => Ok(Backend::Nccl),
            Some(other) => Err(Error::Config(format!("ROBUSTCNN_DIST_BACKEND={other}: expected auto, gloo or nccl"))),
        }
    }

    /// Whether NCCL joins the group: always for nccl (an error where it cannot), where it can for auto.
    fn nccl(self) -> Result<bool> {
        let built = robustcnn_bridge::c10d::has_nccl();
        let gpu = tch::Cuda::is_available();
        match self {
            Backend::Gloo => Ok(false),
            Backend::Auto => Ok(built && gpu),
            Backend::Nccl if !built => Err(Error::Config(
                "ROBUSTCNN_DIST_BACKEND=nccl: this robustcnn was built without NCCL (a CPU libtorch); \
                 build it with ROBUSTCNN_LIBTORCH=cuda ./dev.sh on a machine with CUDA (docs/distributed.md)"
                    .into(),
            )),
            Backend::Nccl if !gpu => {
                Err(Error::Config("ROBUSTCNN_DIST_BACKEND=nccl: no CUDA GPU is visible to this rank".into()))
            }
            Backend::Nccl => Ok(true),
        }
    }
}

/// A joined job: this rank's process group and the store its ranks met at.
pub struct Dist {
    pub launch: Launch,
    /// Whether NCCL carries the collectives on CUDA tensors.
    nccl: bool,
    group: Group,
    store: Store,
    heartbeat: std::sync::Mutex<Option<Heartbeat>>,
    /// The first collective that failed where no error could be returned (a SyncBN forward), for
    /// the next gradient averaging to report.
    failed: std::sync::Mutex<Option<Error>>,
    /// Agreements made so far ([`Dist::agree`]).
    agreements: std::sync::atomic::AtomicU64,
    /// Nanoseconds spent averaging gradients and bytes averaged, since the job began (for `bench`).
    averaging: (std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64),
}

impl std::fmt::Debug for Dist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rank {} of {}", self.launch.rank, self.launch.world)
    }
}

impl Dist {
    /// Joins the job `launch` describes: rank 0 hosts the store at MASTER_ADDR:MASTER_PORT, the others
    /// connect; then the Gloo group forms.
    pub fn join(launch: Launch, t: Timeouts) -> Result<Dist> {
        Dist::join_over(launch, t, Backend::from_env()?)
    }

    /// As [`Dist::join`], with `backend` for the collectives on CUDA tensors.
    pub fn join_over(launch: Launch, t: Timeouts, backend: Backend) -> Result<Dist> {
        robustcnn_bridge::c10d::quiet_c10_log();
        let nccl = backend.nccl()?;
        let l = &launch;
        let ms = t.rendezvous.as_millis() as u64;
        let store = Store::connect(&l.master_addr, l.master_port, l.rank == 0, l.world, ms)
            .map_err(|e| rendezvous_error(l, t.rendezvous, &e))?;
        let local = matches!(l.master_addr.as_str(), "127.0.0.1" | "localhost" | "::1");
        let group =
            Group::new(&store, if local { "127.0.0.1" } else { "" }, l.rank, l.world, t.collective.as_millis() as u64)
                .map_err(|e| rendezvous_error(l, t.rendezvous, &e))?;
        if nccl {
            group.add_nccl().map_err(|e| Error::Distributed(format!("cannot add NCCL to the process group: {e}")))?;
        }
        let heartbeat = Heartbeat::start(l, t.heartbeat).map_err(|e| rendezvous_error(l, t.rendezvous, &e))?;
        Ok(Dist {
            launch,
            nccl,
            group,
            store,
            heartbeat: std::sync::Mutex::new(Some(heartbeat)),
            failed: std::sync::Mutex::new(None),
            agreements: Default::default(),
            averaging: Default::default(),
        })
    }

    /// Ends this rank's part: every rank meets once more, still beating (so that a rank lost on the way
    /// is named, not waited for), then the heartbeat stops.
    pub fn finish(&self) -> Result<()> {
        self.barrier()?;
        if let Ok(mut h) = self.heartbeat.lock() {
            h.take();
        }
        Ok(())
    }

    /// The process group that carries the collectives on tensors of `device`: "NCCL" or "Gloo".
    pub fn backend_for(&self, device: tch::Device) -> &'static str {
        if self.nccl && device.is_cuda() {
            "NCCL"
        } else {
            "Gloo"
        }
    }

    pub fn rank(&self) -> usize {
        self.launch.rank
    }

    pub fn world(&self) -> usize {
        self.launch.world
    }

    /// Rank 0 writes files and prints; the others only compute.
    pub fn is_main(&self) -> bool {
        self.launch.rank == 0
    }

    /// `cuda` in a job means the local rank's own GPU: `cuda:LOCAL_RANK` as under torchrun, or `cuda:0`
    /// where the launcher showed each rank only GPUs of its own (srun --gpus-per-task). Ranks never
    /// share it; under NCCL, neither may ranks given `cuda:N` explicitly.
    pub fn local_device(&self, device: &str) -> Result<String> {
        if device == "cuda" {
            return self.own_gpu();
        }
        match device.strip_prefix("cuda:").and_then(|i| i.parse::<usize>().ok()) {
            Some(index) if self.nccl => {
                let uuid = robustcnn_bridge::c10d::cuda_uuid(index)
                    .map_err(|e| Error::Config(format!("--device {device}: cannot query the GPU: {e}")))?;
                if let Some((a, b)) = self.ranks_sharing(uuid)? {
                    return Err(Error::Config(format!(
                        "ranks {a} and {b} share one GPU ({device} on rank {}), which NCCL refuses: start one rank \
                         per GPU (--device cuda), or set ROBUSTCNN_DIST_BACKEND=gloo",
                        self.rank()
                    )));
                }
            }
            _ => {}
        }
        Ok(device.to_string())
    }

    /// `--device cuda`: this rank's GPU, told apart from the other ranks' by its UUID where this build
    /// can read one (with NCCL); elsewhere `cuda:LOCAL_RANK`, torchrun's rule alone.
    fn own_gpu(&self) -> Result<String> {
        let gpus = tch::Cuda::device_count() as usize;
        let local = self.launch.local_rank;
        let advice = format!(
            "start one rank per GPU (torchrun --nproc-per-node {}), or give each task its own (srun --gpus-per-task 1)",
            gpus.max(1)
        );
        let none = || {
            Error::Config(format!(
                "--device cuda: local rank {local} has no GPU of its own ({gpus} visible to it); {advice}"
            ))
        };
        let index = own_gpu_index(local, gpus).ok_or_else(none)?;
        let device = format!("cuda:{index}");
        let Ok(uuid) = robustcnn_bridge::c10d::cuda_uuid(index) else {
            return if index == local { Ok(device) } else { Err(none()) };
        };
        match self.ranks_sharing(uuid)? {
            Some((a, b)) => Err(Error::Config(format!(
                "--device cuda: ranks {a} and {b} would share one GPU ({device} on rank {}, {gpus} visible to it), \
                 so one of them has no GPU of its own; {advice}",
                self.rank()
            ))),
            None => Ok(device),
        }
    }

    /// The first two ranks whose GPUs are one, when this rank runs on the GPU of `uuid`: every rank's
    /// GPU UUID, gathered over Gloo. NCCL itself would say only "invalid usage".
    fn ranks_sharing(&self, uuid: [u8; 16]) -> Result<Option<(usize, usize)>> {
        let halves = [&uuid[..8], &uuid[8..]].map(|h| i64::from_le_bytes(h.try_into().unwrap_or_default()));
        let all = self.gather(&Tensor::from_slice(&halves))?;
        let uuids: Vec<Vec<i64>> = all.iter().map(|t| Vec::<i64>::try_from(t).unwrap_or_default()).collect();
        Ok(first_sharing(&uuids))
    }

    /// A failed collective as one line naming the rank(s) that stopped, when that can be told.
    fn lost(&self, what: &str, cause: String) -> Error {
        let who = liveness::stopped_ranks(&self.store, &self.launch);
        Error::Distributed(format!("{what} failed on rank {}: {who} ({})", self.launch.rank, gloo_cause(&cause)))
    }

    /// Fails on every rank unless all ranks pass the same `value` for `what` (their config, say).
    pub fn agree(&self, what: &str, value: &str) -> Result<()> {
        // Every rank agrees in the same order, so the count keeps one agreement's keys from the
        // last one's (a suite agrees on each run's config).
        let n = self.agreements.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let key = |r: usize| format!("agree/{n}/{what}/{r}");
        self.store.set(&key(self.rank()), value.as_bytes()).map_err(|e| self.lost(what, e))?;
        let ranks: Vec<usize> = if self.is_main() { (1..self.world()).collect() } else { vec![0] };
        for r in ranks {
            let other = self.store.get(&key(r)).map_err(|e| self.lost(what, e))?;
            if other != value.as_bytes() {
                let differ = if self.is_main() { r } else { self.rank() };
                return Err(Error::Distributed(format!(
                    "rank {differ}'s {what} differs from rank 0's: every rank must be started with the same command line"
                )));
            }
        }
        // Rank 0 has compared everyone; the others wait for its verdict.
        let verdict = format!("agree/{n}/{what}/ok");
        if self.is_main() {
            self.store.set(&verdict, b"1").map_err(|e| self.lost(what, e))?;
        } else {
            self.store.get(&verdict).map_err(|e| self.lost(what, e))?;
        }
        Ok(())
    }

    /// Sums `t` over the ranks, in place.
    pub fn sum_(&self, t: &Tensor) -> Result<()> {
        self.group.all_reduce_sum(t).map_err(|e| self.lost("all-reduce", e))
    }

    /// Sums small numbers over the ranks (counts, flags), exactly, in f64.
    pub fn sum_f64(&self, values: &[f64]) -> Result<Vec<f64>> {
        let t = Tensor::from_slice(values);
        self.sum_(&t)?;
        Ok(Vec::<f64>::try_from(&t).unwrap_or_default())
    }

    /// Whether `flag` is set on any rank.
    pub fn any(&self, flag: bool) -> Result<bool> {
        Ok(self.sum_f64(&[flag as u8 as f64])?[0] > 0.0)
    }

    /// Overwrites every tensor with rank 0's (initial weights, buffers).
    pub fn broadcast_from_main(&self, tensors: &[Tensor]) -> Result<()> {
        tch::no_grad(|| {
            for t in tensors {
                self.group.broadcast(t, 0).map_err(|e| self.lost("broadcast", e))?;
            }
            Ok(())
        })
    }

    /// Every rank's `t` (same shape on each), in rank order.
    pub fn gather(&self, t: &Tensor) -> Result<Vec<Tensor>> {
        self.group.all_gather(t).map_err(|e| self.lost("all-gather", e))
    }

    /// `x` batch-normalised in training mode over every rank's batch (SyncBN, docs/distributed.md §2).
    pub fn batch_norm_over_ranks(
        &self,
        x: &Tensor,
        affine: Option<(&Tensor, &Tensor)>,
        running: (&Tensor, &Tensor),
        eps: f64,
        momentum: f64,
    ) -> Result<Tensor> {
        self.group.sync_batch_norm(x, affine, running, eps, momentum).map_err(|e| self.lost("SyncBN all-gather", e))
    }

    /// Keeps the failure of a collective that could not return it, for the next gradient averaging.
    pub fn record_failure(&self, e: Error) {
        if let Ok(mut f) = self.failed.lock() {
            f.get_or_insert(e);
        }
    }

    /// Returns once every rank is here.
    pub fn barrier(&self) -> Result<()> {
        self.group.barrier().map_err(|e| self.lost("barrier", e))
    }

    /// Hooks the gradients of `params` (in the order the model made them) for
    /// [`Dist::backward_averaged`], in buckets of `bytes` (first, rest; default DDP's 1 MB, 25 MB).
    pub fn grad_sync(&self, params: &[Tensor], bytes: Option<(usize, usize)>) -> Result<GradSync> {
        let (first, rest) = bytes.unwrap_or((FIRST_BUCKET_BYTES, BUCKET_BYTES));
        GradSync::new(&self.group, params, first, rest)
            .map_err(|e| Error::Distributed(format!("cannot hook the gradients for averaging: {e}")))
    }

    /// The backward pass of `loss`, each gradient then being its mean over the ranks. Buckets are
    /// all-reduced while the backward pass goes on, as DDP does (docs/distributed.md §2); the time
    /// recorded is what the step waits for after it.
    pub fn backward_averaged(&self, sync: &GradSync, loss: &Tensor) -> Result<()> {
        self.take_failures()?;
        sync.arm();
        loss.backward();
        let started = std::time::Instant::now();
        sync.finish().map_err(|e| self.lost("all-reduce", e))?;
        self.take_failures()?;
        self.record_averaging(started, sync.bytes());
        Ok(())
    }

    /// A failure kept from a collective that could not return it (SyncBN's, in the backward pass).
    fn take_failures(&self) -> Result<()> {
        if let Some(e) = self.failed.lock().ok().and_then(|mut f| f.take()) {
            return Err(e);
        }
        self.group.take_backward_failure().map_err(|e| self.lost("SyncBN all-reduce in the backward pass", e))
    }

    fn record_averaging(&self, started: std::time::Instant, bytes: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.averaging.0.fetch_add(started.elapsed().as_nanos() as u64, Relaxed);
        self.averaging.1.fetch_add(bytes as u64, Relaxed);
    }

    /// Replaces each gradient by its mean over the ranks after the backward pass, flattened into
    /// buckets of at most 25 MB (docs/distributed.md §2; `bench` compares it with the overlapped way).
    pub fn average_grads(&self, grads: &[Tensor]) -> Result<()> {
        self.take_failures()?;
        let started = std::time::Instant::now();
        let world = self.world() as f64;
        tch::no_grad(|| {
            let mut start = 0;
            while start < grads.len() {
                let (mut end, mut bytes) = (start, 0usize);
                while end < grads.len() && (end == start || bytes + size_of(&grads[end]) <= BUCKET_BYTES) {
                    bytes += size_of(&grads[end]);
                    end += 1;
                }
                let part = &grads[start..end];
                let mut flat = Tensor::cat(&part.iter().map(|g| g.reshape([-1])).collect::<Vec<_>>(), 0);
                self.sum_(&flat)?;
                let _ = flat.g_div_scalar_(world);
                let mut offset = 0i64;
                for g in part {
                    let n = g.numel() as i64;
                    g.shallow_clone().copy_(&flat.narrow(0, offset, n).view_as(g));
                    offset += n;
                }
                start = end;
            }
            self.record_averaging(started, grads.iter().map(size_of).sum());
            Ok::<(), Error>(())
        })
    }

    /// Seconds spent averaging gradients and bytes averaged so far.
    pub fn averaging_totals(&self) -> (f64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.averaging.0.load(Relaxed) as f64 * 1e-9, self.averaging.1.load(Relaxed))
    }
}

/// The GPU `--device cuda` names for local rank `local` seeing `gpus`: its own index as under torchrun,
/// else the first, which is its own only if the launcher bound GPUs per task (checked by UUID); `None` without GPUs.
fn own_gpu_index(local: usize, gpus: usize) -> Option<usize> {
    match gpus {
        0 => None,
        _ if local < gpus => Some(local),
        _ => Some(0),
    }
}

/// The first two ranks (in order) whose identifiers are equal, if any.
fn first_sharing<T: PartialEq>(ids: &[T]) -> Option<(usize, usize)> {
    (0..ids.len()).find_map(|b| (0..b).find(|&a| ids[a] == ids[b]).map(|a| (a, b)))
}

/// Gloo's message without its source location and advice: "Read error [127.0.0.1]:44713: Connection
/// reset by peer".
fn gloo_cause(cause: &str) -> String {
    let line = crate::error::one_line(cause);
    let line = match (line.starts_with('['), line.find("] ")) {
        (true, Some(end)) => line[end + 2..].to_string(),
        _ => line,
    };
    match line.find(". ") {
        Some(end) => line[..end].to_string(),
        None => line,
    }
}

fn size_of(t: &Tensor) -> usize {
    t.numel() * t.kind().elt_size_in_bytes()
}

/// One line for a rendezvous that failed: the port taken, or ranks that did not join in time.
fn rendezvous_error(l: &Launch, wait: Duration, cause: &str) -> Error {
    let c = cause.to_lowercase();
    let at = format!("{}:{}", l.master_addr, l.master_port);
    let what = if c.contains("eaddrinuse") || c.contains("address already in use") {
        format!("rank 0 cannot listen on MASTER_PORT {}: the port is already in use on this machine (another job?); choose another MASTER_PORT", l.master_port)
    } else if c.contains("timed out") || c.contains("timeout") {
        format!(
            "not all {} ranks joined at {at} within {:.0} s (a rank never started, or MASTER_ADDR/MASTER_PORT differ between ranks; ROBUSTCNN_DIST_TIMEOUT sets the wait)",
            l.world,
            wait.as_secs_f64()
        )
    } else {
        format!("rank {} could not join the job at {at}: {}", l.rank, crate::error::one_line(cause))
    };
    Error::Distributed(what)
}

#[cfg(test)]
mod tests {
    use super::{first_sharing, own_gpu_index};

    #[test]
    fn cuda_is_the_local_ranks_gpu_or_the_first_of_a_task_bound_few() {
        // torchrun --nproc-per-node 4 on four GPUs: each local rank its own index.
        assert_eq!((0..4).map(|l| own_gpu_index(l, 4)).collect::<Vec<_>>(), [0, 1, 2, 3].map(Some));
        // srun --gpus-per-task 1: every task sees one GPU, its own, as cuda:0.
        assert_eq!(own_gpu_index(3, 1), Some(0));
        assert_eq!(own_gpu_index(0, 0), None);
    }

    #[test]
    fn ranks_sharing_a_gpu_are_named_in_order() {
        assert_eq!(first_sharing(&[[1, 2], [3, 4], [5, 6]]), None);
        assert_eq!(first_sharing(&[[1, 2], [3, 4], [1, 2], [3, 4]]), Some((0, 2)));
        assert_eq!(first_sharing(&[[7, 7], [1, 2], [1, 2]]), Some((1, 2)));
        assert_eq!(first_sharing::<[i64; 2]>(&[]), None);
    }
}
