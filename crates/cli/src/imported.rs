//! `--torchscript FILE`: a model trained elsewhere, evaluated on a dataset's test split as a run is
//! (docs/imported.md).
use anyhow::{bail, Context, Result};
use robustcnn::config::Config;
use robustcnn::data::loader::{make_batch, LoaderSpec};
use robustcnn::data::{self, DataSource};
use robustcnn::models::torchscript;
use robustcnn::train::Prepared;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A TorchScript model and the data to evaluate it on.
#[derive(clap::Args)]
pub struct ImportedArgs {
    /// Evaluate this TorchScript module (torch.jit.trace or torch.jit.script, saved with
    /// torch.jit.save) instead of a run; it must map N×C×H×W images to N×classes logits.
    #[arg(long, value_name = "FILE")]
    pub torchscript: Option<PathBuf>,
    /// With --torchscript: the dataset whose test split it is evaluated on (robustcnn data list).
    #[arg(long, requires = "torchscript")]
    pub dataset: Option<String>,
    /// With --torchscript: where the dataset's files are (as for train --data-dir).
    #[arg(long, requires = "torchscript")]
    pub data_dir: Option<PathBuf>,
    /// With --torchscript and an image folder: bring images to HxW, e.g. 224x224.
    #[arg(long, value_name = "HxW", requires = "torchscript")]
    pub input_size: Option<String>,
    /// With --torchscript: the per-channel mean the model expects inputs normalised with, applied
    /// before it so that ε stays in pixel units (leave out when the module normalises itself).
    #[arg(long, value_delimiter = ',', requires = "torchscript", allow_negative_numbers = true)]
    pub mean: Vec<f64>,
    /// With --torchscript: the per-channel std that goes with --mean.
    #[arg(long, value_delimiter = ',', requires = "torchscript")]
    pub std: Vec<f64>,
}

/// Images probed at loading: enough for a batch, few enough to be quick.
const PROBE: usize = 3;

impl ImportedArgs {
    /// The module at `file` with the dataset's test split, as an evaluation opens a run.
    pub fn open(&self, file: &Path, device: Option<&str>) -> Result<Prepared> {
        let Some(dataset) = &self.dataset else {
            bail!(
                "--torchscript {}: say which test set to evaluate it on with --dataset (robustcnn data list)",
                file.display()
            )
        };
        let image_size = self.input_size.as_deref().map(parse_size).transpose()?;
        data::check_size(dataset, image_size, "--input-size")?;
        let src =
            DataSource { data_dir: self.data_dir.clone(), image_size, fit: None, grayscale: false, on_demand: None };
        let mut sets =
            vec![format!("data.dataset=\"{dataset}\""), format!("train.device=\"{}\"", device.unwrap_or("cpu"))];
        if let Some((h, w)) = image_size {
            sets.push(format!("data.image_size=[{h}, {w}]"));
        }
        let cfg = Config::load(None, &sets)?;
        let device = robustcnn::device::parse(&cfg.train.device)?;
        let test = data::load_split(dataset, &src, "test")?;
        if test.is_empty() {
            bail!("{dataset}: the test set has no images, so there is nothing to evaluate");
        }
        let n = test.len().min(PROBE);
        let probe = make_batch(&test, &(0..n).collect::<Vec<_>>(), &LoaderSpec::evaluation(n), 0).images;
        let classes = test.num_classes() as i64;
        let net = torchscript::load(file, device, (&self.mean, &self.std), &probe, classes)?;
        let train = Arc::new(test.select(&[]));
        Ok(Prepared { cfg, train, val: None, test, vs: tch::nn::VarStore::new(device), net, device })
    }
}

/// "224x224" or "224" as (height, width).
pub fn parse_size(text: &str) -> Result<(usize, usize)> {
    let bad = || format!("--input-size {text}: expected HxW such as 224x224, or one side such as 224");
    let (h, w) = text.split_once('x').unwrap_or((text, text));
    let (h, w) = (h.trim().parse::<usize>().with_context(bad)?, w.trim().parse::<usize>().with_context(bad)?);
    if h == 0 || w == 0 {
        bail!(bad());
    }
    Ok((h, w))
}
