//! SyncBN (docs/distributed.md §2): in training, batch norm's mean and variance over the images of
//! every rank, with the sums all-reduced inside autograd so that the gradients flow across ranks as
//! in PyTorch's SyncBatchNorm. Which thread trains under it is set per thread.
use super::Dist;
use crate::error::Result;
use std::cell::RefCell;
use std::sync::Arc;
use tch::{nn, Tensor};

thread_local! {
    static SYNC: RefCell<Option<Arc<Dist>>> = const { RefCell::new(None) };
}

/// Makes the batch norms that train on this thread normalise over every rank of `dist` (None: per rank).
pub fn set_sync_batchnorm(dist: Option<Arc<Dist>>) {
    SYNC.with(|s| *s.borrow_mut() = dist.filter(|d| d.world() > 1));
}

/// SyncBN on this thread over `dist`'s ranks (None: per rank) until dropped.
pub struct SyncBatchNorm(());

impl SyncBatchNorm {
    pub fn enter(dist: Option<Arc<Dist>>) -> SyncBatchNorm {
        set_sync_batchnorm(dist);
        SyncBatchNorm(())
    }
}

impl Drop for SyncBatchNorm {
    fn drop(&mut self) {
        set_sync_batchnorm(None);
    }
}

/// The job whose ranks this thread's training batch norms normalise over, if SyncBN is on.
pub fn sync_batchnorm() -> Option<Arc<Dist>> {
    SYNC.with(|s| s.borrow().clone())
}

/// Batch norm of `x` (N×C×…) in training mode over the batches of every rank: the mean and the
/// biased variance normalise, the unbiased variance enters the running estimate (docs/distributed.md §2).
pub fn normalize(bn: &nn::BatchNorm, eps: f64, momentum: f64, x: &Tensor, d: &Dist) -> Result<Tensor> {
    let affine = bn.ws.as_ref().zip(bn.bs.as_ref());
    d.batch_norm_over_ranks(x, affine, (&bn.running_mean, &bn.running_var), eps, momentum)
}
