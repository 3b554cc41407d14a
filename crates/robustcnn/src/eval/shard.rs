//! An evaluation's batches shared between the ranks of a data-parallel job: rank r takes batches
//! r, r + world, …, each exactly the batch one process would make, and the per-sample results are
//! summed back into place, so the outcome is the single-process one (docs/distributed.md §3).
use crate::dist::{self, Dist};
use crate::error::Result;
use std::sync::Arc;
use tch::Tensor;

/// This process's share of an evaluation.
pub struct Shard {
    job: Option<Arc<Dist>>,
    rank: usize,
    world: usize,
}

impl Shard {
    /// The share of this process's job (all batches when it is a single process).
    pub fn current() -> Shard {
        let job = dist::job();
        let (rank, world) = job.as_ref().map_or((0, 1), |d| (d.rank(), d.world()));
        Shard { job, rank, world }
    }

    /// Whether batch `b` is this rank's.
    pub fn mine(&self, b: usize) -> bool {
        b % self.world == self.rank
    }

    /// Sums `values` over the ranks: each rank fills its own samples' slots and leaves the others 0.
    pub fn sum_f32(&self, values: Vec<f32>) -> Result<Vec<f32>> {
        let Some(d) = &self.job else { return Ok(values) };
        let t = Tensor::from_slice(&values);
        d.sum_(&t)?;
        Ok(Vec::<f32>::try_from(&t).unwrap_or_default())
    }

    /// As [`Self::sum_f32`], in f64 (exact for whole numbers below 2^53).
    pub fn sum_f64(&self, values: Vec<f64>) -> Result<Vec<f64>> {
        match &self.job {
            Some(d) => d.sum_f64(&values),
            None => Ok(values),
        }
    }

    /// Every rank's `value`, in rank order.
    pub fn each(&self, value: f64) -> Result<Vec<f64>> {
        let mut slots = vec![0.0; self.world];
        slots[self.rank] = value;
        self.sum_f64(slots)
    }
}
