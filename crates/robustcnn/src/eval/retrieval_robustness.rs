//! Robustness of retrieval (docs/reid.md §5): the queries corrupted, or pushed away from their own
//! clean feature by I-FGSM / MI-FGSM, against the clean gallery; Rank-1 and mAP for each.
use super::corruptions::{Cell, Evaluator, OnTheFly};
use super::reid_attack_report::{FeatureAttack, FeatureAttackSpec, ReidAttackReport, ReidAttackResult};
use super::retrieval::{extract, features, retrieval_metrics, RetrievalResult};
use crate::data::loader::{make_batch, LoaderSpec};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Network;
use corrupt::ImageSet;
use tch::{Device, Kind, Tensor};

/// The queries and the gallery of a re-ID test set, apart.
fn parts(test: &Dataset) -> Result<(Dataset, Dataset)> {
    let r = test.retrieval.as_ref().ok_or_else(|| Error::Config("not a re-identification test set".into()))?;
    let (q, n) = (r.queries, test.len());
    Ok((test.select(&(0..q).collect::<Vec<_>>()), test.select(&(q..n).collect::<Vec<_>>())))
}

/// Retrieval metrics of query features `qf` against gallery features `gf` (both `dim` wide).
fn against_gallery(test: &Dataset, qf: &[f32], gf: &[f32], dim: usize) -> RetrievalResult {
    let all: Vec<f32> = qf.iter().chain(gf).copied().collect();
    retrieval_metrics(&all, dim, test.retrieval.as_ref().expect("checked by parts"))
}

