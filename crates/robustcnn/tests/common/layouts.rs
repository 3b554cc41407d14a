//! Small fixtures in the exact published layouts of PASCAL VOC 2012, CUB-200-2011 and ImageNet,
//! written for the readers' and the CLI's tests.
#![allow(dead_code)]
use std::path::{Path, PathBuf};

/// Writes a `w`×`h` image of colour `rgb` (PNG or JPEG by extension), with the rectangle
/// `mark` = (x, y, w, h) painted white when given.
pub fn image_file(path: &Path, (w, h): (u32, u32), rgb: [u8; 3], mark: Option<(u32, u32, u32, u32)>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = image::RgbImage::from_fn(w, h, |x, y| match mark {
        Some((mx, my, mw, mh)) if x >= mx && x < mx + mw && y >= my && y < my + mh => image::Rgb([255, 255, 255]),
        _ => image::Rgb(rgb),
    });
    img.save(path).unwrap();
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// One VOC object: class name and difficult flag.
pub type Object<'a> = (&'a str, bool);

/// An annotation file as the devkit writes it.
pub fn voc_xml(id: &str, objects: &[Object]) -> String {
    let mut s = format!("<annotation>\n\t<folder>VOC2012</folder>\n\t<filename>{id}.jpg</filename>\n");
    s += "\t<size><width>40</width><height>30</height><depth>3</depth></size>\n";
    for (name, difficult) in objects {
        s += &format!(
            "\t<object>\n\t\t<name>{name}</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n\t\t<difficult>{}</difficult>\n\t\t<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>20</xmax><ymax>20</ymax></bndbox>\n\t</object>\n",
            *difficult as u8
        );
    }
    s + "</annotation>\n"
}

/// `VOCdevkit/VOC2012` under `root` with the given train and val images; returns `root`.
pub fn voc(root: &Path, train: &[(&str, Vec<Object>)], val: &[(&str, Vec<Object>)]) -> PathBuf {
    let base = root.join("VOCdevkit/VOC2012");
    for (split, list) in [("train", train), ("val", val)] {
        let ids: Vec<&str> = list.iter().map(|(id, _)| *id).collect();
        write(&base.join(format!("ImageSets/Main/{split}.txt")), &(ids.join("\n") + "\n"));
        for (k, (id, objects)) in list.iter().enumerate() {
            write(&base.join(format!("Annotations/{id}.xml")), &voc_xml(id, objects));
            // Colour follows the first object's class, so a model can learn something.
            let c = objects.first().map_or(0, |o| o.0.len() as u8 * 20);
            image_file(&base.join(format!("JPEGImages/{id}.jpg")), (40, 30), [c, 255 - c, (k * 30) as u8], None);
        }
    }
    let trainval: Vec<&str> = train.iter().chain(val).map(|(id, _)| *id).collect();
    write(&base.join("ImageSets/Main/trainval.txt"), &(trainval.join("\n") + "\n"));
    root.to_path_buf()
}

/// A VOC fixture of 12 train and 8 val images over dog, cat and person, some objects difficult.
pub fn voc_default(root: &Path) -> PathBuf {
    let sets = |prefix: &str, n: usize| -> Vec<(String, Vec<Object<'static>>)> {
        (0..n)
            .map(|i| {
                let objects: Vec<Object> = match i % 4 {
                    0 => vec![("dog", false)],
                    1 => vec![("cat", false), ("person", i % 3 == 0)],
                    2 => vec![("person", false), ("dog", true)],
                    _ => vec![("cat", false), ("dog", false)],
                };
                (format!("{prefix}_{i:06}"), objects)
            })
            .collect()
    };
    let (train, val) = (sets("2008", 12), sets("2009", 8));
    let t: Vec<(&str, Vec<Object>)> = train.iter().map(|(id, o)| (id.as_str(), o.clone())).collect();
    let v: Vec<(&str, Vec<Object>)> = val.iter().map(|(id, o)| (id.as_str(), o.clone())).collect();
    voc(root, &t, &v)
}

