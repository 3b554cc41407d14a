//! `explain`: what the feature-level methods do to one image, drawn as one PNG (rows of tiles) with a
//! JSON description: LFM's masked regions (docs/methods.md §1), TENET's channel groups and inhibition masks
//! (§2), and FMA's feature-map differences between the image and a CA view of it (§3.3).
use crate::config::{CaConfig, LfmConfig, MethodConfig, TenetConfig};
use crate::data::augment::CaSpec;
use crate::error::{Error, Result};
use crate::methods::{self, lfm, tenet};
use crate::models::Network;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

/// One row of the picture: a title and a caption per tile.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub title: String,
    pub tiles: Vec<String>,
}

/// What `explain` found, beside the picture.
#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    pub label: i64,
    pub predicted: i64,
    pub rows: Vec<Row>,
    pub lfm_stage: String,
    pub tenet_stage: String,
    /// Channels per TENET group and the group importances I_g (non-positive: not inhibited).
    pub tenet_group_sizes: Vec<i64>,
    pub tenet_importance: Vec<f64>,
    /// The CA view compared by FMA, and the mean |F_l(x) − F_l(x̃)| per stage.
    pub fma_view: String,
    pub fma_mean_difference: Vec<(String, f64)>,
}

const TILE_GAP: u32 = 4;
const MAX_CHANNELS: usize = 6;

/// A 2-D map (H×W floats) as a tile of `size` px, coloured by a dark-blue → yellow ramp over [lo, hi].
/// Image `i` of `ds` as a 1×C×H×W tensor in [0,1].
pub fn dataset_image(ds: &crate::data::Dataset, i: usize) -> Tensor {
    let (c, h, w) = (ds.channels, ds.height, ds.width);
    let px = ds.image(i);
    let chw: Vec<f32> = (0..c * h * w).map(|k| px[(k % (h * w)) * c + k / (h * w)] as f32 / 255.0).collect();
    Tensor::from_slice(&chw).reshape([1, c as i64, h as i64, w as i64])
}

fn heat_tile(map: &[f32], (h, w): (usize, usize), (lo, hi): (f32, f32), size: u32) -> image::RgbImage {
    let span = if hi > lo { hi - lo } else { 1.0 };
    image::RgbImage::from_fn(size, size, |x, y| {
        let (r, c) = ((y as usize * h) / size as usize, (x as usize * w) / size as usize);
        let t = ((map[r * w + c] - lo) / span).clamp(0.0, 1.0);
        image::Rgb([(255.0 * t.powf(0.8)) as u8, (220.0 * t) as u8, (120.0 * (1.0 - t) + 30.0 * t) as u8])
    })
}

/// The input (C×H×W in [0,1]) as a tile.
fn image_tile(chw: &[f32], (c, h, w): (usize, usize, usize), size: u32) -> image::RgbImage {
    image::RgbImage::from_fn(size, size, |x, y| {
        let (r, col) = ((y as usize * h) / size as usize, (x as usize * w) / size as usize);
        let v = |k: usize| (chw[(k.min(c - 1)) * h * w + r * w + col].clamp(0.0, 1.0) * 255.0) as u8;
        image::Rgb([v(0), v(1), v(2)])
    })
}

fn floats(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1)).unwrap_or_default()
}

