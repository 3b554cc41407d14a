//! Datasets: readers for the published formats, the registry of names, splits and the loader.
pub mod augment;
pub mod augment_settings;
pub mod cifar;
pub mod cub;
mod dataset;
pub mod fetch;
pub mod folder;
pub mod idx;
pub mod imagenet;
pub mod listed;
pub mod loader;
pub mod published;
mod registry;
pub mod reid;
mod source;
pub mod split;
pub mod voc;

pub use dataset::{Dataset, Splits};
pub use registry::{check_size, find as registry_find, load, load_split, DatasetInfo, DATASETS, DEBIAN_FASHION_MNIST};
pub use source::{cache_base, cache_dir, DataSource};