/// `CUB_200_2011` under `root`: 3 classes, 4 images each (3 train, 1 test), 50×40 px, each with a
/// white 20×10 box at (10, 5) listed in bounding_boxes.txt; returns the `CUB_200_2011` folder.
pub fn cub(root: &Path) -> PathBuf {
    let base = root.join("CUB_200_2011");
    let classes = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"];
    let (mut images, mut labels, mut split, mut boxes) = (String::new(), String::new(), String::new(), String::new());
    let mut id = 0;
    for (c, class) in classes.iter().enumerate() {
        for k in 0..4 {
            id += 1;
            let rel = format!("{class}/{}_{k:04}_{id}.jpg", &class[4..]);
            image_file(&base.join("images").join(&rel), (50, 40), [40 * c as u8, 90, 200], Some((10, 5, 20, 10)));
            images += &format!("{id} {rel}\n");
            labels += &format!("{id} {}\n", c + 1);
            split += &format!("{id} {}\n", (k < 3) as u8);
            boxes += &format!("{id} 10.0 5.0 20.0 10.0\n");
        }
    }
    let list: String = classes.iter().enumerate().map(|(i, c)| format!("{} {c}\n", i + 1)).collect();
    write(&base.join("classes.txt"), &list);
    write(&base.join("images.txt"), &images);
    write(&base.join("image_class_labels.txt"), &labels);
    write(&base.join("train_test_split.txt"), &split);
    write(&base.join("bounding_boxes.txt"), &boxes);
    base
}

/// The synsets of the ImageNet fixture (sorted, the standard order).
pub const SYNSETS: [&str; 3] = ["n01440764", "n01443537", "n01484850"];

/// An ImageNet folder under `root`: train/<wnid>/ with 3 images per synset, and val/ flat with 2
/// images per synset and `gt` ("LOC_val_solution.csv" or "val.txt") or, for None, val/<wnid>/.
pub fn imagenet(root: &Path, gt: Option<&str>) -> PathBuf {
    for (c, wnid) in SYNSETS.iter().enumerate() {
        for k in 0..3 {
            image_file(&root.join(format!("train/{wnid}/{wnid}_{k}.JPEG")), (36, 28), [60 * c as u8, 10, 10], None);
        }
    }
    let (mut csv, mut txt) = (String::from("ImageId,PredictionString\n"), String::new());
    for i in 0..6 {
        // Val images interleave the classes: image i is of class (i * 2) % 3.
        let c = (i * 2) % 3;
        let name = format!("ILSVRC2012_val_{:08}", i + 1);
        let path = match gt {
            Some(_) => root.join(format!("val/{name}.JPEG")),
            None => root.join(format!("val/{}/{name}.JPEG", SYNSETS[c])),
        };
        image_file(&path, (30, 40), [60 * c as u8, 10, 10], None);
        csv += &format!("{name},{} 1 2 20 20 {} 3 3 10 10\n", SYNSETS[c], SYNSETS[c]);
        txt += &format!("{name}.JPEG {c}\n");
    }
    match gt {
        Some("LOC_val_solution.csv") => write(&root.join("LOC_val_solution.csv"), &csv),
        Some(_) => write(&root.join("val.txt"), &txt),
        None => {}
    }
    root.to_path_buf()
}

/// A Market-1501 folder under `root`: 4 training identities on cameras 1 and 2 (2 images each),
/// 3 query identities on camera 1, and a gallery of those identities on cameras 1-3 plus junk
/// (-1) and distractors (0000). Colours follow the identity. Returns `root`.
pub fn market(root: &Path) -> PathBuf {
    let colour = |id: i64| [(id * 50 % 256) as u8, (255 - id * 30 % 256) as u8, 60];
    let put = |dir: &str, id: i64, cam: u32, k: u32| {
        let name =
            if id < 0 { format!("-1_c{cam}s1_{k:06}_00.jpg") } else { format!("{id:04}_c{cam}s1_{k:06}_01.jpg") };
        image_file(&root.join(dir).join(name), (16, 32), colour(id.max(0)), None);
    };
    for id in [2, 7, 10, 11] {
        for cam in [1, 2] {
            for k in 0..2 {
                put("bounding_box_train", id, cam, 100 * cam + k);
            }
        }
    }
    for id in [3, 5, 8] {
        put("query", id, 1, 1);
        put("bounding_box_test", id, 1, 2);
        put("bounding_box_test", id, 2, 3);
        put("bounding_box_test", id, 3, 4);
    }
    put("bounding_box_test", -1, 2, 5);
    put("bounding_box_test", 0, 3, 6);
    root.to_path_buf()
}
