//! PASCAL VOC 2012 classification in its published layout: `ImageSets/Main/<split>.txt`,
//! `Annotations/<id>.xml` and `JPEGImages/<id>.jpg` under `VOCdevkit/VOC2012`; each image's
//! targets follow the devkit (docs/multilabel.md §1).
use super::listed::{bad_line, index_lines, required_file, Entry};
use crate::error::{Error, IoContext, Result};
use std::path::Path;

/// The 20 VOC classes in the devkit's order.
pub const VOC_CLASSES: [&str; 20] = [
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
];

const LAYOUT: &str = "VOCdevkit/VOC2012";

/// One split of VOC: its images and their targets (images × 20, 1 present, -1 absent, 0 difficult only).
#[derive(Debug)]
pub struct VocSplit {
    pub entries: Vec<Entry>,
    pub targets: Vec<i8>,
    /// Objects read and, of those, marked difficult.
    pub objects: usize,
    pub difficult: usize,
}

/// Reads split `split` ("train", "val" or "trainval") of the VOC2012 folder `root`.
pub fn read_split(root: &Path, split: &str) -> Result<VocSplit> {
    let list = required_file(&root.join("ImageSets/Main"), &format!("{split}.txt"), LAYOUT)?;
    let mut out = VocSplit { entries: Vec::new(), targets: Vec::new(), objects: 0, difficult: 0 };
    for (line, fields) in index_lines(&list)? {
        let [id] = fields.as_slice() else { return Err(bad_line(&list, line, "one image id such as 2008_000008")) };
        let xml = required_file(&root.join("Annotations"), &format!("{id}.xml"), LAYOUT)?;
        let objects = read_objects(&xml)?;
        let mut row = [-1i8; 20];
        for &(class, difficult) in &objects {
            row[class] = row[class].max(if difficult { 0 } else { 1 });
        }
        out.objects += objects.len();
        out.difficult += objects.iter().filter(|o| o.1).count();
        let label = row.iter().position(|&v| v == 1).or_else(|| row.iter().position(|&v| v == 0)).unwrap_or(0);
        let image = root.join("JPEGImages").join(format!("{id}.jpg"));
        out.entries.push(Entry { path: image, label: label as u16, crop: None });
        out.targets.extend_from_slice(&row);
    }
    Ok(out)
}

/// The (class index, difficult) of every object in an annotation file.
pub fn read_objects(xml: &Path) -> Result<Vec<(usize, bool)>> {
    let text = std::fs::read_to_string(xml).at(xml)?;
    let doc = roxmltree::Document::parse(&text).map_err(|e| Error::format(xml, format!("malformed XML: {e}")))?;
    let child_text = |node: roxmltree::Node, tag: &str| {
        node.children().find(|c| c.has_tag_name(tag)).and_then(|c| c.text()).map(str::trim).map(str::to_string)
    };
    let mut objects = Vec::new();
    for obj in doc.root_element().children().filter(|c| c.has_tag_name("object")) {
        let name = child_text(obj, "name").ok_or_else(|| Error::format(xml, "an <object> has no <name>"))?;
        let class = VOC_CLASSES.iter().position(|c| *c == name).ok_or_else(|| {
            Error::format(xml, format!("unknown class '{name}' (VOC's 20 classes: {})", VOC_CLASSES.join(", ")))
        })?;
        let difficult = match child_text(obj, "difficult").as_deref() {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => return Err(Error::format(xml, format!("<difficult> is '{other}', expected 0 or 1"))),
        };
        objects.push((class, difficult));
    }
    Ok(objects)
}
