//! Models trained elsewhere: a TorchScript module (`torch.jit.trace` or `torch.jit.script`) as a
//! [`Network`] with one stage, "head", after the normalisation given for it, so that ε stays in pixel
//! units (docs/imported.md). It runs in eval mode; forward passes and input gradients go through
//! libtorch's JIT, so every attack works on it.
use super::{Network, Stage};
use crate::error::{Error, Result};
use std::path::Path;
use std::sync::atomic::AtomicU8;
use tch::{CModule, Device, Kind, Tensor};

/// The module as a stage. A forward error, which the checks at loading make unlikely, is printed and
/// gives NaN logits (so NLL reads NaN) rather than a panic.
#[derive(Debug)]
struct Scripted(CModule);

impl tch::nn::ModuleT for Scripted {
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        self.0.forward_ts(&[xs]).unwrap_or_else(|e| {
            eprintln!(
                "error: the TorchScript module failed on a batch of {}: {}",
                xs.size()[0],
                reason(&e.to_string())
            );
            Tensor::full([xs.size()[0], 1], f64::NAN, (Kind::Float, xs.device()))
        })
    }
}

/// Loads `path` on `device` with the normalisation `mean`/`std` applied before it (empty: the
/// module normalises its inputs itself). `probe` (N×C×H×W, a few dataset images) must give N×`classes`
/// logits, and so must its first image alone, so a trace fixed to one batch size is refused here.
pub fn load(
    path: &Path,
    device: Device,
    (mean, std): (&[f64], &[f64]),
    probe: &Tensor,
    classes: i64,
) -> Result<Network> {
    let shown = path.display();
    let channels = probe.size()[1];
    let mut module = CModule::load_on_device(path, device).map_err(|e| {
        Error::Config(format!("{shown}: not a TorchScript module libtorch can load ({}); export it with torch.jit.trace or torch.jit.script and save it with torch.jit.save", reason(&e.to_string())))
    })?;
    module.f_set_eval().map_err(|e| Error::Config(format!("{shown}: {}", reason(&e.to_string()))))?;
    let (mean, std) = normalisation(mean, std, channels, &shown.to_string())?;
    let shape = [1, channels, 1, 1];
    let to = |v: &[f64]| Tensor::from_slice(v).to_kind(Kind::Float).reshape(shape).to_device(device);
    let image = probe.size()[1..].iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×");
    for x in [probe.narrow(0, 0, 1), probe.shallow_clone()] {
        let n = x.size()[0];
        let out = tch::no_grad(|| module.forward_ts(&[(x.to_device(device) - to(&mean)) / to(&std)])).map_err(|e| {
            Error::Config(format!("{shown}: fails on a batch of {n} {image} images: {}", reason(&e.to_string())))
        })?;
        if out.size() != [n, classes] {
            return Err(Error::Config(format!(
                "{shown}: gives an output of shape {:?} for {n} {image} images; the dataset has {classes} classes, so logits of shape [{n}, {classes}] were expected",
                out.size()
            )));
        }
    }
    let stages: Vec<Stage> = vec![Box::new(Scripted(module))];
    Ok(Network {
        name: format!(
            "torchscript:{}",
            path.file_name().map_or(shown.to_string(), |f| f.to_string_lossy().to_string())
        ),
        stage_names: vec!["head"],
        stages,
        mean: to(&mean),
        std: to(&std),
        precision: AtomicU8::new(0),
    })
}

/// The normalisation for `channels` channels: as given, or the identity when none is.
fn normalisation(mean: &[f64], std: &[f64], channels: i64, shown: &str) -> Result<(Vec<f64>, Vec<f64>)> {
    let c = channels as usize;
    match (mean.len(), std.len()) {
        (0, 0) => Ok((vec![0.0; c], vec![1.0; c])),
        (m, s) if m == c && s == c && std.iter().all(|&v| v > 0.0 && v.is_finite()) => Ok((mean.to_vec(), std.to_vec())),
        _ => Err(Error::Config(format!(
            "{shown}: --mean and --std need {c} values each (the images have {c} channels), the stds positive; got {mean:?} and {std:?}"
        ))),
    }
}

/// The line of a libtorch error that says what went wrong: a TorchScript interpreter's traceback
/// ends with the exception (`RuntimeError: …`); other errors say it first.
fn reason(s: &str) -> String {
    let exception = |l: &&str| l.split_once(": ").is_some_and(|(k, _)| k.ends_with("Error") && !k.contains(' '));
    s.lines().rev().find(exception).or(s.lines().next()).unwrap_or_default().trim().to_string()
}
