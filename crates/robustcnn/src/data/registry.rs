//! Dataset names and where their files are found.
use super::source::{cache_dir, DataSource};
use super::{cifar, folder, idx, published, Splits};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

pub const FASHION_MNIST_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Where Debian's dataset-fashion-mnist package puts the files.
pub const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

const MINI_TRAIN_IMAGES: &[u8] = include_bytes!("../../../../data/fashion-mnist-mini/train-images-idx3-ubyte.gz");
const MINI_TRAIN_LABELS: &[u8] = include_bytes!("../../../../data/fashion-mnist-mini/train-labels-idx1-ubyte.gz");
const MINI_TEST_IMAGES: &[u8] = include_bytes!("../../../../data/fashion-mnist-mini/t10k-images-idx3-ubyte.gz");
const MINI_TEST_LABELS: &[u8] = include_bytes!("../../../../data/fashion-mnist-mini/t10k-labels-idx1-ubyte.gz");

/// A dataset the tool knows by name.
pub struct DatasetInfo {
    pub name: &'static str,
    pub summary: &'static str,
    /// Training-time augmentation defaults: (random-crop padding, horizontal flip).
    pub augment: (usize, bool),
    /// The side of its square images, where the format fixes it (image folders: none).
    pub side: Option<usize>,
}

pub const DATASETS: &[DatasetInfo] = &[
    DatasetInfo {
        name: "fashion-mnist-mini",
        summary: "6,000/1,000 stratified Fashion-MNIST images, embedded in the binary",
        augment: (2, true),
        side: Some(28),
    },
    DatasetInfo {
        name: "fashion-mnist",
        summary: "Fashion-MNIST IDX (Debian dataset-fashion-mnist, --data-dir, or data fetch)",
        augment: (2, true),
        side: Some(28),
    },
    DatasetInfo {
        name: "mnist",
        summary: "MNIST IDX files in --data-dir (or data fetch)",
        augment: (2, false),
        side: Some(28),
    },
    DatasetInfo {
        name: "cifar10",
        summary: "CIFAR-10 binary version (cifar-10-batches-bin) in --data-dir",
        augment: (4, true),
        side: Some(32),
    },
    DatasetInfo {
        name: "cifar100",
        summary: "CIFAR-100 binary version (cifar-100-binary) in --data-dir, fine labels",
        augment: (4, true),
        side: Some(32),
    },
    DatasetInfo {
        name: "cifar100-coarse",
        summary: "CIFAR-100 with the 20 coarse labels",
        augment: (4, true),
        side: Some(32),
    },
    DatasetInfo {
        name: "cub200",
        summary: "CUB-200-2011 birds (CUB_200_2011/ with images.txt, train_test_split.txt, …) in --data-dir",
        augment: (0, true),
        side: None,
    },
    DatasetInfo {
        name: "cub200-bbox",
        summary: "CUB-200-2011, each image cropped to its bird's box from bounding_boxes.txt",
        augment: (0, true),
        side: None,
    },
    DatasetInfo {
        name: "imagenet",
        summary: "ILSVRC2012: train/<wnid>/, val/ as class folders or flat with LOC_val_solution.csv or val.txt",
        augment: (0, true),
        side: None,
    },
    DatasetInfo {
        name: "voc2012",
        summary: "PASCAL VOC 2012 classification, multi-label (VOCdevkit/VOC2012), train / val",
        augment: (0, true),
        side: None,
    },
    DatasetInfo {
        name: "market1501",
        summary: "Market-1501 person re-ID (bounding_box_train, bounding_box_test, query): IDs, retrieval",
        augment: (10, true),
        side: None,
    },
    DatasetInfo {
        name: "dukemtmc-reid",
        summary: "DukeMTMC-reID, the same layout as Market-1501",
        augment: (10, true),
        side: None,
    },
    DatasetInfo {
        name: "folder",
        summary: "image folders DIR/train/<class>/*.png|jpg and DIR/test/<class>/...",
        augment: (0, true),
        side: None,
    },
];

/// One split ("train" or "test") of a dataset, reading only that split's files where the format
/// keeps them apart (CIFAR's batches), so that a split alone is enough.
pub fn load_split(name: &str, src: &DataSource, split: &str) -> Result<super::Dataset> {
    let train = split == "train";
    match name {
        "cifar10" => {
            let dirs = candidates(name, src, &["cifar-10-batches-bin"]);
            let dir = locate(name, &dirs, if train { "data_batch_1.bin" } else { "test_batch.bin" })?;
            cifar::read_cifar10_split(&dir, train)
        }
        "cifar100" | "cifar100-coarse" => {
            let dirs = candidates("cifar100", src, &["cifar-100-binary"]);
            let dir = locate(name, &dirs, if train { "train.bin" } else { "test.bin" })?;
            let label = if name == "cifar100" { cifar::Cifar100Label::Fine } else { cifar::Cifar100Label::Coarse };
            cifar::read_cifar100_split(&dir, label, train)
        }
        _ if published::NAMES.contains(&name) => published::load_split(name, src, split),
        _ => load(name, src).map(|s| if train { s.train } else { s.test }),
    }
}

