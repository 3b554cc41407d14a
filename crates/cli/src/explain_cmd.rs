//! `robustcnn explain RUN IMAGE`: what LFM, TENET and FMA do to one image, as a PNG and a JSON.
use crate::commands::{name_not_finite, ModelArgs};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use tch::Tensor;

#[derive(Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub run_args: ModelArgs,
    /// A PNG or JPEG file (resized to the run's input), or test:N for the N-th test image.
    pub image: String,
    /// The picture to write (a JSON with the same name beside it describes each tile).
    #[arg(long, default_value = "explain.png")]
    pub out: PathBuf,
    /// True class of a file image (by index; default: the model's prediction).
    #[arg(long)]
    pub label: Option<i64>,
    /// Seed of the LFM regions, TENET's k-means start and the CA view.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The image as 1×C×H×W in [0,1] and its label if known.
fn load_image(a: &ExplainArgs, p: &robustcnn::train::Prepared) -> Result<(Tensor, Option<i64>)> {
    let (c, h, w) = (p.test.channels, p.test.height, p.test.width);
    if let Some(n) = a.image.strip_prefix("test:") {
        let i: usize = n.parse().with_context(|| format!("{}: expected test:N with N a number", a.image))?;
        if i >= p.test.len() {
            bail!("{}: the test set has {} images (0..{})", a.image, p.test.len(), p.test.len() - 1);
        }
        return Ok((robustcnn::explain::dataset_image(&p.test, i), Some(p.test.labels[i] as i64)));
    }
    let img = image::open(&a.image).map_err(|e| anyhow!("{}: not a readable PNG or JPEG image ({e})", a.image))?;
    let img = img.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle);
    let bytes: Vec<u8> = if c == 1 { img.to_luma8().into_raw() } else { img.to_rgb8().into_raw() };
    let chw: Vec<f32> = (0..c * h * w).map(|k| bytes[(k % (h * w)) * c + k / (h * w)] as f32 / 255.0).collect();
    Ok((Tensor::from_slice(&chw).reshape([1, c as i64, h as i64, w as i64]), None))
}

pub fn run(a: &ExplainArgs) -> Result<()> {
    if a.out.extension().and_then(|e| e.to_str()) != Some("png") {
        bail!("--out {}: expected a .png file name", a.out.display());
    }
    // Before the run and its data load: a test:N that is not a number, or a file that is not there.
    match a.image.strip_prefix("test:") {
        Some(n) => drop(n.parse::<usize>().with_context(|| format!("{}: expected test:N with N a number", a.image))?),
        None if !std::path::Path::new(&a.image).is_file() => {
            bail!("{}: no such image file (give a PNG or JPEG file, or test:N for the N-th test image)", a.image)
        }
        None => {}
    }
    let (_run, p, _) = a.run_args.open()?;
    let (x, known) = load_image(a, &p)?;
    let x = x.to_device(p.device);
    let classes = p.test.num_classes() as i64;
    let label = match (a.label, known) {
        (Some(l), _) if !(0..classes).contains(&l) => {
            bail!("--label {l}: expected a class index in 0..{}", classes - 1)
        }
        (Some(l), Some(k)) if l != k => {
            let name = |i: i64| p.test.class_names.get(i as usize).cloned().unwrap_or_else(|| i.to_string());
            bail!("--label {l}: {} is of class {k} ({}); --label gives the class of a file image", a.image, name(k))
        }
        (Some(l), _) => l,
        (None, Some(l)) => l,
        (None, None) => tch::no_grad(|| p.net.forward(&x, false).argmax(-1, false).int64_value(&[0])),
    };
    let (picture, info) = robustcnn::explain::explain(&p.net, &p.cfg.method, &x, label, a.seed)
        .map_err(|e| name_not_finite(e.into(), || a.run_args.how.label(&a.run_args.run)))?;
    let json = a.out.with_extension("json");
    let tmp = a.out.with_extension("png.partial");
    let written = picture
        .save_with_format(&tmp, image::ImageFormat::Png)
        .with_context(|| format!("{}: cannot write", a.out.display()))
        .and_then(|()| {
            std::fs::write(&json, serde_json::to_string_pretty(&info)?)
                .with_context(|| format!("{}: cannot write", json.display()))
        })
        .and_then(|()| std::fs::rename(&tmp, &a.out).with_context(|| format!("{}: cannot write", a.out.display())));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    let name = |i: i64| p.test.class_names.get(i as usize).cloned().unwrap_or_else(|| i.to_string());
    println!("class {} (predicted {})", name(info.label), name(info.predicted));
    for r in &info.rows {
        println!("row: {}", r.title);
    }
    println!("picture: {}\ndescription: {}", a.out.display(), json.display());
    Ok(())
}
