//! k-reciprocal re-ranking (Zhong et al., CVPR 2017) as the layumi re-ID baseline's `re_ranking`
//! computes it, which LFM's code builds on (docs/reid.md §3): cosine similarities become
//! (2 − 2s)², each row normalised by its largest value; k-reciprocal neighbourhoods, expanded,
//! weight the Jaccard distance, mixed with the original distance by λ.
use super::similarity::dot_matrix;
use serde::Serialize;

/// The re-ranking parameters; the code's defaults are k1 20, k2 6, λ 0.3.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Rerank {
    pub k1: usize,
    pub k2: usize,
    pub lambda: f32,
}

impl Default for Rerank {
    fn default() -> Self {
        Rerank { k1: 20, k2: 6, lambda: 0.3 }
    }
}

/// Indices of `row` sorted by value, ties in index order.
fn argsort(row: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..row.len()).collect();
    idx.sort_by(|&a, &b| row[a].total_cmp(&row[b]));
    idx
}

/// The members of `forward` (the first k + 1 neighbours of `i`) that have `i` among their own first
/// k + 1 neighbours.
fn reciprocal(rank: &[Vec<usize>], i: usize, k: usize) -> Vec<usize> {
    rank[i][..(k + 1).min(rank[i].len())]
        .iter()
        .copied()
        .filter(|&c| rank[c][..(k + 1).min(rank[c].len())].contains(&i))
        .collect()
}

/// Final distances, queries × gallery (row-major), from L2-normalised features (`queries` rows
/// first, then the gallery, `dim` wide): smaller is closer.
pub fn rerank(features: &[f32], dim: usize, queries: usize, p: Rerank) -> Vec<f32> {
    let n = features.len() / dim.max(1);
    let dist: Vec<f32> = dot_matrix(features, features, dim)
        .into_iter()
        .map(|s| {
            let d = 2.0 - 2.0 * s;
            d * d
        })
        .collect();
    // Normalised by each column's largest value, then transposed: row i divided by column i's maximum.
    let col_max: Vec<f32> = (0..n).map(|j| (0..n).map(|i| dist[i * n + j]).fold(f32::MIN, f32::max)).collect();
    let od: Vec<f32> = (0..n * n).map(|k| dist[(k % n) * n + k / n] / col_max[k / n]).collect();
    let rank: Vec<Vec<usize>> = (0..n).map(|i| argsort(&od[i * n..(i + 1) * n])).collect();
    let half = (p.k1 as f64 / 2.0).round() as usize;
    let mut v = vec![0f32; n * n];
    for i in 0..n {
        let k_rec = reciprocal(&rank, i, p.k1);
        let mut expansion = k_rec.clone();
        for &c in &k_rec {
            let c_rec = reciprocal(&rank, c, half);
            let shared = c_rec.iter().filter(|x| k_rec.contains(x)).count();
            if shared as f64 > 2.0 / 3.0 * c_rec.len() as f64 {
                expansion.extend(c_rec);
            }
        }
        expansion.sort_unstable();
        expansion.dedup();
        let weights: Vec<f32> = expansion.iter().map(|&j| (-od[i * n + j]).exp()).collect();
        let total: f32 = weights.iter().sum();
        for (&j, w) in expansion.iter().zip(weights) {
            v[i * n + j] = w / total;
        }
    }
    if p.k2 != 1 {
        let mut qe = vec![0f32; n * n];
        for i in 0..n {
            let near = &rank[i][..p.k2.min(n)];
            for j in 0..n {
                qe[i * n + j] = near.iter().map(|&r| v[r * n + j]).sum::<f32>() / near.len() as f32;
            }
        }
        v = qe;
    }
    let g = n - queries;
    let mut out = vec![0f32; queries * g];
    for i in 0..queries {
        let mut temp = vec![0f32; n];
        for k in (0..n).filter(|&k| v[i * n + k] != 0.0) {
            for j in (0..n).filter(|&j| v[j * n + k] != 0.0) {
                temp[j] += v[i * n + k].min(v[j * n + k]);
            }
        }
        for j in 0..g {
            let jac = 1.0 - temp[queries + j] / (2.0 - temp[queries + j]);
            out[i * g + j] = jac * (1.0 - p.lambda) + od[i * n + queries + j] * p.lambda;
        }
    }
    out
}
