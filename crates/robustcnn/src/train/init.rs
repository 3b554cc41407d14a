//! The starting weights of a finetuning run (`train.init`, docs/usage.md): a run directory's best
//! (else last) weights, or a file. The run keeps the normalisation those weights carry unless its
//! recipe sets `model.mean`/`model.std`; either way the recorded config is what the model applies.
use super::run_dir::CONFIG_FILE;
use super::{checkpoint, RunDir};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::{Kind, Tensor};

/// The weights file `train.init` names.
fn init_file(init: &Path) -> Result<PathBuf> {
    let file = if init.is_dir() { super::weights_file(init, "best").0 } else { init.to_path_buf() };
    if !file.is_file() {
        return Err(Error::Config(format!(
            "train.init {}: no weights there (expected a run directory holding best.safetensors or \
             model.safetensors, or a .safetensors file)",
            init.display()
        )));
    }
    Ok(file)
}

/// Refuses a run directory whose weights belong to another architecture than `model`: its config
/// names its model, so the error can say so rather than report a tensor's shape.
pub fn check_model(init: &Path, model: &str) -> Result<()> {
    if !init.join(CONFIG_FILE).is_file() {
        return Ok(());
    }
    let theirs = RunDir::open(init)?.read_config_on(Some("cpu"))?.model.name;
    if theirs != model {
        return Err(Error::Config(format!(
            "train.init {}: a {theirs} run, and this run trains {model}; finetuning starts from weights of \
             the same architecture (--model {theirs})",
            init.display()
        )));
    }
    Ok(())
}

/// The per-channel mean and std the starting weights were trained behind: a run directory's config
/// records them exactly; a bare weights file holds them as float32 buffers, when it holds them.
pub fn init_normalization(init: &Path) -> Result<Option<(Vec<f64>, Vec<f64>)>> {
    if init.join(CONFIG_FILE).is_file() {
        let model = RunDir::open(init)?.read_config_on(Some("cpu"))?.model;
        if let (Some(mean), Some(std)) = (model.mean, model.std) {
            return Ok(Some((mean, std)));
        }
    }
    let tensors = checkpoint::read(&init_file(init)?)?;
    let values =
        |name: &str| tensors.get(name).and_then(|t| Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).ok());
    Ok(values("normalize.mean").zip(values("normalize.std")))
}

/// Loads the starting weights, then sets the normalisation to the run's own `mean`/`std`.
pub fn load_init(init: &Path, vs: &VarStore, mean: &[f64], std: &[f64]) -> Result<()> {
    let file = init_file(init)?;
    checkpoint::load_into(vs, &file, &checkpoint::read(&file)?)?;
    let vars = vs.variables();
    tch::no_grad(|| {
        for (name, values) in [("normalize.mean", mean), ("normalize.std", std)] {
            if let Some(var) = vars.get(name) {
                let shape = var.size();
                var.shallow_clone().copy_(&Tensor::from_slice(values).to_kind(Kind::Float).reshape(shape));
            }
        }
    });
    Ok(())
}
