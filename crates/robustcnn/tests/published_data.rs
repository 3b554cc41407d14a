//! The readers of CUB-200-2011, ImageNet and PASCAL VOC 2012 on fixtures in their published
//! layouts, their errors, and the devkit's AP and mAP against hand-computed values.
#[path = "common/layouts.rs"]
mod layouts;
use robustcnn::data::folder::Fit;
use robustcnn::data::{cub, imagenet, load_split, voc, DataSource};
use robustcnn::eval::multilabel::{average_precision, multilabel_metrics, ApMethod};

fn source(dir: &std::path::Path, side: usize) -> DataSource {
    DataSource { data_dir: Some(dir.to_path_buf()), image_size: Some((side, side)), ..Default::default() }
}

fn err_text<T: std::fmt::Debug>(r: robustcnn::error::Result<T>) -> String {
    r.unwrap_err().to_string()
}

// ---- AP and mAP (docs/multilabel.md §3) ----

#[test]
fn all_points_and_eleven_point_ap_match_hand_computed_values() {
    // Ranked: pos, neg, pos, neg → (recall, precision) = (.5, 1), (.5, .5), (1, 2/3), (1, .5).
    let (s, t) = ([0.9, 0.8, 0.7, 0.6], [1, -1, 1, -1]);
    // All points: 0.5 × 1 + 0.5 × 2/3.
    assert!((average_precision(&s, &t, ApMethod::AllPoints).unwrap() - (0.5 + 1.0 / 3.0)).abs() < 1e-12);
    // 11 points: recall ≥ 0…0.5 reach precision 1 (6 points), ≥ 0.6…1 reach 2/3 (5 points).
    let eleven = (6.0 + 5.0 * 2.0 / 3.0) / 11.0;
    assert!((average_precision(&s, &t, ApMethod::ElevenPoint).unwrap() - eleven).abs() < 1e-12);
}

#[test]
fn difficult_images_are_left_out_of_the_ranking() {
    let with = average_precision(&[0.99, 0.9, 0.8, 0.7, 0.6], &[0, 1, -1, 1, -1], ApMethod::AllPoints);
    let without = average_precision(&[0.9, 0.8, 0.7, 0.6], &[1, -1, 1, -1], ApMethod::AllPoints);
    assert_eq!(with, without);
    // A difficult image counted as a negative would lower the AP.
    let as_negative = average_precision(&[0.99, 0.9, 0.8, 0.7, 0.6], &[-1, 1, -1, 1, -1], ApMethod::AllPoints);
    assert!(as_negative.unwrap() < with.unwrap());
}

#[test]
fn tied_scores_keep_image_order_as_the_devkit_stable_sort_does() {
    // Negative first: recall 1 is reached at precision 1/2.
    assert_eq!(average_precision(&[0.5, 0.5], &[-1, 1], ApMethod::AllPoints), Some(0.5));
    assert_eq!(average_precision(&[0.5, 0.5], &[1, -1], ApMethod::AllPoints), Some(1.0));
}

#[test]
fn a_class_without_positives_is_reported_and_not_averaged_in() {
    let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    // Class a: perfect ranking; b: worst ranking of one positive among two; c: no positive (one difficult).
    let scores = [0.9, 0.1, 0.5, 0.2, 0.8, 0.4];
    let targets = [1, -1, -1, -1, -1, 0];
    let m = multilabel_metrics(&scores, &targets, &names, ApMethod::AllPoints);
    assert_eq!(m.per_class_ap[0], Some(1.0));
    assert_eq!(m.per_class_ap[1], None, "b has no positive image");
    assert_eq!(m.per_class_ap[2], None);
    assert_eq!(m.classes_without_positives, vec!["b".to_string(), "c".to_string()]);
    assert_eq!(m.map, 1.0, "the mean is over the classes with positives only");
    let targets = [1, -1, -1, -1, 1, -1];
    let m = multilabel_metrics(&scores, &targets, &names, ApMethod::AllPoints);
    // b: scores 0.1 (neg) and 0.8 (pos): AP 1. Mean over a and b.
    assert_eq!(m.per_class_ap[1], Some(1.0));
    assert_eq!(m.classes_without_positives, vec!["c".to_string()]);
}

// ---- PASCAL VOC 2012 ----

