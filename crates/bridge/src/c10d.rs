//! PyTorch's distributed engine (c10d): a TCPStore for rendezvous and a Gloo process group (with NCCL
//! for CUDA tensors where built) with all-reduce, broadcast, all-gather and barrier; every call is
//! bounded by a timeout and every failure is an error message, never a hang (docs/distributed.md).
use std::ffi::{c_char, c_void, CStr, CString};
use std::os::raw::c_int;

#[repr(C)]
struct RawStore {
    _private: [u8; 0],
}
#[repr(C)]
struct RawGroup {
    _private: [u8; 0],
}
#[repr(C)]
struct RawGradSync {
    _private: [u8; 0],
}

extern "C" {
    fn rcb_store_new(
        host: *const c_char,
        port: c_int,
        is_server: c_int,
        world: c_int,
        timeout_ms: i64,
        out: *mut *mut RawStore,
    ) -> *mut c_char;
    fn rcb_store_free(s: *mut RawStore);
    fn rcb_quiet_c10_log();
    fn rcb_store_add(s: *mut RawStore, key: *const c_char, delta: i64, value: *mut i64) -> *mut c_char;
    fn rcb_store_set(s: *mut RawStore, key: *const c_char, bytes: *const c_char, len: usize) -> *mut c_char;
    fn rcb_store_get(
        s: *mut RawStore,
        key: *const c_char,
        data: *mut c_void,
        got: extern "C" fn(*mut c_void, *const c_char, usize),
    ) -> *mut c_char;
    fn rcb_group_new(
        s: *mut RawStore,
        hostname: *const c_char,
        rank: c_int,
        world: c_int,
        timeout_ms: i64,
        out: *mut *mut RawGroup,
    ) -> *mut c_char;
    fn rcb_group_free(g: *mut RawGroup);
    fn rcb_has_nccl() -> c_int;
    fn rcb_group_add_nccl(g: *mut RawGroup, rank: c_int, world: c_int) -> *mut c_char;
    fn rcb_cuda_uuid(device: c_int, out: *mut u8) -> *mut c_char;
    fn rcb_allreduce_sum(g: *mut RawGroup, tensor: *mut c_void) -> *mut c_char;
    fn rcb_broadcast(g: *mut RawGroup, tensor: *mut c_void, root: c_int) -> *mut c_char;
    fn rcb_allgather(g: *mut RawGroup, tensor: *mut c_void, outs: *mut *mut c_void, world: c_int) -> *mut c_char;
    fn rcb_barrier(g: *mut RawGroup) -> *mut c_char;
    fn rcb_sync_batch_norm(
        g: *mut RawGroup,
        x: *mut c_void,
        weight: *mut c_void,
        bias: *mut c_void,
        running_mean: *mut c_void,
        running_var: *mut c_void,
        eps: f64,
        momentum: f64,
        out: *mut *mut c_void,
    ) -> *mut c_char;
    fn rcb_take_backward_failure(g: *mut RawGroup) -> *mut c_char;
    fn rcb_grad_sync_new(
        g: *mut RawGroup,
        params: *mut *mut c_void,
        n: usize,
        first_bytes: usize,
        bucket_bytes: usize,
        out: *mut *mut RawGradSync,
    ) -> *mut c_char;
    fn rcb_grad_sync_arm(s: *mut RawGradSync);
    fn rcb_grad_sync_finish(s: *mut RawGradSync, world: c_int) -> *mut c_char;
    fn rcb_grad_sync_free(s: *mut RawGradSync);
    fn rcb_grad_sync_counts(s: *mut RawGradSync, buckets: *mut usize, early: *mut usize);
    fn free(p: *mut c_void);
}

/// The bridge's error message (freed here), or Ok.
fn check(err: *mut c_char) -> Result<(), String> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: a malloc'ed NUL-terminated message from the bridge, freed once here.
    unsafe {
        let m = CStr::from_ptr(err).to_string_lossy().into_owned();
        free(err as *mut c_void);
        Err(m)
    }
}

fn c_string(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{s:?} holds a NUL byte"))
}

/// Stops c10's own warning and error lines on stderr: every failure comes back as one message.
pub fn quiet_c10_log() {
    // SAFETY: sets c10's log-level flag, an int.
    unsafe { rcb_quiet_c10_log() }
}

/// A client of (on rank 0, also the server of) a c10d TCPStore.
pub struct Store {
    raw: *mut RawStore,
}

// SAFETY: c10d's TCPStore client serialises its operations on its socket with its own lock.
unsafe impl Send for Store {}
unsafe impl Sync for Store {}

impl Store {
    /// Connects to the store at `host:port` (hosting it when `server`); with `world` > 0, waits up to
    /// `timeout_ms` for that many clients, as torchrun's static rendezvous does.
    pub fn connect(host: &str, port: u16, server: bool, world: usize, timeout_ms: u64) -> Result<Store, String> {
        let host = c_string(host)?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: the host string outlives the call, which writes `raw` only on success.
        check(unsafe {
            rcb_store_new(host.as_ptr(), port as c_int, server as c_int, world as c_int, timeout_ms as i64, &mut raw)
        })?;
        Ok(Store { raw })
    }

