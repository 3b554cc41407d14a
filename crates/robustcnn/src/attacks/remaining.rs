//! The bookkeeping of attacks that run in rounds (restarts, targets, AutoAttack's attacks): each
//! round attacks only the points of the batch still robust, and a point it fools keeps its image.
use super::{predict, AttackBatch};
use crate::models::Network;
use tch::Tensor;

/// Where every round-based attack starts: the adversarial images are the clean ones, and the points
/// still robust are those the model classifies correctly.
pub fn clean_start(net: &Network, b: &AttackBatch) -> (Tensor, Tensor) {
    (b.x.copy(), predict(net, b.x).eq_tensor(b.y))
}

/// The points of a batch still robust: their rows in the batch, ids, images and labels.
pub struct Remaining {
    pub idx: Tensor,
    pub rows: Vec<i64>,
    pub ids: Vec<u64>,
    pub x: Tensor,
    pub y: Tensor,
}

impl Remaining {
    /// The points of `b` flagged in `robust`, or None when no point is left.
    pub fn of(b: &AttackBatch, robust: &Tensor) -> Option<Remaining> {
        let idx = robust.nonzero().squeeze_dim(1);
        let rows = Vec::<i64>::try_from(&idx.to_device(tch::Device::Cpu)).unwrap_or_default();
        if rows.is_empty() {
            return None;
        }
        let ids = rows.iter().map(|&i| b.ids[i as usize]).collect();
        let (x, y) = (b.x.index_select(0, &idx), b.y.index_select(0, &idx));
        Some(Remaining { idx, rows, ids, x, y })
    }

    /// The same points as an attack batch.
    pub fn batch(&self, seed: u64) -> AttackBatch<'_> {
        AttackBatch { x: &self.x, y: &self.y, ids: &self.ids, seed }
    }

    /// Records the points `fooled` flags (one flag per remaining point): no longer robust, and their
    /// adversarial images taken from `found`.
    pub fn record(&self, fooled: &Tensor, found: &Tensor, robust: &mut Tensor, adv: &mut Tensor) {
        let fooled_idx = self.idx.masked_select(fooled);
        let _ = robust.index_fill_(0, &fooled_idx, 0);
        let _ = adv.index_copy_(0, &fooled_idx, &found.index_select(0, &fooled.nonzero().squeeze_dim(1)));
    }
}
