//! Stratified splits drawn from a seed: the validation split and training-set subsets.
use super::Dataset;
use crate::rng::{rng_for, shuffle};

/// Splits `ds` into (train, validation) with `fraction` of each class in validation, from `seed`.
pub fn train_val(ds: &Dataset, fraction: f64, seed: u64) -> (Dataset, Option<Dataset>) {
    if fraction <= 0.0 {
        return (ds.clone(), None);
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); ds.num_classes()];
    for (i, &y) in ds.labels.iter().enumerate() {
        by_class[y as usize].push(i);
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (c, mut idx) in by_class.into_iter().enumerate() {
        shuffle(&mut idx, &mut rng_for(seed, &[0x5917, c as u64]));
        let k = ((idx.len() as f64) * fraction).round() as usize;
        val.extend_from_slice(&idx[..k]);
        train.extend_from_slice(&idx[k..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    (ds.select(&train), Some(ds.select(&val)))
}

/// A stratified `fraction` of `ds` (at least one image of each class present), drawn from `seed`;
/// the whole set for a fraction of 1. The same seed gives the same subset whatever the method.
pub fn stratified_subset(ds: &Dataset, fraction: f64, seed: u64) -> Dataset {
    if fraction >= 1.0 {
        return ds.clone();
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); ds.num_classes()];
    for (i, &y) in ds.labels.iter().enumerate() {
        by_class[y as usize].push(i);
    }
    let mut kept = Vec::new();
    for (c, mut idx) in by_class.into_iter().enumerate().filter(|(_, idx)| !idx.is_empty()) {
        shuffle(&mut idx, &mut rng_for(seed, &[0x5AB5, c as u64]));
        let k = (((idx.len() as f64) * fraction).round() as usize).clamp(1, idx.len());
        kept.extend_from_slice(&idx[..k]);
    }
    kept.sort_unstable();
    ds.select(&kept)
}