    /// Adds `delta` to the counter `key` and returns its new value.
    pub fn add(&self, key: &str, delta: i64) -> Result<i64, String> {
        let key = c_string(key)?;
        let mut value = 0i64;
        // SAFETY: a live store; the key outlives the call.
        check(unsafe { rcb_store_add(self.raw, key.as_ptr(), delta, &mut value) })?;
        Ok(value)
    }

    /// Sets `key` to `value`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        let key = c_string(key)?;
        // SAFETY: a live store; the key and bytes outlive the call.
        check(unsafe { rcb_store_set(self.raw, key.as_ptr(), value.as_ptr() as *const c_char, value.len()) })
    }

    /// Waits (up to the store's timeout) for `key` and returns its value.
    pub fn get(&self, key: &str) -> Result<Vec<u8>, String> {
        extern "C" fn got(data: *mut c_void, bytes: *const c_char, len: usize) {
            // SAFETY: `data` is the Vec below; `bytes` holds `len` bytes for this call.
            unsafe { (*(data as *mut Vec<u8>)).extend_from_slice(std::slice::from_raw_parts(bytes as *const u8, len)) }
        }
        let key = c_string(key)?;
        let mut out: Vec<u8> = Vec::new();
        // SAFETY: a live store; `got` only appends to `out`.
        check(unsafe { rcb_store_get(self.raw, key.as_ptr(), &mut out as *mut _ as *mut c_void, got) })?;
        Ok(out)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // SAFETY: made by rcb_store_new, freed once.
        unsafe { rcb_store_free(self.raw) }
    }
}

/// Whether this build can add NCCL to a group (a CUDA libtorch, built with CUDA's and NCCL's headers).
pub fn has_nccl() -> bool {
    // SAFETY: reads a constant.
    unsafe { rcb_has_nccl() != 0 }
}

/// The UUID of CUDA device `device`, which tells whether two ranks share a GPU (builds with NCCL only).
pub fn cuda_uuid(device: usize) -> Result<[u8; 16], String> {
    let mut out = [0u8; 16];
    // SAFETY: the bridge writes 16 bytes into `out` on success.
    check(unsafe { rcb_cuda_uuid(device as c_int, out.as_mut_ptr()) })?;
    Ok(out)
}

/// A Gloo process group of `world` ranks, to which NCCL may be added for CUDA tensors.
pub struct Group {
    raw: *mut RawGroup,
    pub rank: usize,
    pub world: usize,
}

// SAFETY: c10d process groups queue collectives under their own lock and run them on Gloo's threads.
unsafe impl Send for Group {}
unsafe impl Sync for Group {}

impl Group {
    /// Joins the group over `store`, binding Gloo to the interface GLOO_SOCKET_IFNAME names, else to
    /// the address `hostname` resolves to (empty: this machine's name); collectives wait at most `timeout_ms`.
    pub fn new(store: &Store, hostname: &str, rank: usize, world: usize, timeout_ms: u64) -> Result<Group, String> {
        let hostname = c_string(hostname)?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: a live store (the group keeps its own reference); the string outlives the call.
        check(unsafe {
            rcb_group_new(store.raw, hostname.as_ptr(), rank as c_int, world as c_int, timeout_ms as i64, &mut raw)
        })?;
        Ok(Group { raw, rank, world })
    }

    /// From now on, collectives on CUDA tensors go over NCCL (communicators form on first use);
    /// those on CPU tensors, and the barrier, stay on Gloo.
    pub fn add_nccl(&self) -> Result<(), String> {
        // SAFETY: a live group, not yet used by any collective on CUDA tensors.
        check(unsafe { rcb_group_add_nccl(self.raw, self.rank as c_int, self.world as c_int) })
    }

    /// Sums `t` over the ranks, in place.
    pub fn all_reduce_sum(&self, t: &tch::Tensor) -> Result<(), String> {
        // SAFETY: a live group and tensor; c10d writes the sum into the tensor's storage.
        check(unsafe { rcb_allreduce_sum(self.raw, t.as_ptr() as *mut c_void) })
    }

    /// Overwrites `t` with rank `root`'s `t`.
    pub fn broadcast(&self, t: &tch::Tensor, root: usize) -> Result<(), String> {
        // SAFETY: as in all_reduce_sum.
        check(unsafe { rcb_broadcast(self.raw, t.as_ptr() as *mut c_void, root as c_int) })
    }

