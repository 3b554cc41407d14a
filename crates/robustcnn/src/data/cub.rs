//! CUB-200-2011 in its published layout: `images.txt`, `image_class_labels.txt`,
//! `train_test_split.txt`, `classes.txt`, `images/`, and optionally `bounding_boxes.txt`
//! (docs/datasets.md §CUB-200-2011).
use super::listed::{bad_line, index_lines, required_file, Entry};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const LAYOUT: &str = "CUB_200_2011";

/// The index of CUB-200-2011: class names and each split's images.
#[derive(Debug)]
pub struct CubIndex {
    pub classes: Vec<String>,
    pub train: Vec<Entry>,
    pub test: Vec<Entry>,
}

/// `id value…` lines of a CUB index file as a map from image id to the values.
fn by_id(path: &Path, fields: usize, what: &str) -> Result<HashMap<u64, Vec<String>>> {
    let mut map = HashMap::new();
    for (line, f) in index_lines(path)? {
        let id = f.first().and_then(|v| v.parse::<u64>().ok()).filter(|_| f.len() == fields + 1);
        let Some(id) = id else { return Err(bad_line(path, line, what)) };
        map.insert(id, f[1..].to_vec());
    }
    Ok(map)
}

/// Reads the index files under `root` (the `CUB_200_2011` folder); with `crop`, each entry carries
/// its bird's bounding box.
pub fn read_index(root: &Path, crop: bool) -> Result<CubIndex> {
    let file = |name: &str| required_file(root, name, LAYOUT);
    let classes_txt = file("classes.txt")?;
    let mut classes = Vec::new();
    for (line, f) in index_lines(&classes_txt)? {
        if f.len() != 2 || f[0].parse::<usize>().ok() != Some(classes.len() + 1) {
            return Err(bad_line(&classes_txt, line, &format!("'{} <class name>'", classes.len() + 1)));
        }
        classes.push(f[1].clone());
    }
    if classes.is_empty() {
        return Err(Error::format(&classes_txt, "lists no classes"));
    }
    let images_txt = file("images.txt")?;
    let labels_txt = file("image_class_labels.txt")?;
    let split_txt = file("train_test_split.txt")?;
    let labels = by_id(&labels_txt, 1, "'<image id> <class id>'")?;
    let split = by_id(&split_txt, 1, "'<image id> <1 train | 0 test>'")?;
    let boxes = if crop {
        let p = file("bounding_boxes.txt")?;
        Some((by_id(&p, 4, "'<image id> <x> <y> <width> <height>'")?, p))
    } else {
        None
    };
    let image_dir = root.join("images");
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (line, f) in index_lines(&images_txt)? {
        let id = match (f.len(), f.first().and_then(|v| v.parse::<u64>().ok())) {
            (2, Some(id)) => id,
            _ => return Err(bad_line(&images_txt, line, "'<image id> <relative path>'")),
        };
        let class = labels
            .get(&id)
            .and_then(|v| v[0].parse::<usize>().ok())
            .ok_or_else(|| Error::format(&labels_txt, format!("no class for image {id}")))?;
        if class == 0 || class > classes.len() {
            return Err(Error::format(
                &labels_txt,
                format!("image {id}'s class {class} is out of range (expected 1..={})", classes.len()),
            ));
        }
        let is_train = match split.get(&id).map(|v| v[0].as_str()) {
            Some("1") => true,
            Some("0") => false,
            _ => return Err(Error::format(&split_txt, format!("image {id} is not marked 1 (train) or 0 (test)"))),
        };
        let crop = match &boxes {
            Some((b, p)) => Some(parse_box(b.get(&id), p, id)?),
            None => None,
        };
        let entry = Entry { path: image_dir.join(PathBuf::from(&f[1])), label: (class - 1) as u16, crop };
        if is_train { &mut train } else { &mut test }.push(entry);
    }
    Ok(CubIndex { classes, train, test })
}

fn parse_box(values: Option<&Vec<String>>, path: &Path, id: u64) -> Result<[f64; 4]> {
    let v: Vec<f64> = values.map(|v| v.iter().filter_map(|s| s.parse().ok()).collect()).unwrap_or_default();
    match v.as_slice() {
        &[x, y, w, h] if w > 0.0 && h > 0.0 => Ok([x, y, w, h]),
        _ => Err(Error::format(path, format!("no box 'x y width height' with positive sides for image {id}"))),
    }
}
