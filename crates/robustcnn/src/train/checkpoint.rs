//! Weights and checkpoints as safetensors, written atomically (temporary file, fsync, rename).
//!
//! Model tensors keep their PyTorch-style names, so `model.safetensors` loads into the equivalent
//! PyTorch module with `load_state_dict`. A checkpoint adds the optimizer buffers (`optimizer.*`) and the
//! loop state as JSON bytes in a u8 tensor (`robustcnn.state`), so one rename publishes all of it.
use super::optim::Optimizer;
use super::LoopState;
use crate::error::{Error, IoContext, Result};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use tch::{nn::VarStore, Device, Kind, Tensor};

const STATE_KEY: &str = "robustcnn.state";

/// Held while a file is written, so that a process ending at once (a lost rank's job,
/// docs/distributed.md) waits for the write to finish and leaves no temporary file behind.
static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits until no file is being written, and keeps any new write from starting while held.
pub fn hold_writes() -> std::sync::MutexGuard<'static, ()> {
    WRITING.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes named tensors to `path` atomically.
pub fn write_atomic(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let tmp = path.with_extension("safetensors.tmp");
    let cpu: Vec<(String, Tensor)> =
        tensors.iter().map(|(n, t)| (n.clone(), t.to_device(Device::Cpu).contiguous())).collect();
    // Only now: copying from a GPU could wait on a collective that never ends.
    let _writing = hold_writes();
    Tensor::write_safetensors(&cpu, &tmp).map_err(|e| Error::format(&tmp, format!("could not write: {e}")))?;
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).at(&tmp)?;
    std::fs::rename(&tmp, path).at(path)?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Writes bytes to `path` atomically, through a temporary file of this process's own, so that
/// processes writing the same file at once (a suite's workers) each replace it whole.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = bytes_tmp_path(path);
    let _writing = hold_writes();
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all()))
        .at(&tmp)
        .and_then(|_| std::fs::rename(&tmp, path).at(path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The temporary file [`write_bytes_atomic`] writes before renaming it to `path`.
pub fn bytes_tmp_path(path: &Path) -> std::path::PathBuf {
    path.with_extension(format!("{}.tmp", std::process::id()))
}

/// Checks that files can be written in `dir`, with a probe file named by this process so that
/// processes sharing the directory (suite workers) never remove each other's. The probe is removed
/// even when writing it failed part-way; the write's error is the one reported.
pub fn check_writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".write-test.{}", std::process::id()));
    let written = std::fs::write(&probe, b"ok");
    let removed = std::fs::remove_file(&probe);
    written.and(removed)
}

/// The model's variables (parameters and buffers), sorted by name.
pub fn model_tensors(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Reads every tensor of a safetensors file.
pub fn read(path: &Path) -> Result<HashMap<String, Tensor>> {
    if !path.is_file() {
        return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")));
    }
    let list = Tensor::read_safetensors(path)
        .map_err(|e| Error::format(path, format!("not a readable safetensors file: {e}")))?;
    Ok(list.into_iter().collect())
}

/// Copies the tensors of `file` into the var store; every variable must be present with its shape.
pub fn load_into(vs: &VarStore, file: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    tch::no_grad(|| {
        for name in names {
            let mut var = vars[name].shallow_clone();
            let src = tensors
                .get(name)
                .ok_or_else(|| Error::format(file, format!("missing tensor '{name}' (saved from another model?)")))?;
            if src.size() != var.size() {
                return Err(Error::format(
                    file,
                    format!("tensor '{name}' has shape {:?}, the model expects {:?}", src.size(), var.size()),
                ));
            }
            var.copy_(src);
        }
        Ok(())
    })
}

/// Everything a checkpoint holds: the model's variables, the optimizer buffers, the method's carried
/// tensors and the loop state ([`restore_loop`] reads the last two back).
pub fn checkpoint_tensors(
    vs: &VarStore,
    opt: &Optimizer,
    method_state: &[(String, Tensor)],
    st: &LoopState,
) -> Vec<(String, Tensor)> {
    let mut tensors = model_tensors(vs);
    tensors.extend(opt.state().iter().chain(method_state).map(|(n, t)| (n.clone(), t.shallow_clone())));
    tensors.push(state_entry(&serde_json::json!({"loop": st, "optimizer_steps": opt.steps})));
    tensors
}

/// Restores the optimizer buffers and returns the loop state of a checkpoint's tensors.
pub fn restore_loop(file: &Path, tensors: &HashMap<String, Tensor>, opt: &mut Optimizer) -> Result<LoopState> {
    if let Some(m) = opt.load_state(tensors).first() {
        return Err(Error::format(file, format!("missing optimizer tensor '{m}'")));
    }
    let state = state_of(file, tensors)?;
    opt.steps = state["optimizer_steps"].as_i64().unwrap_or(0);
    serde_json::from_value(state["loop"].clone()).map_err(|e| Error::format(file, format!("corrupt loop state: {e}")))
}

/// Packs a JSON state as a u8 tensor entry.
pub fn state_entry(state: &serde_json::Value) -> (String, Tensor) {
    let bytes = serde_json::to_vec(state).unwrap_or_default();
    (STATE_KEY.to_string(), Tensor::from_slice(&bytes))
}

/// Unpacks the JSON state of a checkpoint.
pub fn state_of(file: &Path, tensors: &HashMap<String, Tensor>) -> Result<serde_json::Value> {
    let t = tensors.get(STATE_KEY).ok_or_else(|| Error::format(file, "not a robustcnn checkpoint (no loop state)"))?;
    let bytes: Vec<u8> =
        Vec::<u8>::try_from(&t.to_kind(Kind::Uint8)).map_err(|e| Error::format(file, e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::format(file, format!("corrupt loop state: {e}")))
}