    /// Every rank's `t` (same shape everywhere), in rank order.
    pub fn all_gather(&self, t: &tch::Tensor) -> Result<Vec<tch::Tensor>, String> {
        let outs: Vec<tch::Tensor> = (0..self.world).map(|_| t.empty_like()).collect();
        let mut ptrs: Vec<*mut c_void> = outs.iter().map(|o| o.as_ptr() as *mut c_void).collect();
        // SAFETY: `world` live output tensors of t's shape, written by c10d.
        check(unsafe { rcb_allgather(self.raw, t.as_ptr() as *mut c_void, ptrs.as_mut_ptr(), self.world as c_int) })?;
        Ok(outs)
    }

    /// `x` (N×C×…) batch-normalised in training mode over every rank's batch, with one all-gather
    /// forward and one all-reduce backward (SyncBN); the running statistics are updated in place. A
    /// failure in the backward pass is kept for [`Group::take_backward_failure`], the input's
    /// gradient then being zero.
    pub fn sync_batch_norm(
        &self,
        x: &tch::Tensor,
        affine: Option<(&tch::Tensor, &tch::Tensor)>,
        running: (&tch::Tensor, &tch::Tensor),
        eps: f64,
        momentum: f64,
    ) -> Result<tch::Tensor, String> {
        let ptr = |t: &tch::Tensor| t.as_ptr() as *mut c_void;
        let (w, b) = affine.map_or((std::ptr::null_mut(), std::ptr::null_mut()), |(w, b)| (ptr(w), ptr(b)));
        let mut out = std::ptr::null_mut();
        // SAFETY: a live group and live tensors (or null for no affine part); on success `out` is a
        // new at::Tensor that we own.
        check(unsafe {
            rcb_sync_batch_norm(self.raw, ptr(x), w, b, ptr(running.0), ptr(running.1), eps, momentum, &mut out)
        })?;
        // SAFETY: `out` was allocated by the bridge as an at::Tensor and is owned by nobody else.
        Ok(unsafe { tch::Tensor::from_ptr(out as *mut torch_sys::C_tensor) })
    }

    /// The first failure of a backward-pass all-reduce since the last call, as an error; clears it.
    pub fn take_backward_failure(&self) -> Result<(), String> {
        // SAFETY: a live group.
        check(unsafe { rcb_take_backward_failure(self.raw) })
    }

    /// Returns once every rank has reached it.
    pub fn barrier(&self) -> Result<(), String> {
        // SAFETY: a live group.
        check(unsafe { rcb_barrier(self.raw) })
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: made by rcb_group_new, freed once.
        unsafe { rcb_group_free(self.raw) }
    }
}

/// Gradient averaging overlapped with the backward pass, as DDP's Reducer does it: hooks copy each
/// parameter's gradient into its bucket as autograd computes it, and a full bucket is all-reduced
/// at once, asynchronously. It must not outlive the group it was made from.
pub struct GradSync {
    raw: *mut RawGradSync,
    world: usize,
    bytes: usize,
}

// SAFETY: the bridge guards the buckets with a mutex; hooks may run on autograd's threads.
unsafe impl Send for GradSync {}
unsafe impl Sync for GradSync {}

impl GradSync {
    /// Buckets `params` in reverse order (the first bucket up to `first_bytes`, the others up to
    /// `bucket_bytes`, DDP's 1 MB and 25 MB) and hooks their gradients.
    pub fn new(group: &Group, params: &[tch::Tensor], first_bytes: usize, bucket_bytes: usize) -> Result<Self, String> {
        let mut ptrs: Vec<*mut c_void> = params.iter().map(|p| p.as_ptr() as *mut c_void).collect();
        let mut raw = std::ptr::null_mut();
        // SAFETY: a live group and live tensors; the bridge keeps its own references to the tensors.
        check(unsafe {
            rcb_grad_sync_new(group.raw, ptrs.as_mut_ptr(), ptrs.len(), first_bytes, bucket_bytes, &mut raw)
        })?;
        let bytes = params.iter().filter(|p| p.requires_grad()).map(|p| p.numel() * p.kind().elt_size_in_bytes()).sum();
        Ok(GradSync { raw, world: group.world, bytes })
    }

    /// The number of buckets, and how many of them the last backward pass launched before it ended.
    pub fn counts(&self) -> (usize, usize) {
        let (mut buckets, mut early) = (0, 0);
        // SAFETY: a live sync; the bridge writes both counts.
        unsafe { rcb_grad_sync_counts(self.raw, &mut buckets, &mut early) };
        (buckets, early)
    }

    /// The bytes all-reduced per backward pass.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Collects the gradients of the backward pass that follows.
    pub fn arm(&self) {
        // SAFETY: a live sync.
        unsafe { rcb_grad_sync_arm(self.raw) }
    }

    /// After that backward pass: waits for every bucket and writes the means into the gradients.
    pub fn finish(&self) -> Result<(), String> {
        // SAFETY: a live sync.
        check(unsafe { rcb_grad_sync_finish(self.raw, self.world as c_int) })
    }
}

impl Drop for GradSync {
    fn drop(&mut self) {
        // SAFETY: made by rcb_grad_sync_new, freed once; this removes its hooks.
        unsafe { rcb_grad_sync_free(self.raw) }
    }
}
