//! MNIST / Fashion-MNIST IDX files, raw or gzip-compressed (yann.lecun.com/exdb/mnist layout).
use crate::error::{Error, IoContext, Result};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

/// Gunzips `raw` when it starts with the gzip magic; `path` names the file in errors.
pub fn decode_maybe_gz(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::format(path, format!("corrupt gzip data: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Parses IDX image bytes (magic 0x803, u8, N×H×W) into (images, n, height, width).
pub fn parse_images(path: &Path, bytes: &[u8]) -> Result<(Vec<u8>, usize, usize, usize)> {
    if bytes.len() < 16 {
        return Err(Error::format(
            path,
            format!("{} bytes is too short for an IDX image header (16 bytes)", bytes.len()),
        ));
    }
    let magic = be_u32(bytes, 0);
    if magic != IMAGES_MAGIC {
        return Err(Error::format(
            path,
            format!("wrong magic number 0x{magic:08x}, expected 0x{IMAGES_MAGIC:08x} (IDX u8 images)"),
        ));
    }
    let (n, h, w) = (be_u32(bytes, 4) as usize, be_u32(bytes, 8) as usize, be_u32(bytes, 12) as usize);
    let expected = n.checked_mul(h).and_then(|x| x.checked_mul(w)).unwrap_or(usize::MAX);
    let body = bytes.len() - 16;
    if body != expected || h == 0 || w == 0 {
        return Err(Error::format(
            path,
            format!("header says {n} images of {h}x{w} ({expected} bytes) but the file holds {body} bytes"),
        ));
    }
    Ok((bytes[16..].to_vec(), n, h, w))
}

/// Parses IDX label bytes (magic 0x801, u8, N).
pub fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u16>> {
    if bytes.len() < 8 {
        return Err(Error::format(
            path,
            format!("{} bytes is too short for an IDX label header (8 bytes)", bytes.len()),
        ));
    }
    let magic = be_u32(bytes, 0);
    if magic != LABELS_MAGIC {
        return Err(Error::format(
            path,
            format!("wrong magic number 0x{magic:08x}, expected 0x{LABELS_MAGIC:08x} (IDX u8 labels)"),
        ));
    }
    let n = be_u32(bytes, 4) as usize;
    if bytes.len() - 8 != n {
        return Err(Error::format(path, format!("header says {n} labels but the file holds {}", bytes.len() - 8)));
    }
    Ok(bytes[8..].iter().map(|&b| b as u16).collect())
}

/// Builds a grayscale dataset from IDX image and label bytes; the paths name them in errors.
fn dataset_from(images: (&Path, &[u8]), labels: (&Path, &[u8]), class_names: &[&str]) -> Result<super::Dataset> {
    let (pixels, n, h, w) = parse_images(images.0, images.1)?;
    let ys = parse_labels(labels.0, labels.1)?;
    if ys.len() != n {
        return Err(Error::format(labels.0, format!("{} labels for {n} images in {}", ys.len(), images.0.display())));
    }
    let names = class_names.iter().map(|s| s.to_string()).collect();
    super::Dataset::new(labels.0, pixels, ys, (h, w, 1), names)
}

/// Reads an IDX image file and its label file (raw or gz) into a grayscale dataset.
pub fn read_pair(images: &Path, labels: &Path, class_names: &[&str]) -> Result<super::Dataset> {
    let read = |p: &Path| std::fs::read(p).at(p);
    from_file_bytes((images, read(images)?), (labels, read(labels)?), class_names)
}

/// Builds a dataset from the contents of an IDX image file and its label file (raw or gz).
pub fn from_file_bytes(
    images: (&Path, Vec<u8>),
    labels: (&Path, Vec<u8>),
    class_names: &[&str],
) -> Result<super::Dataset> {
    let pixels = decode_maybe_gz(images.0, images.1)?;
    let ys = decode_maybe_gz(labels.0, labels.1)?;
    dataset_from((images.0, &pixels), (labels.0, &ys), class_names)
}

/// Parses in-memory IDX bytes (raw or gz); `name` stands in for a path in errors.
pub fn from_bytes(name: &str, images: &[u8], labels: &[u8], class_names: &[&str]) -> Result<super::Dataset> {
    let path = Path::new(name);
    from_file_bytes((path, images.to_vec()), (path, labels.to_vec()), class_names)
}