/// Every corruption × severity of the queries (the gallery stays clean): each cell's accuracy is
/// Rank-1 and its `map` the mAP. `progress(done, total)`.
pub fn corrupted_queries(
    model: Evaluator,
    test: &Dataset,
    plan: &OnTheFly,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Cell>> {
    let (queries, gallery) = parts(test)?;
    let (gf, dim) = extract(model.net, &gallery, model.batch, model.device)?;
    let set =
        ImageSet { data: &queries.images, height: queries.height, width: queries.width, channels: queries.channels };
    let total = plan.corruptions.len() * plan.severities.len();
    let mut cells = Vec::with_capacity(total);
    for &name in plan.corruptions {
        for &s in plan.severities {
            let bytes = corrupt::corrupt_set(plan.corruptor, set, name, s, plan.seed, plan.workers, &|_| {})
                .map_err(|e| Error::Config(format!("{name} severity {s}: {e}")))?;
            let corrupted = Dataset { images: bytes, labels: queries.labels.clone(), ..queries.clone_empty() };
            let (qf, _) = extract(model.net, &corrupted, model.batch, model.device)?;
            let m = against_gallery(test, &qf, &gf, dim);
            cells.push(Cell {
                corruption: name.to_string(),
                severity: s,
                samples: queries.len(),
                accuracy: m.rank1,
                map: Some(m.map),
            });
            progress(cells.len(), total);
        }
    }
    Ok(cells)
}

/// Adversarial queries: within the ℓ∞ ball of radius eps, each query moved to maximise the squared
/// distance of its feature from its clean feature (docs/reid.md §5). The distance's gradient is
/// zero at the clean query, so the ascent starts from a uniform random point of the ball, drawn
/// per query index `ids` from the spec's seed.
pub fn attack_queries(net: &Network, x: &Tensor, ids: &[u64], spec: &FeatureAttackSpec) -> Tensor {
    let clean = tch::no_grad(|| features(net, x).detach());
    let mut adv = (x + crate::attacks::start_noise(x, ids, spec.seed, 0, false) * spec.eps).clamp(0.0, 1.0).detach();
    let mut g = x.zeros_like();
    for _ in 0..spec.iters {
        let grad = tch::with_grad(|| {
            let xg = adv.detach().set_requires_grad(true);
            let loss = (features(net, &xg) - &clean).pow_tensor_scalar(2).sum(Kind::Float);
            Tensor::run_backward(&[loss], &[&xg], false, false).remove(0)
        });
        adv = tch::no_grad(|| {
            let dir = match spec.attack {
                FeatureAttack::IFgsm => grad.sign(),
                FeatureAttack::MiFgsm => {
                    let l1 = grad.abs().mean_dim([1i64, 2, 3].as_slice(), true, Kind::Float) + 1e-12;
                    g = &g * spec.momentum + &grad / l1;
                    g.sign()
                }
            };
            let stepped = &adv + dir * spec.step;
            stepped.clamp_tensor(Some(&(x - spec.eps)), Some(&(x + spec.eps))).clamp(0.0, 1.0)
        });
    }
    adv
}

/// Attacks every query with each of `specs` (with its budget's text) and ranks the clean gallery for
/// the attacked queries; `progress` hears each attack as it starts.
pub fn attacked_retrieval(
    net: &Network,
    test: &Dataset,
    batch: usize,
    device: Device,
    specs: &[(FeatureAttackSpec, String)],
    progress: &mut dyn FnMut(&str),
) -> Result<ReidAttackReport> {
    let (queries, _) = parts(test)?;
    // One pass over queries and gallery, as the clean evaluation makes it, so that the clean row is
    // that evaluation's to the last bit.
    let (all, dim) = extract(net, test, batch, device)?;
    let gf = &all[queries.len() * dim..];
    let clean = retrieval_metrics(&all, dim, test.retrieval.as_ref().expect("checked by parts"));
    let mut results = Vec::with_capacity(specs.len());
    for (spec, eps_text) in specs {
        progress(&format!("{} ε={eps_text}", spec.attack.name()));
        let (attacked_set, similarity, max_perturbation) = attacked_set(net, &queries, batch, device, spec)?;
        let (af, _) = extract(net, &attacked_set, batch, device)?;
        results.push(ReidAttackResult {
            spec: *spec,
            eps_text: eps_text.clone(),
            attacked: against_gallery(test, &af, gf, dim),
            mean_similarity_to_clean: similarity,
            max_perturbation,
        });
    }
    Ok(ReidAttackReport { queries: queries.len(), clean, results })
}

/// The queries attacked with `spec`, stored as u8 images as they would be saved, with the mean
/// cosine of each attacked feature to its clean one and the largest perturbation.
fn attacked_set(
    net: &Network,
    queries: &Dataset,
    batch: usize,
    device: Device,
    spec: &FeatureAttackSpec,
) -> Result<(Dataset, f64, f64)> {
    let mut adv_bytes = Vec::with_capacity(queries.images.len());
    let (mut sim_sum, mut max_pert) = (0f64, 0f64);
    let spec_eval = LoaderSpec::evaluation(batch);
    let idx: Vec<usize> = (0..queries.len()).collect();
    for chunk in idx.chunks(batch.max(1)) {
        let x = make_batch(queries, chunk, &spec_eval, 0).images.to_device(device);
        let ids: Vec<u64> = chunk.iter().map(|&i| i as u64).collect();
        let adv = attack_queries(net, &x, &ids, spec);
        tch::no_grad(|| {
            max_pert = max_pert.max((&adv - &x).abs().max().double_value(&[]));
            let (a, c) = (features(net, &adv), features(net, &x));
            let cos = (&a * &c).sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
                / (a.norm_scalaropt_dim(2, [1i64].as_slice(), false)
                    * c.norm_scalaropt_dim(2, [1i64].as_slice(), false)
                    + 1e-12);
            sim_sum += cos.sum(Kind::Double).double_value(&[]);
            let u8s = (adv * 255.0).round().clamp(0.0, 255.0).to_kind(Kind::Uint8).permute([0, 2, 3, 1]).contiguous();
            adv_bytes.extend(Vec::<u8>::try_from(&u8s.to_device(Device::Cpu).flatten(0, -1)).unwrap_or_default());
        });
    }
    if adv_bytes.len() != queries.images.len() {
        return Err(Error::Config("the attacked queries could not be read back from the device".into()));
    }
    let set = Dataset { images: adv_bytes, labels: queries.labels.clone(), ..queries.clone_empty() };
    Ok((set, sim_sum / queries.len().max(1) as f64, max_pert))
}
