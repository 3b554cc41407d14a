//! A small C++ bridge to the parts of libtorch that tch does not bind: autocast for every device type
//! (tch's `autocast` switches only CUDA's), so the CPU can run in bfloat16, pinned host memory and a
//! fused training-mode batch norm + ReLU (docs/precision.md); the unpickler that reads PyTorch's
//! `.pt` state dicts (docs/imported.md); and c10d's process groups (docs/distributed.md).
pub mod c10d;

use std::ffi::{c_char, c_void, CStr};
use std::os::raw::c_int;

extern "C" {
    fn rcb_pickle_state_dict(
        bytes: *const c_char,
        len: usize,
        data: *mut c_void,
        found: extern "C" fn(*mut c_void, *const c_char, *mut c_void),
    ) -> *mut c_char;
    fn free(p: *mut c_void);
}

extern "C" fn collect(data: *mut c_void, name: *const c_char, tensor: *mut c_void) {
    // SAFETY: `data` is the Vec passed by `pickle_state_dict`; `name` is a NUL-terminated string
    // valid for this call.
    let (list, name) = unsafe { (&mut *(data as *mut Vec<(String, *mut torch_sys::C_tensor)>), CStr::from_ptr(name)) };
    list.push((name.to_string_lossy().into_owned(), tensor as *mut torch_sys::C_tensor));
}

/// The tensors of a pickled state dict, by name, each a new libtorch tensor the caller owns
/// (wrap with `tch::Tensor::from_ptr`); or libtorch's error message.
pub fn pickle_state_dict(bytes: &[u8]) -> Result<Vec<(String, *mut torch_sys::C_tensor)>, String> {
    let mut list: Vec<(String, *mut torch_sys::C_tensor)> = Vec::new();
    // SAFETY: the bytes outlive the call; `collect` only pushes onto `list`.
    let err = unsafe {
        rcb_pickle_state_dict(bytes.as_ptr() as *const c_char, bytes.len(), &mut list as *mut _ as *mut c_void, collect)
    };
    if err.is_null() {
        return Ok(list);
    }
    // SAFETY: a malloc'ed NUL-terminated message from the bridge, freed once here, and the tensors
    // found before the error, each owned by nobody else.
    let message = unsafe {
        let m = CStr::from_ptr(err).to_string_lossy().into_owned();
        free(err as *mut c_void);
        for (_, t) in list {
            torch_sys::at_free(t);
        }
        m
    };
    Err(message)
}

extern "C" {
    fn rcb_pin_memory(tensor: *mut c_void, out: *mut *mut c_void) -> *mut c_char;
}

/// A copy of the CPU tensor `t` in page-locked memory (PyTorch's `pin_memory()`), from which copies
/// to a GPU run asynchronously; or libtorch's reason it cannot (no CUDA).
pub fn pinned(t: &tch::Tensor) -> Result<tch::Tensor, String> {
    let mut out = std::ptr::null_mut();
    // SAFETY: a live tensor; on success `out` is a new at::Tensor that we own.
    let err = unsafe { rcb_pin_memory(t.as_ptr() as *mut c_void, &mut out) };
    owned_or_message(out, err)
}

extern "C" {
    fn rcb_batch_norm_relu(
        x: *mut c_void,
        weight: *mut c_void,
        bias: *mut c_void,
        running_mean: *mut c_void,
        running_var: *mut c_void,
        eps: f64,
        momentum: f64,
        out: *mut *mut c_void,
    ) -> *mut c_char;
    #[allow(clippy::too_many_arguments)]
    fn rcb_batch_norm_add_relu(
        x: *mut c_void,
        s: *mut c_void,
        weight: *mut c_void,
        bias: *mut c_void,
        running_mean: *mut c_void,
        running_var: *mut c_void,
        eps: f64,
        momentum: f64,
        out: *mut *mut c_void,
    ) -> *mut c_char;
}

