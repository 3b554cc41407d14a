//! Dot products between two sets of feature rows (cosine similarities of L2-normalised features),
//! as one matrix product through libtorch's BLAS rather than a scalar loop (docs/reid.md §3).
use tch::{Device, Kind, Tensor};

/// Rows of `a` (each `dim` wide) against rows of `b`: an `a.len()/dim` × `b.len()/dim` matrix, row-major.
pub fn dot_matrix(a: &[f32], b: &[f32], dim: usize) -> Vec<f32> {
    let dim = dim.max(1);
    let (na, nb) = ((a.len() / dim) as i64, (b.len() / dim) as i64);
    if na == 0 || nb == 0 {
        return Vec::new();
    }
    let ta = Tensor::from_slice(a).reshape([na, dim as i64]);
    let tb = Tensor::from_slice(b).reshape([nb, dim as i64]);
    let m = tch::no_grad(|| ta.matmul(&tb.tr()).to_kind(Kind::Float).to_device(Device::Cpu).contiguous());
    Vec::<f32>::try_from(&m.flatten(0, -1)).unwrap_or_default()
}
