//! `robustcnn import FILE --from SOURCE --arch NAME --dataset NAME --out DIR`: a state dict trained
//! elsewhere becomes a run directory that eval, explain and train --init use (docs/imported.md).
use anyhow::{bail, Context, Result};
use clap::Args;
use robustcnn::config::Config;
use robustcnn::models::import::{self, Source};
use robustcnn::train::{self, RunDir};
use std::path::PathBuf;

#[derive(Args)]
pub struct ImportArgs {
    /// The state dict: a .safetensors file, or a .pt/.pth PyTorch pickle libtorch can read.
    pub file: PathBuf,
    /// Whose names and input convention: torchvision, timm or robustbench.
    #[arg(long)]
    pub from: String,
    /// The zoo architecture with the same layout (resnet18/resnet50 for torchvision and timm;
    /// a wrn-* or preact-resnet18 for robustbench).
    #[arg(long)]
    pub arch: String,
    /// The dataset the run evaluates on and finetunes with (robustcnn data list).
    #[arg(long)]
    pub dataset: String,
    /// Where the dataset's files are (as for train --data-dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Image folders: bring images to HxW, e.g. 224x224.
    #[arg(long, value_name = "HxW")]
    pub input_size: Option<String>,
    /// Start a fresh classifier for the dataset's classes instead of the file's (for finetuning).
    #[arg(long)]
    pub new_head: bool,
    /// The per-channel mean inputs are normalised with [default: the file's own mu/sigma buffers if
    /// it has them, else the source's: ImageNet's for torchvision and timm, none for robustbench].
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub mean: Vec<f64>,
    /// The per-channel std that goes with --mean.
    #[arg(long, value_delimiter = ',')]
    pub std: Vec<f64>,
    /// The run directory to create.
    #[arg(long, short)]
    pub out: PathBuf,
}

/// Provenance written beside the weights.
const PROVENANCE_FILE: &str = "imported.json";

pub fn run(a: &ImportArgs) -> Result<()> {
    let source = Source::parse(&a.from)?;
    source.check_arch(&a.arch)?;
    if a.mean.len() != a.std.len() {
        bail!("--mean and --std: give both, with one value per channel each");
    }
    let (mean, std) = if a.mean.is_empty() { source.normalization() } else { (a.mean.clone(), a.std.clone()) };
    let tensors = import::read_state_dict(&a.file)?;
    let list = |v: &[f64]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ");
    let mut sets = vec![
        format!("data.dataset=\"{}\"", a.dataset),
        format!("model.name=\"{}\"", a.arch),
        format!("model.mean=[{}]", list(&mean)),
        format!("model.std=[{}]", list(&std)),
    ];
    if let Some(d) = &a.data_dir {
        sets.push(format!("data.data_dir=\"{}\"", d.display()));
    }
    if let Some(size) = &a.input_size {
        let (h, w) = crate::imported::parse_size(size)?;
        sets.push(format!("data.image_size=[{h}, {w}]"));
    }
    let cfg = Config::load(None, &sets)?;
    let mut p = train::prepare(&cfg)?;
    let mapping = import::load_state_dict(&p.vs, &a.file, &a.arch, tensors, a.new_head)?;
    let (mean, std) = match &mapping.normalization {
        Some((m, s)) if a.mean.is_empty() => (m.clone(), s.clone()),
        Some(_) => {
            bail!("--mean/--std: {} carries its own normalisation (mu, sigma); leave them out", a.file.display())
        }
        None => (mean, std),
    };
    (p.cfg.model.mean, p.cfg.model.std) = (Some(mean.clone()), Some(std.clone()));
    let run = RunDir::create(&a.out)?;
    run.write_config(&p.cfg)?;
    run.save_weights("model.safetensors", &p.vs)?;
    let provenance = serde_json::json!({
        "file": a.file.display().to_string(),
        "source": source.name(),
        "arch": a.arch,
        "normalization": {"mean": mean, "std": std},
        "new_head": a.new_head,
        "tensors_loaded": mapping.loaded,
        "set_aside": mapping.set_aside.iter().map(|(n, why)| serde_json::json!({"name": n, "why": why})).collect::<Vec<_>>(),
    });
    let path = a.out.join(PROVENANCE_FILE);
    std::fs::write(&path, serde_json::to_string_pretty(&provenance)?)
        .with_context(|| format!("{}: cannot write", path.display()))?;
    println!(
        "imported {} tensors of {} ({} names) into {} as {} for {} (normalisation mean {:?}, std {:?}){}",
        mapping.loaded,
        a.file.display(),
        source.name(),
        a.out.display(),
        a.arch,
        a.dataset,
        mean,
        std,
        if a.new_head { "; the classifier is new: finetune it with train --init" } else { "" }
    );
    for (why, count) in mapping.set_aside_counts() {
        println!("  set aside: {count} × {why} (listed in {PROVENANCE_FILE})");
    }
    println!("next: robustcnn eval clean {}", a.out.display());
    Ok(())
}
