//! LFM, local feature masking (Gong et al. 2024; docs/methods.md §1): during training only, regions of
//! randomly chosen channels of a shallow feature map are overwritten with a constant, so the rest of
//! the network learns to do without local evidence. Evaluation never masks.
use super::entry::{Build, Composition, Invalid, MethodInfo, Settings};
use super::random_erasing::erasing_box;
use super::settings::{area_ok, aspect_ok, AREA, ASPECT};
use super::{conv_stage, Method, MethodConfig, StepContext, StepOutput};
use crate::error::Result;
use crate::models::Network;
use crate::rng::rng_for;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Which samples of a batch LFM's gate acts on (docs/methods.md §1.5).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LfmGate {
    /// One draw for the whole batch, as the released code does.
    Batch,
    /// One draw per sample, as the paper's summaries describe it.
    Sample,
}

/// What LFM writes into a masked region.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LfmFill {
    /// A constant drawn from U[0,1) per region (the released code).
    Random,
    Zero,
    /// The mean of that channel of that sample's feature map.
    Mean,
}

/// The shape of the masked region (docs/methods.md §1.2).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LfmRegion {
    /// The Random-Erasing rectangle the paper describes.
    Rectangle,
    /// The full-width horizontal stripe the released code's chained slices actually write.
    Stripe,
}

/// LFM's settings, defaults from the released code's banner `CRE_P015_RC-32` (docs/methods.md §1.2).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LfmConfig {
    /// The stage whose output is masked (`robustcnn models` lists them); the first, "stem", by default.
    pub stage: String,
    /// Probability that masking happens (per batch or per sample, see gate).
    pub probability: f64,
    pub gate: LfmGate,
    /// Channels drawn (with replacement) per batch; each gets one region per masked sample.
    pub channels: usize,
    /// Mask at most the first N samples of a batch (the released code: 8); all when unset.
    pub max_samples: Option<usize>,
    /// Area of a region as a fraction of the map, [low, high] (Random Erasing's s).
    pub area: [f64; 2],
    /// Aspect ratio h/w of a region, [low, high] (Random Erasing's r).
    pub aspect: [f64; 2],
    pub fill: LfmFill,
    pub region: LfmRegion,
}

impl Default for LfmConfig {
    fn default() -> Self {
        LfmConfig {
            stage: "stem".into(),
            probability: 0.15,
            gate: LfmGate::Batch,
            channels: 32,
            max_samples: None,
            area: [0.02, 0.4],
            aspect: [0.3, 1.0 / 0.3],
            fill: LfmFill::Random,
            region: LfmRegion::Rectangle,
        }
    }
}

pub const ENTRY: MethodInfo = MethodInfo {
    section: Some(super::entry::section::<LfmConfig>()),
    ..MethodInfo::new(
        "lfm",
        "local feature masking (Gong et al. 2024): regions of random channels of the stem's output masked, p 0.15, 32 channels",
        Build::Step(build),
    )
};

impl Settings for LfmConfig {
    const KEY: &'static str = "lfm";
    fn check(&self, _: &Composition) -> std::result::Result<(), Invalid> {
        let bad = |key, what: &str| Err(Invalid::Key(key, what.into()));
        if !(0.0..=1.0).contains(&self.probability) {
            return bad("probability", "must be in [0, 1]");
        }
        if self.channels == 0 {
            return bad("channels", "must be at least 1");
        }
        if self.max_samples == Some(0) {
            return bad("max_samples", "must be at least 1 (leave it out to mask any sample)");
        }
        if !area_ok(self.area) {
            return bad("area", AREA);
        }
        if !aspect_ok(self.aspect) {
            return bad("aspect", ASPECT);
        }
        if self.stage == "head" {
            return bad("stage", "must be a convolutional stage, not the head");
        }
        Ok(())
    }
}

fn build(m: &MethodConfig, net: &Network, _: i64) -> Result<Box<dyn Method>> {
    let cfg: LfmConfig = m.get_or_default();
    let stage = conv_stage(net, &cfg.stage, "method.lfm.stage")?;
    Ok(Box::new(Lfm { cfg, stage }))
}

const LFM_SEED: u64 = 0x004c_464d;

/// One masked region of one channel of one sample: rows [r0, r1) × cols [c0, c1), filled with `value`
/// (or the channel's mean for [`LfmFill::Mean`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    pub sample: usize,
    pub channel: usize,
    pub rows: (usize, usize),
    pub cols: (usize, usize),
    pub value: f32,
}

/// The rows and columns a box covers: the rectangle, or the released code's stripe —
/// `x[i][c][y1:y1+h][x1:x1+w]` slices rows twice, giving rows [y1+x1, y1+min(x1+w, h')) with
/// h' = min(h, H−y1), over all columns (empty when x1 ≥ h').
pub fn covered(
    region: LfmRegion,
    (bh, bw, x1, y1): (usize, usize, usize, usize),
    h: usize,
    w: usize,
) -> ((usize, usize), (usize, usize)) {
    match region {
        LfmRegion::Rectangle => ((x1, x1 + bh), (y1, y1 + bw)),
        LfmRegion::Stripe => {
            // Here the code's y1 (drawn against the width) indexes rows first.
            let first = bh.min(h.saturating_sub(y1));
            let (start, end) = (x1.min(first), (x1 + bw).min(first));
            ((y1 + start, y1 + end), (0, w))
        }
    }
}

