//! ImageNet (ILSVRC2012) in its published layouts: `train/<wnid>/*.JPEG`, and the validation set as
//! class folders `val/<wnid>/` or flat `val/*.JPEG` with a ground-truth file
//! (docs/datasets.md §ImageNet). Classes are the sorted WordNet ids, the standard order.
use super::listed::{bad_line, index_lines, Entry};
use crate::error::{Error, IoContext, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Ground-truth files of a flat validation folder, looked for in the ImageNet root in this order:
/// Kaggle's `LOC_val_solution.csv` (WordNet ids) and Caffe's `val.txt` (`<file> <index>`, index in
/// the sorted-wnid order).
pub const GROUND_TRUTH: [&str; 2] = ["LOC_val_solution.csv", "val.txt"];

/// The index of an ImageNet folder: the synsets (sorted) and each split's images.
#[derive(Debug)]
pub struct ImageNetIndex {
    pub classes: Vec<String>,
    pub train: Vec<Entry>,
    pub val: Vec<Entry>,
    /// Where the validation labels came from: "class folders" or a ground-truth file's name.
    pub val_labels: String,
}

fn is_image(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref(),
        Some("jpeg" | "jpg" | "png")
    )
}

fn sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).at(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    Ok(v)
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap_or_default().to_string_lossy().into_owned()
}

/// `dir/<wnid>/<image>` entries, labelled by the position of the wnid in `classes`.
fn class_folders(dir: &Path, classes: &[String]) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for sub in sorted(dir)?.into_iter().filter(|p| p.is_dir()) {
        let wnid = name_of(&sub);
        let label = classes
            .iter()
            .position(|c| *c == wnid)
            .ok_or_else(|| Error::format(&sub, "is not one of the training set's synsets (train/<wnid>/ folders)"))?;
        for f in sorted(&sub)?.into_iter().filter(|p| is_image(p)) {
            out.push(Entry { path: f, label: label as u16, crop: None });
        }
    }
    Ok(out)
}

/// Reads the folder structure under `root` (the folder holding `train/` and `val/`).
pub fn read_index(root: &Path) -> Result<ImageNetIndex> {
    let (train_dir, val_dir) = (root.join("train"), root.join("val"));
    for d in [&train_dir, &val_dir] {
        if !d.is_dir() {
            return Err(Error::format(d, "no such folder (ImageNet reads ROOT/train/<wnid>/ and ROOT/val/)"));
        }
    }
    let classes: Vec<String> = sorted(&train_dir)?.iter().filter(|p| p.is_dir()).map(|p| name_of(p)).collect();
    if classes.is_empty() {
        return Err(Error::format(&train_dir, "holds no synset folders (expected train/n01440764/…)"));
    }
    let train = class_folders(&train_dir, &classes)?;
    let has_class_folders = sorted(&val_dir)?.iter().any(|p| p.is_dir());
    let (val, val_labels) = if has_class_folders {
        (class_folders(&val_dir, &classes)?, "class folders".to_string())
    } else {
        let gt = GROUND_TRUTH.iter().map(|f| root.join(f)).find(|p| p.is_file()).ok_or_else(|| {
            Error::format(
                &val_dir,
                format!(
                    "is flat but no ground truth was found: put {} in {} (the devkit's \
                     ILSVRC2012_validation_ground_truth.txt uses another class order; convert it, \
                     or sort val/ into class folders)",
                    GROUND_TRUTH.join(" or "),
                    root.display()
                ),
            )
        })?;
        (flat_val(&val_dir, &gt, &classes)?, name_of(&gt))
    };
    Ok(ImageNetIndex { classes, train, val, val_labels })
}

/// The flat validation folder's images, labelled by the ground-truth file `gt`.
fn flat_val(val_dir: &Path, gt: &Path, classes: &[String]) -> Result<Vec<Entry>> {
    let labels = read_ground_truth(gt, classes)?;
    let mut out = Vec::new();
    for f in sorted(val_dir)?.into_iter().filter(|p| is_image(p)) {
        let stem = f.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let label = *labels.get(&stem).ok_or_else(|| Error::format(gt, format!("has no label for {}", name_of(&f))))?;
        out.push(Entry { path: f, label, crop: None });
    }
    Ok(out)
}

/// Image stem → class index from one of the [`GROUND_TRUTH`] files.
fn read_ground_truth(gt: &Path, classes: &[String]) -> Result<HashMap<String, u16>> {
    let csv = gt.extension().is_some_and(|e| e == "csv");
    let mut map = HashMap::new();
    for (line, fields) in index_lines(gt)? {
        let (stem, label) = if csv {
            if line == 1 && fields.first().is_some_and(|f| f.starts_with("ImageId")) {
                continue;
            }
            let mut parts = fields.first().map(|f| f.splitn(2, ',')).into_iter().flatten();
            let (Some(stem), Some(wnid)) = (parts.next(), parts.next()) else {
                return Err(bad_line(gt, line, "'<ImageId>,<wnid> <box>…'"));
            };
            let label = classes.iter().position(|c| c == wnid).ok_or_else(|| {
                Error::format(gt, format!("line {line}: synset {wnid} is not among train/'s {} synsets", classes.len()))
            })?;
            (stem.to_string(), label)
        } else {
            let label = match fields.as_slice() {
                [_, v] => v.parse::<usize>().map_err(|_| bad_line(gt, line, "'<file> <class index>'"))?,
                _ => return Err(bad_line(gt, line, "'<file> <class index>'")),
            };
            if label >= classes.len() {
                return Err(bad_line(gt, line, &format!("a class index in 0..{}, not {label}", classes.len())));
            }
            let stem = Path::new(&fields[0]).file_stem().unwrap_or_default().to_string_lossy().into_owned();
            (stem, label)
        };
        map.insert(stem, label as u16);
    }
    Ok(map)
}
