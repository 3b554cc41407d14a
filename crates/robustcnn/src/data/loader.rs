//! The batch loader: background threads turn u8 images into f32 batch tensors while the model computes.
//!
//! Batch b of an epoch is built by worker b mod W and received in order, so the batches are the same
//! for any number of workers. The order of an epoch is a shuffle seeded by (seed, epoch); each sample's
//! augmentation is seeded by (seed, epoch, sample index).
use super::augment::{sample_images, Augment, MethodAugment};
use super::Dataset;
use crate::config::Granularity;
use crate::rng::{rng_for, shuffle};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use tch::{Device, Tensor};

const ORDER: u64 = 1;
const AUGMENT: u64 = 2;
const CA_BATCH: u64 = 3;

/// How an epoch's batches are made.
#[derive(Clone, Debug)]
pub struct LoaderSpec {
    pub batch_size: usize,
    pub shuffle: bool,
    pub drop_last: bool,
    pub augment: Option<Augment>,
    pub seed: u64,
    pub workers: usize,
    /// What the training method adds (AugMix, Cutout, Random Erasing).
    pub extra: MethodAugment,
    /// In a data-parallel job, (this rank, world size): each global batch of `batch_size` × world
    /// samples is split between the ranks (docs/distributed.md §2); None for a single process.
    pub shard: Option<(usize, usize)>,
}

impl LoaderSpec {
    /// Evaluation batches: in order, unaugmented, on one thread.
    pub fn evaluation(batch_size: usize) -> LoaderSpec {
        LoaderSpec {
            batch_size,
            shuffle: false,
            drop_last: false,
            augment: None,
            seed: 0,
            workers: 1,
            extra: MethodAugment::default(),
            shard: None,
        }
    }
}

/// One batch: images (B×C×H×W, f32 in [0,1]), labels (B, i64; multi-label: B×classes, f32) and the sample indices they came from
/// (with AugMix's clean copy, N + i is the clean copy of image i).
pub struct Batch {
    pub images: Tensor,
    pub labels: Tensor,
    pub indices: Vec<usize>,
    /// Extra views of the same samples (AugMix's two views for the Jensen–Shannon loss), else empty.
    pub views: Vec<Tensor>,
    /// An image decoded on demand that could not be read (its file and why); the batch is unusable.
    pub error: Option<String>,
}

/// The sample order of an epoch over a dataset of `n` images.
pub fn epoch_order(n: usize, spec: &LoaderSpec, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..spec.extra.epoch_len(n)).collect();
    if spec.shuffle {
        shuffle(&mut order, &mut rng_for(spec.seed, &[ORDER, epoch]));
    }
    order
}

/// Number of (global) batches in an epoch over a dataset of `n` images; a data-parallel job drops a
/// last batch too small to give every rank a sample.
pub fn batches_per_epoch(n: usize, spec: &LoaderSpec) -> usize {
    let n = spec.extra.epoch_len(n);
    let world = spec.shard.map_or(1, |s| s.1);
    let global = spec.batch_size * world;
    let full = n / global;
    if spec.drop_last || n % global < world {
        full
    } else {
        full + 1
    }
}

/// This rank's part of global batch `b` of an epoch's `order`: for a full batch, the rank's
/// `batch_size` samples in turn; a last, short batch is split as evenly as can be.
pub fn batch_slice<'a>(order: &'a [usize], spec: &LoaderSpec, b: usize) -> &'a [usize] {
    let (rank, world) = spec.shard.unwrap_or((0, 1));
    let lo = b * spec.batch_size * world;
    let hi = (lo + spec.batch_size * world).min(order.len());
    let len = hi - lo;
    &order[lo + len * rank / world..lo + len * (rank + 1) / world]
}

impl Batch {
    /// The batch in page-locked host memory for copies to `device` when it is a GPU (as PyTorch's
    /// `pin_memory=True`, docs/precision.md "Feeding a GPU"); unchanged for the CPU, or where
    /// libtorch cannot pin.
    pub fn pinned_for(self, device: Device) -> Batch {
        if device == Device::Cpu {
            return self;
        }
        let pin = |t: Tensor| robustcnn_bridge::pinned(&t).unwrap_or(t);
        Batch {
            images: pin(self.images),
            labels: pin(self.labels),
            views: self.views.into_iter().map(pin).collect(),
            ..self
        }
    }

    /// Images, labels and extra views on `device`. To a GPU the copies are asynchronous on its
    /// stream (`non_blocking=True`), so the next batch is prepared while this one computes.
    pub fn to_device(&self, device: Device) -> (Tensor, Tensor, Vec<Tensor>) {
        let to = |t: &Tensor| t.to_device_(device, t.kind(), device != Device::Cpu, false);
        (to(&self.images), to(&self.labels), self.views.iter().map(to).collect())
    }
}

/// Calls `f` on the batch of each of `chunks` in order; the first error of `f` stops it. For a GPU,
/// each batch is made and pinned on a background thread while `f` computes on the one before
/// (docs/precision.md, "Feeding a GPU"); on the CPU, where that thread would only compete with
/// libtorch's for the cores, in turn.
pub fn for_each_prefetched<E>(
    ds: &Dataset,
    chunks: &[&[usize]],
    spec: &LoaderSpec,
    device: Device,
    mut f: impl FnMut(&[usize], Batch) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    if device == Device::Cpu {
        return chunks.iter().try_for_each(|c| f(c, make_batch(ds, c, spec, 0)));
    }
    std::thread::scope(|s| {
        let (tx, rx) = sync_channel(2);
        s.spawn(move || {
            for c in chunks {
                if tx.send(make_batch(ds, c, spec, 0).pinned_for(device)).is_err() {
                    return;
                }
            }
        });
        // Dropping `rx` on an error stops the thread at its next batch.
        chunks.iter().zip(rx).try_for_each(|(c, b)| f(c, b))
    })
}

