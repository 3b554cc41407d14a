//! Where a dataset's files are and how its images are brought to one size: what every reader is given.
use super::folder;
use std::path::PathBuf;

/// Options for datasets read from user folders.
#[derive(Clone, Debug, Default)]
pub struct DataSource {
    pub data_dir: Option<PathBuf>,
    /// (height, width) for image folders; None keeps the images' own size.
    pub image_size: Option<(usize, usize)>,
    pub fit: Option<folder::Fit>,
    pub grayscale: bool,
    /// Decode a training split of listed images when batches need them (None: when decoded it
    /// would exceed [`super::listed::ON_DEMAND_BYTES`]).
    pub on_demand: Option<bool>,
}

/// The tool's cache: $ROBUSTCNN_CACHE, else $XDG_CACHE_HOME/robustcnn, else ~/.cache/robustcnn.
pub fn cache_base() -> PathBuf {
    std::env::var_os("ROBUSTCNN_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("robustcnn")))
        .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/robustcnn")))
        .unwrap_or_else(|| PathBuf::from(".robustcnn-cache"))
}

/// The default folder `data fetch` downloads into.
pub fn cache_dir(name: &str) -> PathBuf {
    cache_base().join("data").join(name)
}