/// relu(batch_norm(x)) in training mode as one autograd function where `x` is a dense CPU float or
/// bfloat16 tensor (channels-last when 4-D), else libtorch's two operations (docs/precision.md,
/// "Fused batch norm and ReLU"); the running statistics are updated in place.
pub fn batch_norm_relu(
    x: &tch::Tensor,
    affine: (Option<&tch::Tensor>, Option<&tch::Tensor>),
    running: (&tch::Tensor, &tch::Tensor),
    eps: f64,
    momentum: f64,
) -> Result<tch::Tensor, String> {
    let (w, b) = affine_pointers(affine);
    let mut out = std::ptr::null_mut();
    // SAFETY: live tensors (or null for no affine part); on success `out` is a new at::Tensor that
    // we own.
    let err = unsafe { rcb_batch_norm_relu(ptr(x), w, b, ptr(running.0), ptr(running.1), eps, momentum, &mut out) };
    owned_or_message(out, err)
}

extern "C" {
    fn rcb_parallel_loop_threads() -> c_int;
}

/// How many threads a parallel loop of the bridge (the fused batch norm's) runs on: libtorch's
/// intra-op thread count when the bridge is built with OpenMP, as it must be.
pub fn parallel_loop_threads() -> i32 {
    // SAFETY: no arguments; the loop only reads libtorch's thread numbers.
    unsafe { rcb_parallel_loop_threads() }
}

/// relu(batch_norm(x) + s) in training mode, as one autograd function where `x` is a dense CPU float
/// or bfloat16 tensor, channels-last when 4-D, and `s` has its size and type (docs/precision.md,
/// "Fused batch norm and ReLU"); otherwise libtorch's batch_norm, add and relu. The running
/// statistics are updated in place.
pub fn batch_norm_add_relu(
    x: &tch::Tensor,
    s: &tch::Tensor,
    affine: (Option<&tch::Tensor>, Option<&tch::Tensor>),
    running: (&tch::Tensor, &tch::Tensor),
    eps: f64,
    momentum: f64,
) -> Result<tch::Tensor, String> {
    let (w, b) = affine_pointers(affine);
    let mut out = std::ptr::null_mut();
    // SAFETY: live tensors (or null for no affine part); on success `out` is a new at::Tensor that
    // we own.
    let err = unsafe {
        rcb_batch_norm_add_relu(ptr(x), ptr(s), w, b, ptr(running.0), ptr(running.1), eps, momentum, &mut out)
    };
    owned_or_message(out, err)
}

/// A live tensor as the bridge takes it.
fn ptr(t: &tch::Tensor) -> *mut c_void {
    t.as_ptr() as *mut c_void
}

/// γ and β as the bridge takes them, null for a norm without an affine part.
fn affine_pointers(affine: (Option<&tch::Tensor>, Option<&tch::Tensor>)) -> (*mut c_void, *mut c_void) {
    (affine.0.map_or(std::ptr::null_mut(), ptr), affine.1.map_or(std::ptr::null_mut(), ptr))
}

/// The bridge's new tensor `out`, or its error message `err` (freed here).
fn owned_or_message(out: *mut c_void, err: *mut c_char) -> Result<tch::Tensor, String> {
    if err.is_null() {
        // SAFETY: `out` was allocated by the bridge as an at::Tensor and is owned by nobody else.
        return Ok(unsafe { tch::Tensor::from_ptr(out as *mut torch_sys::C_tensor) });
    }
    Err(taken_message(err))
}

extern "C" {
    fn rcb_autocast_enabled(cuda: c_int) -> bool;
    fn rcb_autocast_dtype(cuda: c_int) -> c_int;
    fn rcb_autocast_set(cuda: c_int, enabled: bool, dtype: c_int);
    fn rcb_autocast_increment_nesting() -> c_int;
    fn rcb_autocast_decrement_nesting() -> c_int;
    fn rcb_autocast_clear_cache();
}

extern "C" {
    fn rcb_bf16_products_install() -> *mut c_char;
}

/// Replaces CPU autocast's bf16 `conv2d` and `linear` with fp32 products of bf16-rounded operands,
/// rounded to bf16, for the rest of the process (docs/precision.md, "CPUs without bf16 kernels").
pub fn install_cpu_bf16_products() -> Result<(), String> {
    // SAFETY: registers kernels with libtorch's dispatcher once; returns NULL or a malloc'ed message.
    let err = unsafe { rcb_bf16_products_install() };
    match err.is_null() {
        true => Ok(()),
        false => Err(taken_message(err)),
    }
}

