//! FAB's projections (Croce & Hein 2020, `fab_projections.py` of auto-attack; docs/methods.md §4.3):
//! per row, the smallest ℓ∞ or ℓ2 step `d` from a point `t` in [0,1]^D onto the hyperplane
//! w·(t+d) = b while t+d stays in the box. Rows are independent; the bisection runs on all rows and
//! each row keeps the branch its case selects, as the reference does with boolean indexing.
use tch::{Kind, Tensor};

fn row_sum(t: &Tensor) -> Tensor {
    t.sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
}

/// Column `j` of each row (`j` an N×1 index tensor), as a vector of N.
fn at(t: &Tensor, j: &Tensor) -> Tensor {
    t.gather(1, j, false).squeeze_dim(1)
}

/// Bisection over the sorted breakpoints: the last index in 0..D−1 where `above(index)` holds,
/// the reference's ⌈log₂ D⌉ halvings of [lb, ub].
fn bisect(n: i64, dims: i64, device: tch::Device, above: impl Fn(&Tensor) -> Tensor) -> Tensor {
    let mut lb = Tensor::zeros([n], (Kind::Float, device));
    let mut ub = Tensor::full([n], (dims - 1) as f64, (Kind::Float, device));
    let halvings = (dims as f64).log2().ceil() as usize;
    for _ in 0..halvings {
        let mid = ((&lb + &ub) / 2.0).floor();
        let c = above(&mid.to_kind(Kind::Int64).unsqueeze(1));
        lb = mid.where_self(&c, &lb);
        ub = ub.where_self(&c, &mid);
    }
    lb.to_kind(Kind::Int64).unsqueeze(1)
}

/// `projection_linf(t, w, b)`: the ℓ∞-minimal step onto the hyperplane inside the box.
pub fn linf(t: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    let (n, dims) = (t.size()[0], t.size()[1]);
    let sign = (row_sum(&(w * t)) - b).ge(0.0).to_kind(Kind::Float) * 2.0 - 1.0;
    let w = w * sign.unsqueeze(1);
    let b = b * &sign;
    let nonzero = w.ne(0.0).to_kind(Kind::Float);
    let a = w.lt(0.0).to_kind(Kind::Float);
    let d = (&a - t) * &nonzero;
    let p = &a - t * (&a * 2.0 - 1.0);
    let indp = p.argsort(1, false);
    let b = b - row_sum(&(&w * t));
    let b0 = row_sum(&(&w * &d));
    let indp2 = indp.flip([1i64]);
    let ws = w.gather(1, &indp2, false);
    let bs2 = -&ws * d.gather(1, &indp2, false);
    let s = ws.abs().cumsum(1, Kind::Float);
    let sb = bs2.cumsum(1, Kind::Float) + b0.unsqueeze(1);
    let last = |m: &Tensor| m.select(1, dims - 1);
    let b2 = last(&sb) - last(&s) * at(&p, &indp.narrow(1, 0, 1));
    let c_l = (&b - b2).gt(0.0);
    let c2 = (&b - &b0).gt(0.0).logical_and(&c_l.logical_not());
    let lb = bisect(n, dims, t.device(), |j| {
        let indcurr = indp.gather(1, &(-j + (dims - 1)), false);
        (&b - (at(&sb, j) - at(&s, j) * at(&p, &indcurr))).gt(0.0)
    });
    let lmbd_l = ((&b - last(&sb)) / -last(&s)).clamp_min(0.0).unsqueeze(1);
    let d_l = (&a * 2.0 - 1.0) * lmbd_l;
    let lmbd_2 = ((&b - at(&sb, &lb)) / -at(&s, &lb)).clamp_min(0.0).unsqueeze(1);
    let d_2 = lmbd_2.minimum(&d) * &a + (-&lmbd_2).maximum(&d) * (-&a + 1.0);
    let d = d_l.where_self(&c_l.unsqueeze(1), &d_2.where_self(&c2.unsqueeze(1), &d));
    d * nonzero
}

/// `projection_l2(t, w, b)`: the ℓ2-minimal step onto the hyperplane inside the box.
pub fn l2(t: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    let (n, dims) = (t.size()[0], t.size()[1]);
    let c = row_sum(&(w * t)) - b;
    let sign = c.ge(0.0).to_kind(Kind::Float) * 2.0 - 1.0;
    let w = w * sign.unsqueeze(1);
    let c = c * &sign;
    let live = w.abs().gt(1e-8);
    let r = (t / &w).maximum(&((t - 1.0) / &w)).clamp(-1e12, 1e12);
    let r = r.masked_fill(&live.logical_not(), 1e12);
    let r = r.masked_fill(&r.eq(-1e12), 1e12);
    let (rs, indr) = r.sort(1, false);
    let rs2 = rs.narrow(1, 1, dims - 1).constant_pad_nd([0i64, 1].as_slice());
    let rs = rs.masked_fill(&rs.eq(1e12), 0.0);
    let rs2 = rs2.masked_fill(&rs2.eq(1e12), 0.0);
    let w3s = w.square().gather(1, &indr, false);
    let w5 = w3s.sum_dim_intlist([1i64].as_slice(), true, Kind::Float);
    let ws = &w5 - w3s.cumsum(1, Kind::Float);
    let d = -(&r * &w) * live.to_kind(Kind::Float);
    let first = &w5 * rs.narrow(1, 0, 1);
    let s = Tensor::cat(&[-&first, ((-&rs2 + &rs) * &ws).cumsum(1, Kind::Float) - &first], 1);
    let c4 = (s.select(1, 0) + &c).lt(0.0);
    let c3 = (row_sum(&(&d * &w)) + &c).gt(0.0);
    let c2 = c4.logical_or(&c3).logical_not();
    let lb = bisect(n, dims, t.device(), |j| (at(&s, j) + &c).gt(0.0));
    let d_4 = -(&c / w5.squeeze_dim(1)).unsqueeze(1) * &w;
    let ws_lb = at(&ws, &lb);
    let alpha = (at(&s, &lb) + &c) / &ws_lb + at(&rs, &lb);
    let alpha = alpha.masked_fill(&ws_lb.eq(0.0), 0.0).unsqueeze(1);
    let c5 = alpha.gt_tensor(&r).to_kind(Kind::Float);
    let d_2 = &d * &c5 - &alpha * &w * (-&c5 + 1.0);
    let d = d_4.where_self(&c4.unsqueeze(1), &d_2.where_self(&c2.unsqueeze(1), &d));
    d * live.to_kind(Kind::Float)
}