#[test]
fn voc_targets_follow_the_devkit_with_difficult_objects() {
    let dir = tempfile::tempdir().unwrap();
    layouts::voc(
        dir.path(),
        &[("2008_000001", vec![("dog", false), ("person", true)]), ("2008_000002", vec![("cat", true)])],
        &[("2008_000003", vec![("cat", false), ("cat", true)])],
    );
    let root = dir.path().join("VOCdevkit/VOC2012");
    let s = voc::read_split(&root, "train").unwrap();
    let (dog, person, cat) = (11, 14, 7);
    assert_eq!(s.targets.len(), 40);
    assert_eq!((s.targets[dog], s.targets[person], s.targets[cat]), (1, 0, -1));
    assert_eq!((s.targets[20 + cat], s.targets[20 + dog]), (0, -1), "only difficult cats: 0");
    assert_eq!((s.objects, s.difficult), (3, 2));
    let v = voc::read_split(&root, "val").unwrap();
    assert_eq!(v.targets[cat], 1, "a non-difficult cat makes the class present");
    let ds = load_split("voc2012", &source(dir.path(), 16), "test").unwrap();
    assert!(ds.is_multi_label());
    assert_eq!((ds.len(), ds.height, ds.num_classes()), (1, 16, 20));
    assert_eq!(ds.target_row(0).unwrap()[cat], 1);
}

#[test]
fn voc_errors_name_the_file_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    layouts::voc(dir.path(), &[("a1", vec![("dog", false)])], &[("a2", vec![("dog", false)])]);
    let root = dir.path().join("VOCdevkit/VOC2012");
    let xml = root.join("Annotations/a1.xml");
    std::fs::write(&xml, "<annotation><object><name>dog</name></annotation>").unwrap();
    let e = err_text(voc::read_split(&root, "train"));
    assert!(e.contains("a1.xml") && e.contains("malformed XML"), "{e}");
    std::fs::write(&xml, layouts::voc_xml("a1", &[("wolf", false)])).unwrap();
    let e = err_text(voc::read_split(&root, "train"));
    assert!(e.contains("unknown class 'wolf'") && e.contains("aeroplane"), "{e}");
    std::fs::write(&xml, layouts::voc_xml("a1", &[("dog", false)]).replace("<difficult>0", "<difficult>2")).unwrap();
    assert!(err_text(voc::read_split(&root, "train")).contains("expected 0 or 1"));
    std::fs::remove_file(root.join("Annotations/a2.xml")).unwrap();
    let e = err_text(voc::read_split(&root, "val"));
    assert!(e.contains("a2.xml") && e.contains("missing"), "{e}");
    let e = err_text(load_split(
        "voc2012",
        &DataSource { data_dir: Some(dir.path().into()), ..Default::default() },
        "test",
    ));
    assert!(e.contains("data.image_size"), "{e}");
}

// ---- CUB-200-2011 ----

#[test]
fn cub_reads_the_official_split_and_crops_to_the_bounding_box() {
    let dir = tempfile::tempdir().unwrap();
    let root = layouts::cub(dir.path());
    let idx = cub::read_index(&root, false).unwrap();
    assert_eq!((idx.classes.len(), idx.train.len(), idx.test.len()), (3, 9, 3));
    assert_eq!(idx.test.iter().map(|e| e.label).collect::<Vec<_>>(), vec![0, 1, 2]);
    let src = DataSource { fit: Some(Fit::Resize), ..source(dir.path(), 8) };
    let whole = load_split("cub200", &src, "train").unwrap();
    let cropped = load_split("cub200-bbox", &src, "train").unwrap();
    let white =
        |d: &robustcnn::data::Dataset| d.image(0).iter().filter(|&&v| v > 240).count() as f64 / d.image_size() as f64;
    assert!(white(&cropped) > 0.95, "the box is white: {}", white(&cropped));
    assert!(white(&whole) < 0.3, "the whole image is mostly colour: {}", white(&whole));
    assert_eq!(cropped.labels, whole.labels);
}

#[test]
fn cub_errors_name_the_file_line_and_expectation() {
    let dir = tempfile::tempdir().unwrap();
    let root = layouts::cub(dir.path());
    std::fs::write(root.join("image_class_labels.txt"), "1 1\n2 7\n").unwrap();
    let e = err_text(cub::read_index(&root, false));
    assert!(e.contains("image_class_labels.txt") && e.contains("out of range") && e.contains("1..=3"), "{e}");
    std::fs::write(root.join("train_test_split.txt"), "1 1\nthis is not a line\n").unwrap();
    let e = err_text(cub::read_index(&root, false));
    assert!(e.contains("train_test_split.txt: line 2: expected"), "{e}");
    let fresh = tempfile::tempdir().unwrap();
    let root = layouts::cub(fresh.path());
    std::fs::remove_file(root.join("bounding_boxes.txt")).unwrap();
    let e = err_text(cub::read_index(&root, true));
    assert!(e.contains("bounding_boxes.txt") && e.contains("missing"), "{e}");
}

