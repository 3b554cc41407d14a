//! Readers on small files written in the exact published formats, and their errors.
use flate2::{write::GzEncoder, Compression};
use robustcnn::data::{self, cifar, folder, idx, DataSource};
use std::io::Write;
use std::path::Path;

fn idx_images(n: u32, h: u32, w: u32, pixels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [0x803u32, n, h, w] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend_from_slice(pixels);
    b
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x801u32.to_be_bytes());
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn err_of<T: std::fmt::Debug>(r: robustcnn::Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn idx_pair_reads_raw_and_gz_alike() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<u8> = (0..3 * 4 * 5).map(|i| i as u8).collect();
    std::fs::write(dir.path().join("im"), idx_images(3, 4, 5, &pixels)).unwrap();
    std::fs::write(dir.path().join("lb"), idx_labels(&[2, 0, 9])).unwrap();
    std::fs::write(dir.path().join("im.gz"), gz(&idx_images(3, 4, 5, &pixels))).unwrap();
    std::fs::write(dir.path().join("lb.gz"), gz(&idx_labels(&[2, 0, 9]))).unwrap();
    let names = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    let raw = idx::read_pair(&dir.path().join("im"), &dir.path().join("lb"), &names).unwrap();
    let gzd = idx::read_pair(&dir.path().join("im.gz"), &dir.path().join("lb.gz"), &names).unwrap();
    assert_eq!((raw.len(), raw.height, raw.width, raw.channels), (3, 4, 5, 1));
    assert_eq!(raw.labels, vec![2, 0, 9]);
    assert_eq!(raw.image(1), &pixels[20..40]);
    assert_eq!(raw.images, gzd.images);
}

#[test]
fn idx_errors_name_the_file_and_the_problem() {
    let p = Path::new("x-images");
    assert!(err_of(idx::parse_images(p, &[0, 0, 8])).contains("too short"));
    let mut wrong = idx_images(1, 2, 2, &[0; 4]);
    wrong[3] = 0x01;
    let e = err_of(idx::parse_images(p, &wrong));
    assert!(e.starts_with("x-images: wrong magic number 0x00000801"), "{e}");
    let e = err_of(idx::parse_images(p, &idx_images(2, 2, 2, &[0; 7])));
    assert!(e.contains("header says 2 images of 2x2 (8 bytes) but the file holds 7 bytes"), "{e}");
    let e = err_of(idx::parse_labels(Path::new("y"), &idx_labels(&[1, 2])[..9]));
    assert!(e.contains("header says 2 labels but the file holds 1"), "{e}");
}

#[test]
fn idx_label_count_mismatch_and_range_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("im"), idx_images(2, 1, 1, &[0, 0])).unwrap();
    std::fs::write(dir.path().join("lb"), idx_labels(&[1, 1, 1])).unwrap();
    std::fs::write(dir.path().join("lb2"), idx_labels(&[1, 12])).unwrap();
    let names = ["a", "b", "c"];
    let e = err_of(idx::read_pair(&dir.path().join("im"), &dir.path().join("lb"), &names));
    assert!(e.contains("3 labels for 2 images"), "{e}");
    let e = err_of(idx::read_pair(&dir.path().join("im"), &dir.path().join("lb2"), &names));
    assert!(e.contains("label 12 of sample 1 is out of range (expected 0..2)"), "{e}");
}

/// A CIFAR record: label bytes then R, G, B planes, pixel (p) of channel c = value(p, c).
fn cifar_record(labels: &[u8], value: impl Fn(usize, usize) -> u8) -> Vec<u8> {
    let mut r = labels.to_vec();
    for c in 0..3 {
        for p in 0..1024 {
            r.push(value(p, c));
        }
    }
    r
}

#[test]
fn cifar10_binary_planes_become_hwc() {
    let dir = tempfile::tempdir().unwrap();
    for i in 1..=5 {
        let recs: Vec<u8> =
            (0..4).flat_map(|k| cifar_record(&[(k + i) as u8 % 10], |p, c| (p + 7 * c) as u8)).collect();
        std::fs::write(dir.path().join(format!("data_batch_{i}.bin")), recs).unwrap();
    }
    std::fs::write(dir.path().join("test_batch.bin"), cifar_record(&[3], |p, c| (p * c) as u8)).unwrap();
    let s = cifar::read_cifar10(dir.path()).unwrap();
    assert_eq!((s.train.len(), s.test.len()), (20, 1));
    assert_eq!((s.train.height, s.train.width, s.train.channels), (32, 32, 3));
    // Pixel 33 (row 1, col 1), channel 2 of the first image: (33 + 14) as u8.
    assert_eq!(s.train.image(0)[33 * 3 + 2], 47);
    assert_eq!(s.train.labels[..4], [1, 2, 3, 4]);
    assert_eq!(s.test.labels, vec![3]);
    assert_eq!(s.train.class_names[0], "airplane");
}

