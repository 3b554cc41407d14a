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