// ---- ImageNet ----

#[test]
fn imagenet_val_labels_agree_across_the_three_layouts() {
    let mut labels = Vec::new();
    for gt in [Some("LOC_val_solution.csv"), Some("val.txt"), None] {
        let dir = tempfile::tempdir().unwrap();
        layouts::imagenet(dir.path(), gt);
        let idx = imagenet::read_index(dir.path()).unwrap();
        assert_eq!(idx.classes, layouts::SYNSETS.to_vec());
        assert_eq!(idx.train.len(), 9);
        let mut l: Vec<(String, u16)> =
            idx.val.iter().map(|e| (e.path.file_name().unwrap().to_string_lossy().into_owned(), e.label)).collect();
        l.sort();
        labels.push(l);
        let ds = load_split("imagenet", &source(dir.path(), 12), "test").unwrap();
        assert_eq!((ds.len(), ds.height, ds.width, ds.num_classes()), (6, 12, 12, 3));
    }
    assert_eq!(labels[0], labels[1]);
    assert_eq!(labels[0], labels[2]);
    assert_eq!(labels[0][1].1, 2, "val image 2 is of class (1·2) mod 3");
}

#[test]
fn imagenet_errors_name_the_missing_ground_truth_and_bad_labels() {
    let dir = tempfile::tempdir().unwrap();
    layouts::imagenet(dir.path(), Some("val.txt"));
    std::fs::write(dir.path().join("val.txt"), "ILSVRC2012_val_00000001.JPEG 3\n").unwrap();
    let e = err_text(imagenet::read_index(dir.path()));
    assert!(e.contains("val.txt: line 1: expected a class index in 0..3, not 3"), "{e}");
    std::fs::remove_file(dir.path().join("val.txt")).unwrap();
    let e = err_text(imagenet::read_index(dir.path()));
    assert!(e.contains("LOC_val_solution.csv or val.txt"), "{e}");
    std::fs::write(
        dir.path().join("LOC_val_solution.csv"),
        "ImageId,PredictionString\nILSVRC2012_val_00000001,n99999999 1 1 2 2\n",
    )
    .unwrap();
    let e = err_text(imagenet::read_index(dir.path()));
    assert!(e.contains("synset n99999999"), "{e}");
}

#[test]
fn the_multi_label_attack_objective_is_the_per_class_bce_summed_per_image() {
    use robustcnn::attacks::{objective, LossKind};
    let logits = tch::Tensor::from_slice(&[2.0f32, -1.0, 0.5, 0.0]).reshape([2, 2]);
    let y = tch::Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0]).reshape([2, 2]);
    let got = Vec::<f32>::try_from(&objective(&logits, &y, None, LossKind::Ce)).unwrap();
    let bce = |z: f32, t: f32| -(t * (1.0 / (1.0 + (-z).exp())).ln() + (1.0 - t) * (1.0 / (1.0 + z.exp())).ln());
    let want = [bce(2.0, 1.0) + bce(-1.0, 0.0), bce(0.5, 0.0) + bce(0.0, 1.0)];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
    }
}

#[test]
fn a_split_decoded_on_demand_holds_no_pixels_and_gives_the_same_images() {
    let dir = tempfile::tempdir().unwrap();
    layouts::cub(dir.path());
    let at_once =
        load_split("cub200", &DataSource { on_demand: Some(false), ..source(dir.path(), 10) }, "train").unwrap();
    let lazy = load_split("cub200", &DataSource { on_demand: Some(true), ..source(dir.path(), 10) }, "train").unwrap();
    assert!(at_once.on_demand.is_none() && lazy.on_demand.is_some());
    assert!(lazy.images.is_empty() && at_once.images.len() == 9 * 10 * 10 * 3);
    assert_eq!(lazy.labels, at_once.labels);
    for i in 0..9 {
        assert_eq!(lazy.image(i), at_once.image(i));
    }
    let picked = lazy.select(&[4, 1]);
    assert!(picked.on_demand.is_some() && picked.images.is_empty());
    assert_eq!(
        (picked.image(0), picked.labels.clone()),
        (at_once.image(4), vec![at_once.labels[4], at_once.labels[1]])
    );
    // The test split is always decoded at once: corruptions are made from its bytes.
    let test = load_split("cub200", &DataSource { on_demand: Some(true), ..source(dir.path(), 10) }, "test").unwrap();
    assert!(test.on_demand.is_none() && !test.images.is_empty());
}
