//! Numeric precision of a network's forward pass (docs/precision.md): fp32, or mixed precision through
//! libtorch's autocast, where convolutions and matrix products run in bfloat16 (CPU or CUDA) or float16
//! (CUDA, training with a dynamic loss scaler) while weights, optimizer state and checkpoints stay fp32.
use crate::error::{Error, Result};
pub use robustcnn_bridge::{cpu_runs_onednn_bf16, Autocast, Reduced};
use serde::{Deserialize, Serialize};
use tch::Device;

/// Written as its name in recipes; unknown names get [`Precision::parse`]'s error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Precision {
    #[default]
    Fp32,
    Bf16,
    Fp16,
}

impl Precision {
    pub const NAMES: &'static [&'static str] = &["fp32", "bf16", "fp16"];

    /// Reads a precision name; `what` names the option in errors.
    pub fn parse(text: &str, what: &str) -> Result<Precision> {
        match text {
            "fp32" => Ok(Precision::Fp32),
            "bf16" => Ok(Precision::Bf16),
            "fp16" => Ok(Precision::Fp16),
            _ => {
                Err(Error::Config(format!("{what} {text}: unknown precision (precisions: {})", Self::NAMES.join(", "))))
            }
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn is_fp32(&self) -> bool {
        *self == Precision::Fp32
    }

    /// The precision stored as `index` by [`Precision::index`].
    pub fn from_index(index: u8) -> Precision {
        match index {
            1 => Precision::Bf16,
            2 => Precision::Fp16,
            _ => Precision::Fp32,
        }
    }

    pub fn index(self) -> u8 {
        self as u8
    }

    /// Refuses fp16 off CUDA: libtorch's CPU float16 kernels are slow or missing, and bf16 has
    /// fp32's range without a loss scaler. Refuses bf16 on a GPU older than Ampere
    /// ([`check_cuda_bf16`]). `what` names the option in the error.
    pub fn check_device(self, device: Device, what: &str) -> Result<()> {
        if self == Precision::Fp16 && device == Device::Cpu {
            return Err(Error::Config(format!(
                "{what} fp16: float16 autocast (with its loss scaler) runs on CUDA devices; on the CPU use bf16"
            )));
        }
        if let (Precision::Bf16, Device::Cuda(n)) = (self, device) {
            return check_cuda_bf16(crate::device::cuda_capability(n), n, what);
        }
        Ok(())
    }

    /// The autocast region for a forward pass on `device`, None in fp32.
    pub fn autocast(self, device: Device) -> Option<Autocast> {
        let cuda = device != Device::Cpu;
        match self {
            Precision::Fp32 => None,
            Precision::Bf16 => Some(Autocast::enter(cuda, Reduced::BFloat16)),
            Precision::Fp16 => Some(Autocast::enter(cuda, Reduced::Float16)),
        }
    }
}

/// Refuses bf16 on CUDA device `n` whose compute capability is below 8.0 (before Ampere): it has no
/// bfloat16 tensor cores, and libtorch emulates or rejects bf16 there. An unknown capability (no
/// driver to ask) passes, leaving libtorch to decide.
pub fn check_cuda_bf16(capability: Option<(i32, i32)>, n: usize, what: &str) -> Result<()> {
    match capability {
        Some((major, minor)) if major < 8 => Err(Error::Config(format!(
            "{what} bf16: cuda:{n} has compute capability {major}.{minor}, and bfloat16 needs 8.0 (Ampere) or newer; use fp16 there"
        ))),
        _ => Ok(()),
    }
}

/// The CPU's bfloat16 instructions that oneDNN's kernels use when present (from /proc/cpuinfo): AMX
/// tiles, then AVX512-BF16; without either, bf16 runs through fp32 conversions, slower.
pub fn cpu_bf16_instructions() -> Vec<&'static str> {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags: Vec<&str> =
        info.lines().find(|l| l.starts_with("flags")).map(|l| l.split_whitespace().collect()).unwrap_or_default();
    ["amx_bf16", "avx512_bf16"].into_iter().filter(|f| flags.contains(f)).collect()
}

impl TryFrom<String> for Precision {
    type Error = Error;
    fn try_from(text: String) -> Result<Precision> {
        Precision::parse(&text, "precision")
    }
}

impl From<Precision> for String {
    fn from(p: Precision) -> String {
        p.name().to_string()
    }
}
