//! Re-identification as retrieval: L2-normalised features of each image plus its mirror image,
//! the gallery ranked per query by cosine similarity, and CMC and mAP as the Market-1501
//! evaluation code computes them (docs/reid.md §3).
use super::rerank::{rerank, Rerank};
use super::similarity::dot_matrix;
use crate::data::loader::{make_batch, LoaderSpec};
use crate::data::reid::Retrieval;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Network;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

/// Queries whose similarities to the gallery are computed together (a 512 × gallery matrix).
const QUERY_BLOCK: usize = 512;

/// CMC ranks kept in the results.
pub const CMC_RANKS: usize = 20;

/// Retrieval results over the queries.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RetrievalResult {
    pub queries: usize,
    pub gallery: usize,
    pub rank1: f64,
    pub rank5: f64,
    pub rank10: f64,
    pub map: f64,
    /// CMC at ranks 1..=20.
    pub cmc: Vec<f64>,
    /// Queries with no true match once junk and same-camera entries are left out; not averaged in.
    pub queries_without_matches: usize,
    /// The k-reciprocal re-ranking the gallery was ranked with, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub re_ranking: Option<Rerank>,
}

/// The features retrieval ranks by: the "embed" stage's output where the model has one (the
/// re-ID ClassBlock's 512-d bottleneck), else the pooled input of the head.
pub fn features(net: &Network, x: &Tensor) -> Tensor {
    let stage = net.stage_index("embed").unwrap_or(net.stages().len() - 2);
    let f = net.forward_to(x, stage, false);
    if f.dim() == 4 {
        f.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    } else {
        f
    }
}

/// Features of every image of `ds` plus those of its mirror image, L2-normalised, row-major.
pub fn extract(net: &Network, ds: &Dataset, batch: usize, device: Device) -> Result<(Vec<f32>, usize)> {
    let spec = LoaderSpec::evaluation(batch);
    let (mut out, mut dim) = (Vec::new(), 0);
    tch::no_grad(|| -> Result<()> {
        let idx: Vec<usize> = (0..ds.len()).collect();
        for chunk in idx.chunks(batch.max(1)) {
            let b = make_batch(ds, chunk, &spec, 0);
            if let Some(e) = b.error {
                return Err(Error::Config(e));
            }
            let x = b.images.to_device(device);
            let f = features(net, &x) + features(net, &x.flip([3]));
            let f = &f / (f.norm_scalaropt_dim(2, [1i64].as_slice(), true) + 1e-12);
            dim = f.size()[1] as usize;
            out.extend(
                Vec::<f32>::try_from(&f.to_kind(Kind::Float).to_device(Device::Cpu).flatten(0, -1)).unwrap_or_default(),
            );
        }
        Ok(())
    })?;
    super::finite::check_values(&out, dim)?;
    Ok((out, dim))
}

/// The gallery order for one query by descending similarity; ties keep gallery order.
pub fn rank(similarity: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..similarity.len()).collect();
    order.sort_by(|&a, &b| similarity[b].total_cmp(&similarity[a]));
    order
}

/// One query's AP and first-match rank (0-based) over `order`: gallery entries of the same person
/// on another camera match; junk (-1) and the same person on the same camera are left out. None
/// when nothing matches. AP is the trapezoidal one of Market-1501's evaluation code.
pub fn query_ap(order: &[usize], query: (i64, u16), gallery: &[(i64, u16)]) -> Option<(f64, usize)> {
    let kept: Vec<bool> = order
        .iter()
        .filter(|&&g| {
            let (id, cam) = gallery[g];
            id != -1 && !(id == query.0 && cam == query.1)
        })
        .map(|&g| gallery[g].0 == query.0)
        .collect();
    let hits: Vec<usize> = kept.iter().enumerate().filter(|(_, &m)| m).map(|(i, _)| i).collect();
    let n = hits.len();
    if n == 0 {
        return None;
    }
    let ap = hits
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            let precision = (i + 1) as f64 / (r + 1) as f64;
            let old = if r == 0 { 1.0 } else { i as f64 / r as f64 };
            (old + precision) / 2.0 / n as f64
        })
        .sum();
    Some((ap, hits[0]))
}

