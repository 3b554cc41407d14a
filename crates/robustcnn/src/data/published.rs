//! The benchmarks read from their published layouts through an index: CUB-200-2011, ImageNet and
//! PASCAL VOC 2012 (docs/datasets.md): where their folders are found, one split decoded, and
//! `data info`'s description read from the index alone.
use super::listed::{listed_dataset, Entry, Sizing};
use super::source::{cache_dir, DataSource};
use super::{cub, imagenet, voc, Dataset};
use crate::error::{Error, Result};
use std::path::PathBuf;

/// The names of the datasets this module reads.
pub const NAMES: [&str; 4] = ["cub200", "cub200-bbox", "imagenet", "voc2012"];

/// The folder a dataset's layout starts in: the data folder itself or the usual subfolder.
fn root(name: &str, src: &DataSource) -> Result<PathBuf> {
    let (subs, marker): (&[&str], &str) = match name {
        "imagenet" => (&["imagenet", "ILSVRC2012"], "train"),
        "voc2012" => (&["VOCdevkit/VOC2012", "VOC2012"], "ImageSets"),
        _ => (&["CUB_200_2011"], "images.txt"),
    };
    let base = src.data_dir.clone().unwrap_or_else(|| cache_dir(name));
    let mut tried = vec![base.clone()];
    tried.extend(subs.iter().map(|s| base.join(s)));
    tried.iter().find(|d| d.join(marker).exists()).cloned().ok_or_else(|| {
        let list: Vec<_> = tried.iter().map(|d| d.display().to_string()).collect();
        Error::Config(format!(
            "{name}: no {marker} in {}; pass --data-dir pointing at the dataset's folder \
             (docs/datasets.md says where the files come from)",
            list.join(", ")
        ))
    })
}

/// Split `split` ("train" or "test") of `name`, decoded to the data source's size.
pub fn load_split(name: &str, src: &DataSource, split: &str) -> Result<Dataset> {
    let dir = root(name, src)?;
    let sizing = Sizing::required(name, src.image_size, src.fit, src.grayscale)?;
    let train = split == "train";
    // The test split is always decoded at once: corruptions are made from its decoded bytes.
    let lazy = if train { src.on_demand } else { Some(false) };
    match name {
        "imagenet" => {
            let idx = imagenet::read_index(&dir)?;
            listed_dataset(&dir, if train { &idx.train } else { &idx.val }, sizing, idx.classes, lazy)
        }
        "voc2012" => {
            let s = voc::read_split(&dir, if train { "train" } else { "val" })?;
            let mut ds = listed_dataset(&dir, &s.entries, sizing, names(&voc::VOC_CLASSES), lazy)?;
            ds.targets = Some(s.targets);
            Ok(ds)
        }
        _ => {
            let idx = cub::read_index(&dir, name == "cub200-bbox")?;
            listed_dataset(&dir, if train { &idx.train } else { &idx.test }, sizing, idx.classes, lazy)
        }
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn per_class(entries: &[Entry], k: usize) -> Vec<usize> {
    let mut c = vec![0; k];
    for e in entries {
        c[e.label as usize] += 1;
    }
    c
}

fn counts_line(split: &str, entries: &[Entry], k: usize) -> String {
    let c = per_class(entries, k);
    let (lo, hi) = (c.iter().min().copied().unwrap_or(0), c.iter().max().copied().unwrap_or(0));
    format!("{split}: {} images, {k} classes, {lo}–{hi} per class", entries.len())
}

/// What `data info` prints for `name`, read from the index files without decoding an image.
pub fn describe(name: &str, src: &DataSource) -> Result<String> {
    let dir = root(name, src)?;
    let mut out = format!("folder: {}\n", dir.display());
    match name {
        "imagenet" => {
            let idx = imagenet::read_index(&dir)?;
            let k = idx.classes.len();
            out += &format!("{}\n", counts_line("train", &idx.train, k));
            out += &format!("{} (labels from {})\n", counts_line("val", &idx.val, k), idx.val_labels);
            out += &format!("synsets (sorted WordNet ids): {} … {}\n", idx.classes[0], idx.classes[k - 1]);
        }
        "voc2012" => {
            for split in ["train", "val"] {
                let s = voc::read_split(&dir, split)?;
                let k = voc::VOC_CLASSES.len();
                let mut present = vec![0usize; k];
                for (j, &v) in s.targets.iter().enumerate() {
                    present[j % k] += (v == 1) as usize;
                }
                out += &format!(
                    "{split}: {} images, {} objects ({} difficult), multi-label over {k} classes; \
                     images per class {present:?}\n",
                    s.entries.len(),
                    s.objects,
                    s.difficult
                );
            }
            out += &format!("classes: {}\n", voc::VOC_CLASSES.join(", "));
        }
        _ => {
            let idx = cub::read_index(&dir, name == "cub200-bbox")?;
            let k = idx.classes.len();
            out += &format!("{}\n{}\n", counts_line("train", &idx.train, k), counts_line("test", &idx.test, k));
            if name == "cub200-bbox" {
                out += "images cropped to bounding_boxes.txt\n";
            }
            out += &format!("classes: {} … {}\n", idx.classes[0], idx.classes[k - 1]);
        }
    }
    Ok(out)
}