#[test]
fn cifar_errors_truncated_and_label_range() {
    let p = Path::new("data_batch_1.bin");
    let mut rec = cifar_record(&[1], |_, _| 0);
    rec.pop();
    let e = err_of(cifar::parse_records(p, &rec, 1, 0, 10));
    assert!(e.contains("3072 bytes is not a whole number of 3073-byte CIFAR records"), "{e}");
    let e = err_of(cifar::parse_records(p, &cifar_record(&[10], |_, _| 0), 1, 0, 10));
    assert!(e.contains("label 10 of record 0 is out of range (expected 0..9)"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let e = err_of(cifar::read_cifar10(dir.path()));
    assert!(e.contains("data_batch_1.bin"), "{e}");
}

#[test]
fn cifar100_picks_fine_or_coarse_label() {
    let dir = tempfile::tempdir().unwrap();
    let recs: Vec<u8> = [cifar_record(&[4, 77], |_, _| 1), cifar_record(&[19, 99], |_, _| 2)].concat();
    std::fs::write(dir.path().join("train.bin"), &recs).unwrap();
    std::fs::write(dir.path().join("test.bin"), &recs).unwrap();
    let fine = cifar::read_cifar100(dir.path(), cifar::Cifar100Label::Fine).unwrap();
    let coarse = cifar::read_cifar100(dir.path(), cifar::Cifar100Label::Coarse).unwrap();
    assert_eq!(fine.train.labels, vec![77, 99]);
    assert_eq!(coarse.test.labels, vec![4, 19]);
    assert_eq!((fine.train.num_classes(), coarse.train.num_classes()), (100, 20));
}

fn write_png(path: &Path, w: u32, h: u32, value: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_pixel(w, h, image::Rgb([value, value / 2, 0])).save(path).unwrap();
}

#[test]
fn image_folder_classes_sizes_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_png(&root.join("cat/a.png"), 8, 6, 200);
    write_png(&root.join("dog/b.png"), 8, 6, 100);
    write_png(&root.join("dog/c.png"), 8, 6, 50);
    let ds = folder::read_folder(root, None, folder::Fit::Exact, false).unwrap();
    assert_eq!(ds.class_names, vec!["cat", "dog"]);
    assert_eq!(ds.labels, vec![0, 1, 1]);
    assert_eq!((ds.height, ds.width, ds.channels), (6, 8, 3));
    assert_eq!(&ds.image(0)[..3], &[200, 100, 0]);
    let gray = folder::read_folder(root, Some((4, 4)), folder::Fit::Resize, true).unwrap();
    assert_eq!((gray.height, gray.width, gray.channels), (4, 4, 1));

    write_png(&root.join("dog/d.png"), 5, 5, 10);
    let e = err_of(folder::read_folder(root, None, folder::Fit::Exact, false));
    assert!(e.contains("d.png: image is 5x5 but earlier images are 6x8; set a size with resize or center-crop"), "{e}");
    let ok = folder::read_folder(root, Some((6, 8)), folder::Fit::CenterCrop, false).unwrap();
    assert_eq!(ok.len(), 4);

    std::fs::write(root.join("dog/e.png"), b"not a png").unwrap();
    let e = err_of(folder::read_folder(root, Some((6, 8)), folder::Fit::Resize, false));
    assert!(e.contains("e.png: unreadable image"), "{e}");

    let empty = tempfile::tempdir().unwrap();
    assert!(err_of(folder::read_folder(empty.path(), None, folder::Fit::Exact, false)).contains("no class subfolders"));
    std::fs::create_dir_all(empty.path().join("cls")).unwrap();
    assert!(err_of(folder::read_folder(empty.path(), None, folder::Fit::Exact, false))
        .contains("hold no PNG or JPEG images"));
}

#[test]
fn embedded_subset_is_stratified() {
    let s = data::load("fashion-mnist-mini", &DataSource::default()).unwrap();
    assert_eq!((s.train.len(), s.test.len()), (6000, 1000));
    assert_eq!(s.train.class_counts(), vec![600; 10]);
    assert_eq!(s.test.class_counts(), vec![100; 10]);
    assert_eq!((s.train.height, s.train.width, s.train.channels), (28, 28, 1));
}

#[test]
fn unknown_dataset_and_missing_files_are_clear() {
    let e = err_of(data::load("imagenet-22k", &DataSource::default()));
    assert!(e.starts_with("unknown dataset 'imagenet-22k' (datasets: fashion-mnist-mini, fashion-mnist, mnist"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let src = DataSource { data_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let e = err_of(data::load("mnist", &src));
    assert!(e.contains("mnist: no train-images-idx3-ubyte[.gz] in"), "{e}");
    assert!(e.contains("robustcnn data fetch mnist"), "{e}");
}
