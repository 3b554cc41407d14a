//! SyncBN (docs/distributed.md §2): in training, batch norm's mean and variance over the images of
//! every rank, with the sums all-reduced inside autograd so that the gradients flow across ranks as
//! in PyTorch's SyncBatchNorm. Which thread trains under it is set per thread.
use super::Dist;
use crate::error::Result;
use std::cell::RefCell;
use std::sync::Arc;
use tch::{nn, Kind, Tensor};

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

/// Batch norm of `x` (N×C×… ) in training mode over the batches of every rank: the mean and the
/// biased variance normalise, the unbiased variance enters the running estimate (docs/distributed.md §2).
pub fn normalize(bn: &nn::BatchNorm, eps: f64, momentum: f64, x: &Tensor, d: &Dist) -> Result<Tensor> {
    let xf = x.to_kind(Kind::Float);
    let c = xf.size()[1];
    let dims: Vec<i64> = (0..xf.dim() as i64).filter(|&i| i != 1).collect();
    let mut shape = vec![1i64; xf.dim()];
    shape[1] = -1;
    let count = Tensor::from_slice(&[(xf.numel() as i64 / c.max(1)) as f32]).to_device(xf.device());
    // Two passes, as the single-process kernel computes the variance: the sums, then the squares
    // about the global mean.
    let sums = d.sum_over_ranks(&Tensor::cat(&[xf.sum_dim_intlist(dims.as_slice(), false, Kind::Float), count], 0))?;
    let n = sums.narrow(0, c, 1).detach();
    let mean = sums.narrow(0, 0, c) / &n;
    let centred = &xf - mean.view(shape.as_slice());
    let var = d.sum_over_ranks(&centred.square().sum_dim_intlist(dims.as_slice(), false, Kind::Float))? / &n;
    let y = centred * (&var + eps).rsqrt().view(shape.as_slice());
    let y = match &bn.ws {
        Some(w) => y * w.view(shape.as_slice()),
        None => y,
    };
    let y = match &bn.bs {
        Some(b) => y + b.view(shape.as_slice()),
        None => y,
    };
    tch::no_grad(|| {
        let total = n.double_value(&[0]);
        let unbiased = var.detach() * (total / (total - 1.0).max(1.0));
        bn.running_mean.shallow_clone().copy_(&(&bn.running_mean * (1.0 - momentum) + mean.detach() * momentum));
        bn.running_var.shallow_clone().copy_(&(&bn.running_var * (1.0 - momentum) + unbiased * momentum));
    });
    Ok(y.to_kind(x.kind()))
}