/// Builds the batch of `indices` (augmented if the spec says so).
pub fn make_batch(ds: &Dataset, indices: &[usize], spec: &LoaderSpec, epoch: u64) -> Batch {
    let (h, w, c) = (ds.height, ds.width, ds.channels);
    let per = h * w * c;
    let mut planes: Vec<Vec<f32>> = Vec::new();
    let ca_choice =
        spec.extra.ca.as_ref().filter(|ca| ca.granularity == Granularity::Batch).map(|ca| {
            ca.draw(&mut rng_for(spec.seed, &[CA_BATCH, epoch, indices.first().copied().unwrap_or(0) as u64]))
        });
    let mut error = None;
    for (k, &v) in indices.iter().enumerate() {
        let i = v % ds.len();
        let mut rng = rng_for(spec.seed, &[AUGMENT, epoch, v as u64]);
        let pixels = ds.try_image(i).unwrap_or_else(|e| {
            error.get_or_insert(e.to_string());
            std::borrow::Cow::Owned(vec![0; per])
        });
        let images =
            sample_images(&pixels, (h, w, c), spec.augment.as_ref(), &spec.extra, (v < ds.len(), ca_choice), &mut rng);
        if planes.is_empty() {
            planes = vec![vec![0f32; indices.len() * per]; images.len()];
        }
        for (plane, img) in planes.iter_mut().zip(&images) {
            plane[k * per..(k + 1) * per].copy_from_slice(img);
        }
    }
    let shape = [indices.len() as i64, c as i64, h as i64, w as i64];
    let mut tensors = planes.iter().map(|p| Tensor::from_slice(p).reshape(shape));
    let images = tensors.next().unwrap_or_else(|| Tensor::zeros(shape, (tch::Kind::Float, tch::Device::Cpu)));
    Batch { images, labels: batch_labels(ds, indices), indices: indices.to_vec(), views: tensors.collect(), error }
}

/// The labels of a batch: class indices (B, i64), or for a multi-label task per-class targets
/// (B × classes, f32), a class present only as difficult objects counting as present
/// (docs/multilabel.md §2).
pub fn batch_labels(ds: &Dataset, indices: &[usize]) -> Tensor {
    match &ds.targets {
        Some(_) => {
            let rows: Vec<f32> = indices
                .iter()
                .flat_map(|&v| ds.target_row(v % ds.len()).unwrap_or_default().iter().map(|&t| (t >= 0) as u8 as f32))
                .collect();
            Tensor::from_slice(&rows).reshape([indices.len() as i64, ds.num_classes() as i64])
        }
        None => {
            let labels: Vec<i64> = indices.iter().map(|&v| ds.labels[v % ds.len()] as i64).collect();
            Tensor::from_slice(&labels)
        }
    }
}

/// An iterator over one epoch's batches from `start_batch` on, prepared by background threads.
pub struct EpochLoader {
    receivers: Vec<Receiver<Batch>>,
    workers: Vec<JoinHandle<()>>,
    next: usize,
    end: usize,
}

impl EpochLoader {
    /// The loader of batches for `device`: for a GPU, the background threads also copy each batch
    /// into page-locked memory, so that [`Batch::to_device`] does not wait for the copy.
    pub fn new(ds: Arc<Dataset>, spec: &LoaderSpec, epoch: u64, start_batch: usize, device: Device) -> Self {
        let order = Arc::new(epoch_order(ds.len(), spec, epoch));
        let end = batches_per_epoch(ds.len(), spec);
        let w = spec.workers.max(1);
        let (mut receivers, mut workers) = (Vec::new(), Vec::new());
        for k in 0..w {
            let (tx, rx) = sync_channel(2);
            let (ds, order, spec) = (ds.clone(), order.clone(), spec.clone());
            let first = start_batch + ((k + w - start_batch % w) % w);
            workers.push(std::thread::spawn(move || {
                let mut b = first;
                while b < end {
                    let batch = make_batch(&ds, batch_slice(&order, &spec, b), &spec, epoch).pinned_for(device);
                    if tx.send(batch).is_err() {
                        return;
                    }
                    b += w;
                }
            }));
            receivers.push(rx);
        }
        EpochLoader { receivers, workers, next: start_batch, end }
    }

    /// Number of batches in the whole epoch.
    pub fn len(&self) -> usize {
        self.end
    }

    pub fn is_empty(&self) -> bool {
        self.end == 0
    }
}

impl Iterator for EpochLoader {
    type Item = (usize, Batch);
    fn next(&mut self) -> Option<(usize, Batch)> {
        if self.next >= self.end {
            return None;
        }
        let w = self.receivers.len();
        let b = self.next;
        let batch = self.receivers[b % w].recv().ok()?;
        self.next += 1;
        Some((b, batch))
    }
}

impl Drop for EpochLoader {
    fn drop(&mut self) {
        self.receivers.clear();
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}