/// CMC and mAP from features (queries then gallery, `dim` each) and who/where each image is.
pub fn retrieval_metrics(features: &[f32], dim: usize, r: &Retrieval) -> RetrievalResult {
    retrieval_metrics_with(features, dim, r, None)
}

/// [`retrieval_metrics`], the gallery ranked by cosine similarity or, with `re_ranking`, by the
/// k-reciprocal re-ranked distance.
pub fn retrieval_metrics_with(
    features: &[f32],
    dim: usize,
    r: &Retrieval,
    re_ranking: Option<Rerank>,
) -> RetrievalResult {
    let (nq, total) = (r.queries, r.ids.len());
    let gallery: Vec<(i64, u16)> = (nq..total).map(|i| (r.ids[i], r.cameras[i])).collect();
    let reranked = re_ranking.map(|p| rerank(features, dim, nq, p));
    let ng = total - nq;
    let (mut cmc, mut ap_sum, mut counted) = (vec![0f64; CMC_RANKS], 0f64, 0usize);
    // Cosine similarities of the queries to the gallery, a block of queries at a time.
    let mut block: Vec<f32> = Vec::new();
    for q in 0..nq {
        let sim: Vec<f32> = match &reranked {
            Some(d) => d[q * ng..(q + 1) * ng].iter().map(|v| -v).collect(),
            None => {
                if q % QUERY_BLOCK == 0 {
                    let end = (q + QUERY_BLOCK).min(nq);
                    block = dot_matrix(&features[q * dim..end * dim], &features[nq * dim..total * dim], dim);
                }
                let i = q % QUERY_BLOCK;
                block[i * ng..(i + 1) * ng].to_vec()
            }
        };
        if let Some((ap, first)) = query_ap(&rank(&sim), (r.ids[q], r.cameras[q]), &gallery) {
            ap_sum += ap;
            counted += 1;
            cmc.iter_mut().skip(first).for_each(|c| *c += 1.0);
        }
    }
    let d = counted.max(1) as f64;
    let cmc: Vec<f64> = cmc.iter().map(|c| c / d).collect();
    RetrievalResult {
        queries: nq,
        gallery: total - nq,
        rank1: cmc[0],
        rank5: cmc[4],
        rank10: cmc[9],
        map: ap_sum / d,
        cmc,
        queries_without_matches: nq - counted,
        re_ranking,
    }
}

/// Refuses classification attacks (`what`) on a re-ID test set, whose queries are attacked in
/// feature space by `eval reid-attack` (docs/reid.md §5).
pub fn refuse_for_reid(ds: &Dataset, what: &str) -> Result<()> {
    if ds.retrieval.is_some() {
        return Err(Error::Config(format!(
            "{what}: this is a re-identification task; its queries are attacked in feature space by \
             `robustcnn eval reid-attack` (I-FGSM, MI-FGSM)"
        )));
    }
    Ok(())
}

/// Retrieval evaluation of `net` on a re-ID test set.
pub fn evaluate(net: &Network, ds: &Dataset, batch: usize, device: Device) -> Result<RetrievalResult> {
    evaluate_with(net, ds, batch, device, None)
}

/// [`evaluate`], optionally with k-reciprocal re-ranking.
pub fn evaluate_with(
    net: &Network,
    ds: &Dataset,
    batch: usize,
    device: Device,
    re_ranking: Option<Rerank>,
) -> Result<RetrievalResult> {
    let r = ds.retrieval.as_ref().ok_or_else(|| Error::Config("not a re-identification test set".into()))?;
    let (f, dim) = extract(net, ds, batch, device)?;
    Ok(retrieval_metrics_with(&f, dim, r, re_ranking))
}
