//! The batch loader: background threads turn u8 images into f32 batch tensors while the model computes.
//!
//! Batch b of an epoch is built by worker b mod W and received in order, so the batches are the same
//! for any number of workers. The order of an epoch is a shuffle seeded by (seed, epoch); each sample's
//! augmentation is seeded by (seed, epoch, sample index).
use super::augment::{augment_to_chw, Augment};
use super::Dataset;
use crate::rng::{rng_for, shuffle};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use tch::Tensor;

const ORDER: u64 = 1;
const AUGMENT: u64 = 2;

/// How an epoch's batches are made.
#[derive(Clone, Debug)]
pub struct LoaderSpec {
    pub batch_size: usize,
    pub shuffle: bool,
    pub drop_last: bool,
    pub augment: Option<Augment>,
    pub seed: u64,
    pub workers: usize,
}

/// One batch: images (B×C×H×W, f32 in [0,1]), labels (B, i64) and the dataset indices they came from.
pub struct Batch {
    pub images: Tensor,
    pub labels: Tensor,
    pub indices: Vec<usize>,
}

/// The sample order of an epoch.
pub fn epoch_order(n: usize, spec: &LoaderSpec, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if spec.shuffle {
        shuffle(&mut order, &mut rng_for(spec.seed, &[ORDER, epoch]));
    }
    order
}

/// Number of batches in an epoch of `n` samples.
pub fn batches_per_epoch(n: usize, spec: &LoaderSpec) -> usize {
    if spec.drop_last {
        n / spec.batch_size
    } else {
        n.div_ceil(spec.batch_size)
    }
}

/// Builds the batch of `indices` (augmented if the spec says so).
pub fn make_batch(ds: &Dataset, indices: &[usize], spec: &LoaderSpec, epoch: u64) -> Batch {
    let (h, w, c) = (ds.height, ds.width, ds.channels);
    let per = h * w * c;
    let mut pixels = vec![0f32; indices.len() * per];
    for (k, &i) in indices.iter().enumerate() {
        let mut rng = rng_for(spec.seed, &[AUGMENT, epoch, i as u64]);
        augment_to_chw(ds.image(i), (h, w, c), spec.augment.as_ref(), &mut rng, &mut pixels[k * per..(k + 1) * per]);
    }
    let labels: Vec<i64> = indices.iter().map(|&i| ds.labels[i] as i64).collect();
    Batch {
        images: Tensor::from_slice(&pixels).reshape([indices.len() as i64, c as i64, h as i64, w as i64]),
        labels: Tensor::from_slice(&labels),
        indices: indices.to_vec(),
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
    pub fn new(ds: Arc<Dataset>, spec: &LoaderSpec, epoch: u64, start_batch: usize) -> Self {
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
                    let hi = ((b + 1) * spec.batch_size).min(order.len());
                    let batch = make_batch(&ds, &order[b * spec.batch_size..hi], &spec, epoch);
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