/// Draws the regions of one step for a batch of `n` maps of `c` channels, `h`×`w` (docs/methods.md §1.2).
pub fn plan(cfg: &LfmConfig, seed: u64, step: u64, n: usize, c: usize, h: usize, w: usize) -> Vec<Region> {
    let mut rng = rng_for(seed, &[LFM_SEED, step]);
    let candidates = cfg.max_samples.map_or(n, |m| m.min(n));
    let samples: Vec<usize> = match cfg.gate {
        LfmGate::Batch => {
            if rng.gen::<f64>() >= cfg.probability {
                return Vec::new();
            }
            (0..candidates).collect()
        }
        LfmGate::Sample => (0..candidates).filter(|_| rng.gen::<f64>() < cfg.probability).collect(),
    };
    if samples.is_empty() {
        return Vec::new();
    }
    let channels: Vec<usize> = (0..cfg.channels).map(|_| rng.gen_range(0..c)).collect();
    let mut out = Vec::new();
    for &sample in &samples {
        for &channel in &channels {
            let Some(b) = erasing_box(&mut rng, h, w, cfg.area, cfg.aspect) else { continue };
            let value = if cfg.fill == LfmFill::Random { rng.gen::<f32>() } else { 0.0 };
            let (rows, cols) = covered(cfg.region, b, h, w);
            if rows.0 < rows.1 && cols.0 < cols.1 {
                out.push(Region { sample, channel, rows, cols, value });
            }
        }
    }
    out
}

/// The feature map with the regions written in, in order (a later region over an earlier one wins,
/// as the code's in-place writes do). Masked positions pass no gradient back.
pub fn apply(feat: &Tensor, regions: &[Region], fill: LfmFill) -> Tensor {
    if regions.is_empty() {
        return feat.shallow_clone();
    }
    let (n, c, h, w) = feat.size4().unwrap_or((0, 0, 0, 0));
    let (n, c, h, w) = (n as usize, c as usize, h as usize, w as usize);
    // Host-side plan of which region last covers each position, then one masked select on the device.
    let mut winner = vec![0i32; n * c * h * w];
    for (k, r) in regions.iter().enumerate() {
        let base = (r.sample * c + r.channel) * h * w;
        for row in r.rows.0..r.rows.1 {
            winner[base + row * w + r.cols.0..base + row * w + r.cols.1].fill(k as i32 + 1);
        }
    }
    let device = feat.device();
    let winner = Tensor::from_slice(&winner).reshape([n as i64, c as i64, h as i64, w as i64]).to_device(device);
    let mask = winner.gt(0);
    let values = match fill {
        LfmFill::Zero => feat.zeros_like(),
        LfmFill::Mean => feat.detach().mean_dim([2i64, 3].as_slice(), true, Kind::Float).expand_as(feat),
        LfmFill::Random => {
            let mut v = vec![0f32];
            v.extend(regions.iter().map(|r| r.value));
            let table = Tensor::from_slice(&v).to_device(device).to_kind(feat.kind());
            table.index_select(0, &winner.flatten(0, -1).to_kind(Kind::Int64)).reshape(feat.size())
        }
    };
    values.where_self(&mask, feat)
}

/// Training with LFM between stage `stage` and the rest of the network.
pub struct Lfm {
    pub cfg: LfmConfig,
    pub stage: usize,
}

impl Method for Lfm {
    fn train_step(&mut self, ctx: &mut StepContext, x: &Tensor, y: &Tensor) -> Result<StepOutput> {
        let feat = ctx.forward_to(x, self.stage);
        let (n, c, h, w) = feat.size4().unwrap_or((0, 0, 0, 0));
        let regions = plan(&self.cfg, ctx.seed, ctx.step as u64, n as usize, c as usize, h as usize, w as usize);
        let masked = apply(&feat, &regions, self.cfg.fill);
        let logits = ctx.forward_from(&masked, self.stage);
        let loss = ctx.cross_entropy(&logits, y);
        let value = ctx.update(&loss, "cross-entropy", None)?;
        ctx.after_update(x, y, &logits)?;
        let covered: usize = regions.iter().map(|r| (r.rows.1 - r.rows.0) * (r.cols.1 - r.cols.0)).sum();
        let fraction = covered as f64 / (n * c * h * w).max(1) as f64;
        Ok(StepOutput {
            loss: loss.detach(),
            logits: logits.detach(),
            terms: vec![
                ("ce".into(), value),
                ("lfm_regions".into(), regions.len() as f64),
                ("lfm_area".into(), fraction),
            ],
        })
    }
}