/// The bridge's error message `err` (malloc'ed, NUL-terminated, not NULL), freed here.
fn taken_message(err: *mut c_char) -> String {
    // SAFETY: a malloc'ed NUL-terminated message from the bridge, freed once here.
    unsafe {
        let m = CStr::from_ptr(err).to_string_lossy().into_owned();
        free(err as *mut c_void);
        m
    }
}

/// Whether libtorch runs CPU bf16 convolutions on oneDNN here: its own test
/// (`mkldnn_bf16_device_check`) asks for AVX512 BW, VL and DQ, or AVX-NE-CONVERT. Elsewhere it
/// takes a scalar reference GEMM. Other architectures are left to libtorch (reported true).
pub fn cpu_runs_onednn_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let avx512 = std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512dq");
        // CPUID leaf 7, sub-leaf 1, EDX bit 5, where the CPU has leaf 7.
        let ne_convert =
            std::arch::x86_64::__cpuid(0).eax >= 7 && std::arch::x86_64::__cpuid_count(7, 1).edx & (1 << 5) != 0;
        avx512 || ne_convert
    }
    #[cfg(not(target_arch = "x86_64"))]
    true
}

/// Where libtorch has no fast CPU bf16 kernels ([`cpu_runs_onednn_bf16`]), autocast's bf16
/// convolutions and linear layers become fp32 products of bf16-rounded operands, rounded to bf16:
/// the same arithmetic, 10-15x faster (docs/precision.md, "CPUs without bf16 kernels"). Once per
/// process, before any CPU bf16 region is entered; if libtorch refused the kernels, its own slow
/// path stays.
fn use_fp32_products_where_libtorch_lacks_bf16() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if !cpu_runs_onednn_bf16() {
            let _ = install_cpu_bf16_products();
        }
    });
}

/// c10::ScalarType codes of the reduced precisions.
const BFLOAT16: c_int = 15;
const HALF: c_int = 5;

/// The reduced precision autocast runs its eligible operations (convolutions, matrix products) in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduced {
    BFloat16,
    Float16,
}

/// Autocast on for the CPU or CUDA until dropped; dropping restores the previous state and, when
/// this was the outermost region, clears the cache of cast weights, as `torch.autocast` does on exit
/// (so weights updated in between are cast afresh).
pub struct Autocast {
    cuda: c_int,
    was_enabled: bool,
    was_dtype: c_int,
}

impl Autocast {
    /// Enters an autocast region for the CPU (`cuda` false) or CUDA in `dtype`; the first CPU bf16
    /// region first installs the fp32 products where this CPU needs them.
    pub fn enter(cuda: bool, dtype: Reduced) -> Autocast {
        if !cuda && dtype == Reduced::BFloat16 {
            use_fp32_products_where_libtorch_lacks_bf16();
        }
        let cuda = cuda as c_int;
        let code = match dtype {
            Reduced::BFloat16 => BFLOAT16,
            Reduced::Float16 => HALF,
        };
        // SAFETY: the bridge's functions only read and set libtorch's thread-local autocast state.
        unsafe {
            let guard = Autocast { cuda, was_enabled: rcb_autocast_enabled(cuda), was_dtype: rcb_autocast_dtype(cuda) };
            rcb_autocast_increment_nesting();
            rcb_autocast_set(cuda, true, code);
            guard
        }
    }

    /// Whether autocast is on for the CPU (`cuda` false) or CUDA on this thread.
    pub fn enabled(cuda: bool) -> bool {
        // SAFETY: reads libtorch's thread-local autocast state.
        unsafe { rcb_autocast_enabled(cuda as c_int) }
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        // SAFETY: restores the state read in `enter` on the same thread.
        unsafe {
            rcb_autocast_set(self.cuda, self.was_enabled, self.was_dtype);
            if rcb_autocast_decrement_nesting() == 0 {
                rcb_autocast_clear_cache();
            }
        }
    }
}
