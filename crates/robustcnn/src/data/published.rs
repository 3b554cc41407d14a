//! The benchmarks read from their published layouts through an index: CUB-200-2011, ImageNet and
//! PASCAL VOC 2012 (docs/datasets.md): where their folders are found, one split decoded, and
//! `data info`'s description read from the index alone.
use super::listed::{listed_dataset, Entry, Sizing};
use super::source::{cache_dir, DataSource};
use super::{cub, imagenet, reid, voc, Dataset};
use crate::error::{Error, Result};
use std::path::PathBuf;

/// The names of the datasets this module reads.
pub const NAMES: [&str; 6] = ["cub200", "cub200-bbox", "imagenet", "voc2012", "market1501", "dukemtmc-reid"];

/// The folder a dataset's layout starts in: the data folder itself or the usual subfolder.
fn root(name: &str, src: &DataSource) -> Result<PathBuf> {
    let (subs, marker): (&[&str], &str) = match name {
        "imagenet" => (&["imagenet", "ILSVRC2012"], "train"),
        "voc2012" => (&["VOCdevkit/VOC2012", "VOC2012"], "ImageSets"),
        "market1501" => (&["Market-1501-v15.09.15", "Market-1501"], "bounding_box_train"),
        "dukemtmc-reid" => (&["DukeMTMC-reID"], "bounding_box_train"),
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

/// Whether `name` is a person re-identification dataset (retrieval, docs/reid.md).
pub fn is_reid(name: &str) -> bool {
    matches!(name, "market1501" | "dukemtmc-reid")
}

/// Split `split` ("train" or "test") of `name`, decoded to the data source's size.
pub fn load_split(name: &str, src: &DataSource, split: &str) -> Result<Dataset> {
    let dir = root(name, src)?;
    if is_reid(name) {
        // Person crops are resized, not cropped, to the recipe's 256 x 128.
        let fit = src.fit.unwrap_or(super::folder::Fit::Resize);
        let sizing = Sizing::required_or(name, src.image_size, fit, src.grayscale)?;
        return reid_split(&dir, sizing, split == "train", src.on_demand);
    }
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

/// A re-ID folder's training identities (train), or its queries then gallery with each image's
/// person and camera (test), over the training identities' classes (docs/reid.md §1).
fn reid_split(dir: &std::path::Path, sizing: Sizing, train: bool, on_demand: Option<bool>) -> Result<Dataset> {
    let people = reid::read_folder(&dir.join("bounding_box_train"))?;
    let (classes, entries) = reid::training_entries(&people, &dir.join("bounding_box_train"))?;
    if train {
        return listed_dataset(dir, &entries, sizing, classes, on_demand);
    }
    let query = reid::read_folder(&dir.join("query"))?;
    let gallery = reid::read_folder(&dir.join("bounding_box_test"))?;
    let all: Vec<&reid::Person> = query.iter().chain(&gallery).collect();
    let entries: Vec<Entry> = all.iter().map(|p| Entry { path: p.path.clone(), label: 0, crop: None }).collect();
    let mut ds = listed_dataset(dir, &entries, sizing, classes, Some(false))?;
    ds.retrieval = Some(reid::Retrieval {
        ids: all.iter().map(|p| p.id).collect(),
        cameras: all.iter().map(|p| p.camera).collect(),
        queries: query.len(),
    });
    Ok(ds)
}

fn reid_line(split: &str, people: &[reid::Person]) -> String {
    let mut ids: Vec<i64> = people.iter().filter(|p| p.id > 0).map(|p| p.id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut cams: Vec<u16> = people.iter().map(|p| p.camera).collect();
    cams.sort_unstable();
    cams.dedup();
    let junk = people.iter().filter(|p| p.id == -1).count();
    let distractors = people.iter().filter(|p| p.id == 0).count();
    format!(
        "{split}: {} images of {} identities over cameras {cams:?}; {junk} junk (-1), {distractors} distractors (0000)\n",
        people.len(),
        ids.len()
    )
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
        "market1501" | "dukemtmc-reid" => {
            for (split, sub) in [("train", "bounding_box_train"), ("query", "query"), ("gallery", "bounding_box_test")]
            {
                out += &reid_line(split, &reid::read_folder(&dir.join(sub))?);
            }
            out +=
                "re-identification: trained as classification over the training identities, evaluated as retrieval\n";
        }
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
