//! CIFAR-10 and CIFAR-100 binary files (www.cs.toronto.edu/~kriz/cifar.html "binary version").
//!
//! CIFAR-10 records are 1 label byte + 3072 pixel bytes; CIFAR-100 records are a coarse and a fine
//! label byte + 3072 pixel bytes. Pixels are stored as three 32×32 planes (R, G, B); we keep HWC.
use super::Dataset;
use crate::error::{Error, IoContext, Result};
use std::path::Path;

const PIXELS: usize = 32 * 32 * 3;

pub const CIFAR10_CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// Which CIFAR-100 label to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cifar100Label {
    Fine,
    Coarse,
}

/// Parses one binary batch file with `label_bytes` label bytes per record; keeps label `label_at`.
pub fn parse_records(
    path: &Path,
    bytes: &[u8],
    label_bytes: usize,
    label_at: usize,
    num_classes: usize,
) -> Result<(Vec<u8>, Vec<u16>)> {
    let record = label_bytes + PIXELS;
    if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
        return Err(Error::format(
            path,
            format!("{} bytes is not a whole number of {record}-byte CIFAR records", bytes.len()),
        ));
    }
    let n = bytes.len() / record;
    let mut images = vec![0u8; n * PIXELS];
    let mut labels = Vec::with_capacity(n);
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        let y = rec[label_at] as usize;
        if y >= num_classes {
            return Err(Error::format(
                path,
                format!("label {y} of record {i} is out of range (expected 0..{})", num_classes - 1),
            ));
        }
        labels.push(y as u16);
        let planes = &rec[label_bytes..];
        let out = &mut images[i * PIXELS..(i + 1) * PIXELS];
        for p in 0..1024 {
            for c in 0..3 {
                out[p * 3 + c] = planes[c * 1024 + p];
            }
        }
    }
    Ok((images, labels))
}

fn read_files(
    paths: &[std::path::PathBuf],
    label_bytes: usize,
    label_at: usize,
    names: Vec<String>,
) -> Result<Dataset> {
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for path in paths {
        let bytes = std::fs::read(path).at(path)?;
        let (im, ys) = parse_records(path, &bytes, label_bytes, label_at, names.len())?;
        images.extend(im);
        labels.extend(ys);
    }
    Dataset::new(&paths[0], images, labels, (32, 32, 3), names)
}

/// Reads CIFAR-10 from `dir` (the unpacked `cifar-10-batches-bin`): train and test sets.
pub fn read_cifar10(dir: &Path) -> Result<super::Splits> {
    Ok(super::Splits { train: read_cifar10_split(dir, true)?, test: read_cifar10_split(dir, false)? })
}

/// Reads one split of CIFAR-10 from `dir`: the five training batches, or only `test_batch.bin`.
pub fn read_cifar10_split(dir: &Path, train: bool) -> Result<Dataset> {
    let names: Vec<String> = match std::fs::read_to_string(dir.join("batches.meta.txt")) {
        Ok(text) => text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect(),
        Err(_) => CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect(),
    };
    if names.len() != 10 {
        return Err(Error::format(&dir.join("batches.meta.txt"), format!("{} class names, expected 10", names.len())));
    }
    let files: Vec<_> = if train {
        (1..=5).map(|i| dir.join(format!("data_batch_{i}.bin"))).collect()
    } else {
        vec![dir.join("test_batch.bin")]
    };
    read_files(&files, 1, 0, names)
}

/// Reads CIFAR-100 from `dir` (the unpacked `cifar-100-binary`), with fine or coarse labels.
pub fn read_cifar100(dir: &Path, label: Cifar100Label) -> Result<super::Splits> {
    Ok(super::Splits { train: read_cifar100_split(dir, label, true)?, test: read_cifar100_split(dir, label, false)? })
}

/// Reads one split of CIFAR-100 from `dir`: `train.bin` or `test.bin`.
pub fn read_cifar100_split(dir: &Path, label: Cifar100Label, train: bool) -> Result<Dataset> {
    let (file, count, at) = match label {
        Cifar100Label::Fine => ("fine_label_names.txt", 100, 1),
        Cifar100Label::Coarse => ("coarse_label_names.txt", 20, 0),
    };
    let names: Vec<String> = match std::fs::read_to_string(dir.join(file)) {
        Ok(text) => text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect(),
        Err(_) => (0..count).map(|i| format!("class{i}")).collect(),
    };
    if names.len() != count {
        return Err(Error::format(&dir.join(file), format!("{} class names, expected {count}", names.len())));
    }
    read_files(&[dir.join(if train { "train.bin" } else { "test.bin" })], 2, at, names)
}
