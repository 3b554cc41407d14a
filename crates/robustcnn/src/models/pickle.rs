//! PyTorch pickles of state dicts (`torch.save(model.state_dict())`, `.pt`/`.pth`), read with
//! libtorch's own unpickler through the bridge (docs/imported.md).
use crate::error::{one_line, Error, Result};
use std::path::Path;
use tch::Tensor;

/// How to turn a checkpoint libtorch cannot unpickle into a safetensors file.
const CONVERT: &str = "convert it in Python: import torch, safetensors.torch as st; \
    sd = torch.load(FILE, map_location='cpu'); sd = sd.get('state_dict', sd); \
    st.save_file({k: v.contiguous() for k, v in sd.items() if torch.is_tensor(v)}, 'model.safetensors')";

/// The tensors of the state dict pickled in `path`, by name.
pub fn read_state_dict(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    match robustcnn_bridge::pickle_state_dict(&bytes) {
        Ok(list) if !list.is_empty() => Ok(list
            .into_iter()
            // SAFETY: each pointer is a new libtorch tensor the bridge hands over to us, wrapped once.
            .map(|(name, ptr)| (name, unsafe { Tensor::from_ptr(ptr) }))
            .collect()),
        Ok(_) => Err(Error::format(path, format!("the pickle holds no tensors; {CONVERT}"))),
        Err(e) => Err(Error::format(
            path,
            format!("libtorch cannot read this pickle ({}); {CONVERT}", whole_sentences(&one_line(&e), 300)),
        )),
    }
}

/// At most `limit` characters of `text`, cut after its last whole sentence when it is longer.
fn whole_sentences(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let head: String = text.chars().take(limit).collect();
    match head.rfind(". ") {
        Some(end) => head[..=end].to_string(),
        None => format!("{head}…"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_long_libtorch_message_is_cut_after_a_whole_sentence() {
        let miniz =
            "PytorchStreamReader failed reading zip archive: not a ZIP archive. This is an internal miniz error. \
                     If you are seeing this error, there is a high likelihood that your checkpoint file is corrupted.";
        assert_eq!(
            super::whole_sentences(miniz, 120),
            "PytorchStreamReader failed reading zip archive: not a ZIP archive. This is an internal miniz error."
        );
        assert_eq!(super::whole_sentences("short", 120), "short");
        assert_eq!(super::whole_sentences("no sentence end here at all", 10), "no sentenc…");
    }
}