fn range(v: &[f32]) -> (f32, f32) {
    v.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

/// Draws rows of tiles on one canvas, each under its title.
fn compose(rows: &[(Vec<image::RgbImage>, Row)], size: u32) -> image::RgbImage {
    use crate::bitmap_font::{draw_text, text_width};
    let cols = rows.iter().map(|(t, _)| t.len()).max().unwrap_or(1) as u32;
    let step = size + TILE_GAP;
    let width = cols * step + TILE_GAP;
    // Titles twice the font's size where the longest fits, else at its size.
    let longest = rows.iter().map(|(_, r)| text_width(&r.title, 1)).max().unwrap_or(0);
    let scale = if 2 * longest + TILE_GAP <= width { 2 } else { 1 };
    let strip = 7 * scale + 2 * TILE_GAP;
    let row_height = strip + step;
    let mut canvas =
        image::RgbImage::from_pixel(width, rows.len() as u32 * row_height + TILE_GAP, image::Rgb([40, 40, 40]));
    for (r, (tiles, row)) in rows.iter().enumerate() {
        let top = r as u32 * row_height;
        draw_text(&mut canvas, (TILE_GAP, top + TILE_GAP), &row.title, scale, image::Rgb([230, 230, 230]));
        for (c, tile) in tiles.iter().enumerate() {
            let (x, y) = (TILE_GAP + c as u32 * step, top + strip + TILE_GAP);
            image::imageops::replace(&mut canvas, tile, x as i64, y as i64);
        }
    }
    canvas
}

/// Tiles of one row with the row's description.
type TileRow = (Vec<image::RgbImage>, Row);

/// The CA view of `x` (C×H×W values `input`) drawn as in training: (view as C×H×W, its name).
fn ca_view(
    method: &MethodConfig,
    input: &[f32],
    (c, h, w): (usize, usize, usize),
    seed: u64,
) -> Result<(Vec<f32>, String)> {
    let cfg = CaConfig { clean_fraction: 0.0, ..method.get_or_default() };
    let ca = CaSpec::new(&cfg, true);
    let (name, severity) = ca.draw(&mut crate::rng::rng_for(seed, &[0x4558])).unwrap_or(("gaussian_noise", 3));
    let hwc: Vec<u8> = (0..h * w * c).map(|i| (input[(i % c) * h * w + i / c] * 255.0).round() as u8).collect();
    let bad = |e: corrupt::Error| Error::Config(format!("explain: {e}"));
    let img = corrupt::Image::new(hwc, h, w, c).map_err(bad)?;
    let viewed = corrupt::corrupt(&img, name, severity, &mut corrupt::rng_for(seed, name, severity, 0)).map_err(bad)?;
    let chw = (0..h * w * c).map(|i| viewed.data[(i % (h * w)) * c + i / (h * w)] as f32 / 255.0).collect();
    Ok((chw, format!("{name} severity {severity}")))
}

/// LFM: up to six masked channels of its stage's map, before and after masking (probability forced to 1).
fn lfm_row(net: &Network, method: &MethodConfig, x: &Tensor, seed: u64, size: u32) -> Result<(TileRow, String)> {
    let cfg = LfmConfig { probability: 1.0, ..method.get_or_default() };
    let stage = methods::conv_stage(net, &cfg.stage, "method.lfm.stage")?;
    let feat = tch::no_grad(|| net.forward_to(x, stage, false));
    let (_, fc, fh, fw) = feat.size4().unwrap_or((0, 0, 0, 0));
    let (fh, fw) = (fh as usize, fw as usize);
    let regions = lfm::plan(&cfg, seed, 0, 1, fc as usize, fh, fw);
    let masked = tch::no_grad(|| lfm::apply(&feat, &regions, cfg.fill));
    let mut channels: Vec<usize> = Vec::new();
    for r in &regions {
        if !channels.contains(&r.channel) && channels.len() < MAX_CHANNELS {
            channels.push(r.channel);
        }
    }
    let (before, after) = (floats(&feat), floats(&masked));
    let plane = |v: &[f32], ch: usize| v[ch * fh * fw..(ch + 1) * fh * fw].to_vec();
    let (mut tiles, mut captions) = (Vec::new(), Vec::new());
    for &ch in &channels {
        let (b, a) = (plane(&before, ch), plane(&after, ch));
        let limits = range(&[b.as_slice(), a.as_slice()].concat());
        tiles.push(heat_tile(&b, (fh, fw), limits, size));
        tiles.push(heat_tile(&a, (fh, fw), limits, size));
        captions.extend([format!("channel {ch}"), format!("channel {ch} masked")]);
    }
    let row = Row { title: format!("LFM at {}: channel, then masked", cfg.stage), tiles: captions };
    Ok(((tiles, row), cfg.stage))
}

/// What TENET found for the image: group sizes and importances.
struct TenetFindings {
    stage: String,
    sizes: Vec<i64>,
    importance: Vec<f64>,
}

/// TENET (docs/methods.md §2.3): the group-mean maps and the group masks, one row each.
fn tenet_rows(
    net: &Network,
    method: &MethodConfig,
    x: &Tensor,
    label: i64,
    seed: u64,
    size: u32,
) -> Result<(TileRow, TileRow, TenetFindings)> {
    let cfg: TenetConfig = method.get_or_default();
    let stage_name = cfg.stage.clone().unwrap_or_else(|| methods::default_tenet_stage(net).to_string());
    let stage = methods::conv_stage(net, &stage_name, "method.tenet.stage")?;
    let y = Tensor::from_slice(&[label]).to_device(x.device());
    let (a, g) = tenet::importance_gradient(net, x, &y, stage);
    let (_, c, h, w) = a.size4().unwrap_or((0, 0, 0, 0));
    let k = (cfg.groups as i64).min(c);
    let (labels, masks) = tch::no_grad(|| {
        let init = tenet::initial_centres(1, c, k, seed, &[0x5445], x.device());
        let labels = tenet::kmeans(&a.reshape([1, c, h * w]), &init, cfg.kmeans_iters, cfg.kmeans_tol);
        let masks = tenet::inhibition_masks(&a, &g, &labels, k, cfg.std_eps);
        (labels, masks)
    });
    let (counts, group_maps) = tenet::group_means(&a, &labels, k);
    let importance: Vec<f64> = floats(&tenet::group_importance(&g, &labels, k)).iter().map(|&v| v as f64).collect();
    let sizes: Vec<i64> = floats(&counts).iter().map(|&v| v as i64).collect();
    let means = floats(&group_maps);
    let channel_group = Vec::<i64>::try_from(labels.flatten(0, -1).to_device(Device::Cpu)).unwrap_or_default();
    let mask_values = floats(&masks);
    let (hw, dims) = ((h * w) as usize, (h as usize, w as usize));
    let (mut groups, mut group_caps, mut mask_tiles, mut mask_caps) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for gi in 0..k as usize {
        let u = means[gi * hw..(gi + 1) * hw].to_vec();
        groups.push(heat_tile(&u, dims, range(&u), size));
        group_caps.push(format!("group {gi}: {} channels, importance {:.3e}", sizes[gi], importance[gi]));
        let mask = channel_group
            .iter()
            .position(|&l| l == gi as i64)
            .map_or_else(|| vec![1.0; hw], |ch| mask_values[ch * hw..(ch + 1) * hw].to_vec());
        mask_tiles.push(heat_tile(&mask, dims, (0.0, 1.0), size));
        mask_caps.push(format!("group {gi} mask (0 = inhibited, 1 = kept)"));
    }
    let group_row = Row { title: format!("TENET at {stage_name}: group-mean maps"), tiles: group_caps };
    let mask_row = Row { title: "TENET inhibition masks".into(), tiles: mask_caps };
    Ok(((groups, group_row), (mask_tiles, mask_row), TenetFindings { stage: stage_name, sizes, importance }))
}

/// FMA (docs/methods.md §3.3): mean |F_l(x) − F_l(x̃)| over channels per stage with feature maps.
fn fma_row(net: &Network, x: &Tensor, view: &Tensor, size: u32) -> (TileRow, Vec<(String, f64)>) {
    let names = net.stages();
    let (clean, viewed) = tch::no_grad(|| (net.stage_outputs(x, false), net.stage_outputs(view, false)));
    let (mut tiles, mut captions, mut means) = (Vec::new(), Vec::new(), Vec::new());
    for (s, name) in names.iter().enumerate().take(names.len().saturating_sub(1)) {
        // Feature maps only: a re-ID model's embedding is a vector, with no map to draw.
        if clean[s].dim() != 4 {
            continue;
        }
        let diff = (&clean[s] - &viewed[s]).abs().mean_dim([1i64].as_slice(), false, Kind::Float);
        let (dh, dw) = (diff.size()[1] as usize, diff.size()[2] as usize);
        let d = floats(&diff);
        let mean = d.iter().map(|&v| v as f64).sum::<f64>() / d.len().max(1) as f64;
        tiles.push(heat_tile(&d, (dh, dw), (0.0, range(&d).1), size));
        captions.push(format!("{name}: mean |difference| {mean:.4}"));
        means.push((name.to_string(), mean));
    }
    let row = Row { title: "FMA: |F(x) - F(view)| averaged over channels, per stage".into(), tiles: captions };
    ((tiles, row), means)
}

/// Explains one image `x` (1×C×H×W in [0,1], with true class `label`) with the run's method settings
/// (LFM, TENET and CA defaults where the run has none); returns the picture and its description.
pub fn explain(
    net: &Network,
    method: &MethodConfig,
    x: &Tensor,
    label: i64,
    seed: u64,
) -> Result<(image::RgbImage, Explanation)> {
    let (_, c, h, w) = x.size4().map_err(|e| Error::Config(format!("explain: {e}")))?;
    let shape = (c as usize, h as usize, w as usize);
    let size = (2 * h.max(w) as u32).max(72);
    let input = floats(x);
    let logits = tch::no_grad(|| net.forward(x, false));
    crate::eval::finite::check(crate::eval::finite::bad_rows(&logits))?;
    let predicted = logits.argmax(-1, false).int64_value(&[0]);
    let (view, view_name) = ca_view(method, &input, shape, seed)?;
    let inputs = (
        vec![image_tile(&input, shape, size), image_tile(&view, shape, size)],
        Row { title: "input and its CA view".into(), tiles: vec!["input".into(), view_name.clone()] },
    );
    let (lfm, lfm_stage) = lfm_row(net, method, x, seed, size)?;
    let (groups, masks, found) = tenet_rows(net, method, x, label, seed, size)?;
    let view = Tensor::from_slice(&view).reshape([1, c, h, w]).to_device(x.device());
    let (fma, fma_mean_difference) = fma_row(net, x, &view, size);
    let all = [inputs, lfm, groups, masks, fma];
    let picture = compose(&all, size);
    let explanation = Explanation {
        label,
        predicted,
        rows: all.into_iter().map(|(_, r)| r).collect(),
        lfm_stage,
        tenet_stage: found.stage,
        tenet_group_sizes: found.sizes,
        tenet_importance: found.importance,
        fma_view: view_name,
        fma_mean_difference,
    };
    Ok((picture, explanation))
}
