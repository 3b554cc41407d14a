//! Datasets whose images an index names (CUB-200, ImageNet, PASCAL VOC): decoding the listed files,
//! on every core, into one in-memory [`Dataset`].
use super::folder::{decode_cropped, Fit};
use super::Dataset;
use crate::error::{Error, IoContext, Result};
use std::path::{Path, PathBuf};

/// One listed image: its file, its class and an optional crop box (x, y, width, height).
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub path: PathBuf,
    pub label: u16,
    pub crop: Option<[f64; 4]>,
}

/// How listed images are brought to one size: `size` = (height, width) and how to fit them.
#[derive(Clone, Copy, Debug)]
pub struct Sizing {
    pub size: (usize, usize),
    pub fit: Fit,
    pub gray: bool,
}

impl Sizing {
    /// The sizing a data source asks for; `name`'s images differ in size, so a size is required.
    pub fn required(name: &str, size: Option<(usize, usize)>, fit: Option<Fit>, gray: bool) -> Result<Sizing> {
        Self::required_or(name, size, fit.unwrap_or(Fit::CenterCrop), gray)
    }

    /// [`Self::required`] with `fit` where the source sets none.
    pub fn required_or(name: &str, size: Option<(usize, usize)>, fit: Fit, gray: bool) -> Result<Sizing> {
        let size = size.ok_or_else(|| {
            Error::Config(format!(
                "dataset '{name}' needs a size to decode its images to: set data.image_size, e.g. [224, 224] (or --input-size)"
            ))
        })?;
        Ok(Sizing { size, fit, gray })
    }
}

/// Decoded bytes of a split above which it is decoded on demand when `data.on_demand` is unset.
pub const ON_DEMAND_BYTES: usize = 8 << 30;

/// A split whose images are decoded when a batch needs them, for splits too large to hold decoded
/// (ImageNet's training set; docs/datasets.md §Memory).
#[derive(Debug)]
pub struct OnDemand {
    pub entries: Vec<Entry>,
    pub sizing: Sizing,
}

impl OnDemand {
    /// Image `i`, decoded and sized as the split's other images.
    pub fn decode(&self, i: usize) -> Result<Vec<u8>> {
        let e = &self.entries[i];
        let bytes = std::fs::read(&e.path).at(&e.path)?;
        let mut target = Some(self.sizing.size);
        decode_cropped(&e.path, &bytes, e.crop, &mut target, self.sizing.fit, self.sizing.gray)
    }

    /// The entries at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> OnDemand {
        OnDemand { entries: indices.iter().map(|&i| self.entries[i].clone()).collect(), sizing: self.sizing }
    }
}

/// A dataset over `entries` that decodes each image when it is needed (`on_demand`), else at once.
pub fn listed_dataset(
    root: &Path,
    entries: &[Entry],
    sizing: Sizing,
    class_names: Vec<String>,
    on_demand: Option<bool>,
) -> Result<Dataset> {
    let (h, w) = sizing.size;
    let bytes = entries.len() * h * w * if sizing.gray { 1 } else { 3 };
    if !on_demand.unwrap_or(bytes > ON_DEMAND_BYTES) {
        return read_entries(root, entries, sizing, class_names);
    }
    if entries.is_empty() {
        return Err(Error::format(root, "the index lists no images for this split"));
    }
    // The first image is decoded now, so that an unreadable split fails before training starts.
    let lazy = OnDemand { entries: entries.to_vec(), sizing };
    lazy.decode(0)?;
    let labels = entries.iter().map(|e| e.label).collect();
    let mut ds = Dataset::new(root, Vec::new(), Vec::new(), (h, w, if sizing.gray { 1 } else { 3 }), class_names)?;
    ds.labels = labels;
    ds.check_labels(root)?;
    ds.on_demand = Some(std::sync::Arc::new(lazy));
    Ok(ds)
}

/// Decodes `entries` (on all cores) into a dataset; `root` names the dataset in errors.
pub fn read_entries(root: &Path, entries: &[Entry], sizing: Sizing, class_names: Vec<String>) -> Result<Dataset> {
    if entries.is_empty() {
        return Err(Error::format(root, "the index lists no images for this split"));
    }
    let (h, w) = sizing.size;
    let channels = if sizing.gray { 1 } else { 3 };
    let per = h * w * channels;
    let mut images = vec![0u8; entries.len() * per];
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(entries.len());
    let chunk = entries.len().div_ceil(threads);
    std::thread::scope(|s| {
        let jobs: Vec<_> = entries
            .chunks(chunk)
            .zip(images.chunks_mut(chunk * per))
            .map(|(list, out)| s.spawn(move || decode_into(list, out, sizing)))
            .collect();
        jobs.into_iter()
            .try_for_each(|j| j.join().unwrap_or_else(|_| Err(Error::Config("a decoder thread failed".into()))))
    })?;
    let labels = entries.iter().map(|e| e.label).collect();
    Dataset::new(root, images, labels, (h, w, channels), class_names)
}

fn decode_into(list: &[Entry], out: &mut [u8], sizing: Sizing) -> Result<()> {
    let per = out.len() / list.len().max(1);
    for (e, dst) in list.iter().zip(out.chunks_mut(per)) {
        let bytes = std::fs::read(&e.path).at(&e.path)?;
        let mut target = Some(sizing.size);
        dst.copy_from_slice(&decode_cropped(&e.path, &bytes, e.crop, &mut target, sizing.fit, sizing.gray)?);
    }
    Ok(())
}

/// The lines of an index file, each split on whitespace, with its 1-based line number; blank lines
/// are skipped.
pub fn index_lines(path: &Path) -> Result<Vec<(usize, Vec<String>)>> {
    let text = std::fs::read_to_string(path).at(path)?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l.split_whitespace().map(str::to_string).collect()))
        .collect())
}

/// An error for line `line` of index `path`: what it holds and what was expected.
pub fn bad_line(path: &Path, line: usize, expected: &str) -> Error {
    Error::format(path, format!("line {line}: expected {expected}"))
}

/// The file `name` inside `dir`, or an error naming it and the layout it belongs to.
pub fn required_file(dir: &Path, name: &str, layout: &str) -> Result<PathBuf> {
    let p = dir.join(name);
    if p.exists() {
        Ok(p)
    } else {
        Err(Error::format(&p, format!("missing (the {layout} layout has it)")))
    }
}
