//! An in-memory image classification dataset: u8 images in HWC order and class labels, and for a
//! multi-label task (PASCAL VOC) each image's per-class targets.
use super::listed::OnDemand;
use super::reid::Retrieval;
use crate::error::{Error, Result};
use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

/// Images of one size, stored contiguously as u8 HWC, with one label per image.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub images: Vec<u8>,
    pub labels: Vec<u16>,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub class_names: Vec<String>,
    /// Multi-label tasks only: samples × classes, row-major, in the VOC devkit's convention: 1 the
    /// class is present, -1 absent, 0 present only as "difficult" objects (docs/multilabel.md §1).
    /// `labels` then holds each image's first present class, for stratified splits.
    pub targets: Option<Vec<i8>>,
    /// Images decoded when needed instead of held in `images` (docs/datasets.md §Memory).
    pub on_demand: Option<Arc<OnDemand>>,
    /// A re-identification test set: each image's person and camera, queries first (docs/reid.md §1).
    pub retrieval: Option<Retrieval>,
}

impl Dataset {
    /// Checks sizes and label ranges; `source` names the file in the error.
    pub fn new(
        source: &Path,
        images: Vec<u8>,
        labels: Vec<u16>,
        (height, width, channels): (usize, usize, usize),
        class_names: Vec<String>,
    ) -> Result<Self> {
        let per = height * width * channels;
        if per == 0 || images.len() != labels.len() * per {
            return Err(Error::format(
                source,
                format!(
                    "{} image bytes do not hold {} images of {height}x{width}x{channels}",
                    images.len(),
                    labels.len()
                ),
            ));
        }
        let ds = Dataset {
            images,
            labels,
            height,
            width,
            channels,
            class_names,
            targets: None,
            on_demand: None,
            retrieval: None,
        };
        ds.check_labels(source)?;
        Ok(ds)
    }

    /// Every label is a class index.
    pub fn check_labels(&self, source: &Path) -> Result<()> {
        let k = self.class_names.len();
        if let Some((i, &y)) = self.labels.iter().enumerate().find(|(_, &y)| y as usize >= k) {
            return Err(Error::format(
                source,
                format!("label {y} of sample {i} is out of range (expected 0..{})", k.saturating_sub(1)),
            ));
        }
        Ok(())
    }

    /// The same shape and classes with no images.
    pub fn clone_empty(&self) -> Dataset {
        Dataset {
            images: Vec::new(),
            labels: Vec::new(),
            class_names: self.class_names.clone(),
            targets: self.targets.as_ref().map(|_| Vec::new()),
            on_demand: None,
            retrieval: None,
            ..*self
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Bytes of one image.
    pub fn image_size(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// The u8 HWC bytes of image `i` (black where an image decoded on demand is unreadable; the
    /// loader uses [`Self::try_image`] and stops with the file's error).
    pub fn image(&self, i: usize) -> Cow<'_, [u8]> {
        self.try_image(i).unwrap_or_else(|_| Cow::Owned(vec![0; self.image_size()]))
    }

    /// The u8 HWC bytes of image `i`, or why an image decoded on demand could not be read.
    pub fn try_image(&self, i: usize) -> Result<Cow<'_, [u8]>> {
        match &self.on_demand {
            Some(lazy) => lazy.decode(i).map(Cow::Owned),
            None => {
                let n = self.image_size();
                Ok(Cow::Borrowed(&self.images[i * n..(i + 1) * n]))
            }
        }
    }

    /// A new dataset holding the samples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let mut images = Vec::new();
        if self.on_demand.is_none() {
            images.reserve(indices.len() * self.image_size());
            for &i in indices {
                images.extend_from_slice(&self.image(i));
            }
        }
        Dataset {
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            height: self.height,
            width: self.width,
            channels: self.channels,
            class_names: self.class_names.clone(),
            targets: self.targets.as_ref().map(|t| {
                let k = self.num_classes();
                indices.iter().flat_map(|&i| t[i * k..(i + 1) * k].iter().copied()).collect()
            }),
            on_demand: self.on_demand.as_ref().map(|l| Arc::new(l.select(indices))),
            retrieval: self.retrieval.as_ref().map(|r| r.select(indices)),
        }
    }

    /// Whether each image has a set of classes (multi-label) rather than one.
    pub fn is_multi_label(&self) -> bool {
        self.targets.is_some()
    }

    /// Image `i`'s targets in the devkit's convention (1 present, -1 absent, 0 difficult only).
    pub fn target_row(&self, i: usize) -> Option<&[i8]> {
        let k = self.num_classes();
        self.targets.as_ref().map(|t| &t[i * k..(i + 1) * k])
    }

    /// Number of samples of each class (multi-label: of images where the class is present).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes()];
        if let Some(t) = &self.targets {
            for (j, &v) in t.iter().enumerate() {
                counts[j % self.num_classes()] += (v == 1) as usize;
            }
            return counts;
        }
        for &y in &self.labels {
            counts[y as usize] += 1;
        }
        counts
    }
}

/// A training set and a test set of the same shape and classes.
#[derive(Clone, Debug)]
pub struct Splits {
    pub train: Dataset,
    pub test: Dataset,
}