/// Refuses an image size for a dataset whose format fixes it (MNIST's 28, CIFAR's 32): those images
/// are never resized. `option` is how the user gave the size.
pub fn check_size(name: &str, size: Option<(usize, usize)>, option: &str) -> Result<()> {
    match (find(name)?.side, size) {
        (Some(s), Some((h, w))) if (h, w) != (s, s) => Err(Error::Config(format!(
            "{option} {h}x{w}: {name}'s images are {s}x{s} and are not resized ({option} sizes image folders and the \
             datasets decoded from image files)"
        ))),
        _ => Ok(()),
    }
}

/// Looks a dataset name up; the error lists the valid names.
pub fn find(name: &str) -> Result<&'static DatasetInfo> {
    DATASETS.iter().find(|d| d.name == name).ok_or_else(|| {
        let names: Vec<_> = DATASETS.iter().map(|d| d.name).collect();
        Error::Config(format!("unknown dataset '{name}' (datasets: {})", names.join(", ")))
    })
}

/// The first candidate folder holding `file` (or `file.gz`).
fn locate(name: &str, candidates: &[PathBuf], file: &str) -> Result<PathBuf> {
    for dir in candidates {
        for f in [file.to_string(), format!("{file}.gz")] {
            if dir.join(&f).is_file() {
                return Ok(dir.clone());
            }
        }
    }
    let list: Vec<_> = candidates.iter().map(|d| d.display().to_string()).collect();
    Err(Error::Config(format!(
        "{name}: no {file}[.gz] in {}; pass --data-dir or run `robustcnn data fetch {name}`",
        list.join(", ")
    )))
}

fn with_gz(dir: &Path, file: &str) -> PathBuf {
    let raw = dir.join(file);
    if raw.is_file() {
        raw
    } else {
        dir.join(format!("{file}.gz"))
    }
}

fn read_idx_dir(name: &str, candidates: &[PathBuf], classes: &[&str]) -> Result<Splits> {
    let dir = locate(name, candidates, "train-images-idx3-ubyte")?;
    let pair = |prefix: &str| {
        idx::read_pair(
            &with_gz(&dir, &format!("{prefix}-images-idx3-ubyte")),
            &with_gz(&dir, &format!("{prefix}-labels-idx1-ubyte")),
            classes,
        )
    };
    Ok(Splits { train: pair("train")?, test: pair("t10k")? })
}

/// Where to look: the given data folder (and `<name>` or `extra` inside it) only, else the cache.
fn candidates(name: &str, src: &DataSource, extra: &[&str]) -> Vec<PathBuf> {
    match &src.data_dir {
        Some(d) => [d.clone(), d.join(name)].into_iter().chain(extra.iter().map(|e| d.join(e))).collect(),
        None => vec![cache_dir(name)],
    }
}

/// Loads the train and test sets of dataset `name`.
pub fn load(name: &str, src: &DataSource) -> Result<Splits> {
    find(name)?;
    match name {
        "fashion-mnist-mini" => Ok(Splits {
            train: idx::from_bytes(
                "fashion-mnist-mini/train",
                MINI_TRAIN_IMAGES,
                MINI_TRAIN_LABELS,
                &FASHION_MNIST_CLASSES,
            )?,
            test: idx::from_bytes(
                "fashion-mnist-mini/t10k",
                MINI_TEST_IMAGES,
                MINI_TEST_LABELS,
                &FASHION_MNIST_CLASSES,
            )?,
        }),
        "fashion-mnist" => {
            let mut dirs = candidates(name, src, &[]);
            if src.data_dir.is_none() {
                dirs.push(PathBuf::from(DEBIAN_FASHION_MNIST));
            }
            read_idx_dir(name, &dirs, &FASHION_MNIST_CLASSES)
        }
        "mnist" => read_idx_dir(name, &candidates(name, src, &[]), &MNIST_CLASSES),
        "cifar10" => {
            let dirs = candidates(name, src, &["cifar-10-batches-bin"]);
            let dir = locate(name, &dirs, "test_batch.bin")?;
            cifar::read_cifar10(&dir)
        }
        "cifar100" | "cifar100-coarse" => {
            let dirs = candidates("cifar100", src, &["cifar-100-binary"]);
            let dir = locate(name, &dirs, "test.bin")?;
            let label = if name == "cifar100" { cifar::Cifar100Label::Fine } else { cifar::Cifar100Label::Coarse };
            cifar::read_cifar100(&dir, label)
        }
        _ if published::NAMES.contains(&name) => Ok(Splits {
            train: published::load_split(name, src, "train")?,
            test: published::load_split(name, src, "test")?,
        }),
        _ => {
            let dir = src.data_dir.as_ref().ok_or_else(|| {
                Error::Config("dataset 'folder' needs --data-dir DIR holding train/ and test/".into())
            })?;
            if let Some(missing) = ["train", "test"].iter().map(|s| dir.join(s)).find(|d| !d.is_dir()) {
                return Err(Error::format(
                    &missing,
                    "no such folder (dataset 'folder' reads DIR/train/<class>/<image> and DIR/test/<class>/<image>)",
                ));
            }
            let fit =
                src.fit.unwrap_or(if src.image_size.is_some() { folder::Fit::Resize } else { folder::Fit::Exact });
            let train = folder::read_folder(&dir.join("train"), src.image_size, fit, src.grayscale)?;
            let size = Some((train.height, train.width));
            let test = folder::read_folder(&dir.join("test"), size, fit, src.grayscale)?;
            if test.class_names != train.class_names {
                return Err(Error::format(&dir.join("test"), "class subfolders differ from those of train/"));
            }
            Ok(Splits { train, test })
        }
    }
}
