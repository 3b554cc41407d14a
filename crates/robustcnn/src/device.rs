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
