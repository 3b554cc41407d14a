//! Turning a recipe into what training needs: data, splits, normalization, model, device.
use crate::config::Config;
use crate::data::augment::Augment;
use crate::data::loader::LoaderSpec;
use crate::data::{self, split, DataSource, Dataset};
use crate::error::Result;
use crate::models::{self, ModelSpec, Network};
use std::sync::Arc;
use tch::{nn::VarStore, Device};

/// Seed path of the initial weights.
const INIT_SEED: u64 = 0;

/// Everything a run needs, built from a resolved config.
pub struct Prepared {
    pub cfg: Config,
    pub train: Arc<Dataset>,
    pub val: Option<Dataset>,
    pub test: Dataset,
    pub vs: VarStore,
    pub net: Network,
    pub device: Device,
}

impl Prepared {
    /// The training loader's settings.
    pub fn loader_spec(&self) -> LoaderSpec {
        LoaderSpec {
            batch_size: self.cfg.data.batch_size,
            shuffle: true,
            drop_last: false,
            augment: self.cfg.data.augment.map(|k| k.or(Augment { crop_padding: 0, flip: false })),
            seed: self.cfg.train.seed,
            workers: self.cfg.data.workers,
            extra: crate::methods::loader_augment(&self.cfg.method, self.cfg.model.mean.as_deref().unwrap_or(&[])),
            shard: None,
        }
    }
}

/// Images of a split decoded on demand that its channel statistics are taken from, evenly spaced.
pub const STATS_SAMPLE: usize = 2000;

/// Per-channel mean and standard deviation of pixel values in [0,1] (of [`STATS_SAMPLE`] evenly
/// spaced images for a split decoded on demand).
pub fn channel_stats(ds: &Dataset) -> Result<(Vec<f64>, Vec<f64>)> {
    let c = ds.channels;
    let (mut s, mut s2) = (vec![0f64; c], vec![0f64; c]);
    let mut add = |pixels: &[u8]| {
        for (i, &v) in pixels.iter().enumerate() {
            let x = v as f64 / 255.0;
            s[i % c] += x;
            s2[i % c] += x * x;
        }
    };
    let count = if ds.on_demand.is_some() {
        let k = ds.len().min(STATS_SAMPLE);
        for j in 0..k {
            add(&ds.try_image(j * ds.len() / k.max(1))?);
        }
        k * ds.image_size()
    } else {
        add(&ds.images);
        ds.images.len()
    };
    let n = (count / c).max(1) as f64;
    let mean: Vec<f64> = s.iter().map(|v| v / n).collect();
    let std = s2.iter().zip(&mean).map(|(v, m)| (v / n - m * m).max(1e-12).sqrt()).collect();
    Ok((mean, std))
}

/// Reads the data and fills in what the recipe left to defaults (augmentation, normalization).
pub fn resolve(cfg: &Config) -> Result<(Config, Dataset, Option<Dataset>, Dataset)> {
    let mut cfg = cfg.clone();
    let info = data::registry_find(&cfg.data.dataset)?;
    let src = DataSource {
        data_dir: cfg.data.data_dir.clone(),
        image_size: cfg.data.image_size.map(|[h, w]| (h, w)),
        fit: cfg.data.fit,
        grayscale: cfg.data.grayscale,
        on_demand: cfg.data.on_demand,
    };
    let splits = data::load(&cfg.data.dataset, &src)?;
    let (train, val) = split::train_val(&splits.train, cfg.data.val_fraction, cfg.train.seed);
    let train = split::stratified_subset(&train, cfg.data.train_fraction, cfg.train.seed);
    let default = Augment { crop_padding: info.augment.0, flip: info.augment.1 };
    cfg.data.augment = Some(cfg.data.augment.unwrap_or_default().or(default).into());
    crate::methods::resolve(&mut cfg.method);
    if cfg.model.mean.is_none() || cfg.model.std.is_none() {
        if let Some(init) = &cfg.train.init {
            super::init::check_model(init, &cfg.model.name)?;
        }
        // A finetuning run keeps the normalisation its starting weights were trained behind.
        let from_init = cfg.train.init.as_deref().map(super::init::init_normalization).transpose()?.flatten();
        let (m, s) = match from_init {
            Some(ms) => ms,
            None => channel_stats(&train)?,
        };
        cfg.model.mean.get_or_insert(m);
        cfg.model.std.get_or_insert(s);
    }
    Ok((cfg, train, val, splits.test))
}

/// Builds data, model and device for a recipe, seeding libtorch's generator for the initial weights.
pub fn prepare(cfg: &Config) -> Result<Prepared> {
    let (cfg, train, val, test) = resolve(cfg)?;
    let device = crate::device::parse(&cfg.train.device)?;
    let spec = ModelSpec {
        in_channels: train.channels as i64,
        num_classes: train.num_classes() as i64,
        mean: cfg.model.mean.clone().unwrap_or_default(),
        std: cfg.model.std.clone().unwrap_or_default(),
    };
    let (vs, net) = initial_model(&cfg, &spec, device)?;
    Ok(Prepared { cfg, train: Arc::new(train), val, test, vs, net, device })
}

/// The seeded initial model on `device`, its weights drawn on the CPU whatever the device, so that one
/// seed gives one model on the CPU and on every GPU (docs/usage.md).
fn initial_model(cfg: &Config, spec: &ModelSpec, device: Device) -> Result<(VarStore, Network)> {
    let seeded = |vs: &VarStore| {
        crate::rng::with_torch_seed(cfg.train.seed, &[INIT_SEED], || models::build(&vs.root(), &cfg.model.name, spec))
    };
    let cpu = VarStore::new(Device::Cpu);
    let net = seeded(&cpu)?;
    if device == Device::Cpu {
        return Ok((cpu, net));
    }
    let mut vs = VarStore::new(device);
    let net = models::build(&vs.root(), &cfg.model.name, spec)?;
    vs.copy(&cpu)?;
    Ok((vs, net))
}
