//! Parsing `--device cpu|cuda|cuda:N`.
use crate::error::{Error, Result};
use tch::Device;

/// Parses a device name; CUDA names are checked against what libtorch can see.
pub fn parse(name: &str) -> Result<Device> {
    let dev = match name {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => 0,
        _ => match name.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => return Err(Error::Config(format!("--device {name}: expected cpu, cuda or cuda:N"))),
        },
    };
    let count = tch::Cuda::device_count() as usize;
    if dev >= count {
        return Err(Error::Config(format!(
            "--device {name}: libtorch sees {count} CUDA device(s); on a machine without an NVIDIA GPU use --device cpu"
        )));
    }
    Ok(Device::Cuda(dev))
}

/// The compute capability (major, minor) of CUDA device `ordinal` as the NVIDIA driver (libcuda)
/// reports it, under `CUDA_VISIBLE_DEVICES` as libtorch numbers devices; None without a driver or
/// such a device.
pub fn cuda_capability(ordinal: usize) -> Option<(i32, i32)> {
    type Init = unsafe extern "C" fn(u32) -> i32;
    type Get = unsafe extern "C" fn(*mut i32, i32) -> i32;
    type Attribute = unsafe extern "C" fn(*mut i32, i32, i32) -> i32;
    extern "C" {
        fn dlopen(file: *const std::ffi::c_char, mode: i32) -> *mut std::ffi::c_void;
        fn dlsym(handle: *mut std::ffi::c_void, name: *const std::ffi::c_char) -> *mut std::ffi::c_void;
    }
    const RTLD_NOW: i32 = 2;
    // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR and _MINOR in cuda.h.
    const MAJOR: i32 = 75;
    const MINOR: i32 = 76;
    let ordinal = i32::try_from(ordinal).ok()?;
    // SAFETY: dlopen/dlsym with NUL-terminated names; each symbol is used only if found and is
    // called with the signature the CUDA driver API documents for it, on out-pointers we own.
    unsafe {
        let lib = dlopen(c"libcuda.so.1".as_ptr(), RTLD_NOW);
        if lib.is_null() {
            return None;
        }
        let symbol = |name: &std::ffi::CStr| {
            let p = dlsym(lib, name.as_ptr());
            (!p.is_null()).then_some(p)
        };
        let init: Init = std::mem::transmute(symbol(c"cuInit")?);
        let get: Get = std::mem::transmute(symbol(c"cuDeviceGet")?);
        let attribute: Attribute = std::mem::transmute(symbol(c"cuDeviceGetAttribute")?);
        let (mut device, mut major, mut minor) = (0, 0, 0);
        let ok = init(0) == 0
            && get(&mut device, ordinal) == 0
            && attribute(&mut major, MAJOR, device) == 0
            && attribute(&mut minor, MINOR, device) == 0;
        ok.then_some((major, minor))
    }
}
