//! The options that say which corruptions, at which severities, and how they are drawn: shared by
//! `corrupt`, `corrupt preview`, `corrupt bench` and `eval corruptions`.
use anyhow::{bail, Context, Result};
use clap::Args;
use corrupt::Corruptor;
use robustcnn::eval::corruptions;
use std::path::PathBuf;

/// How images are corrupted: shared by `corrupt`, `corrupt preview` and `eval corruptions`.
#[derive(Args, Clone, Debug)]
pub struct EngineArgs {
    /// Seed of every random draw (per corruption, severity and image index) [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Parameter preset: auto (by image size: cifar up to 64 px, imagenet at 224, else sized), cifar,
    /// imagenet, or sized (imagecorruptions) [default: auto]
    #[arg(long)]
    pub preset: Option<String>,
    /// A directory of frost photographs (frost1.png … frost6.jpg of the reference) [default: the
    /// reference's, cached by the setup in ~/.cache/robustcnn/frost, or $ROBUSTCNN_FROST_DIR]
    #[arg(long)]
    pub frost_dir: Option<PathBuf>,
    /// Draw procedural frost textures instead of the reference's photographs.
    #[arg(long, conflicts_with = "frost_dir")]
    pub procedural_frost: bool,
    /// Worker threads for corrupting (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
}

impl EngineArgs {
    /// --seed, 0 unless given.
    pub fn seed(&self) -> u64 {
        self.seed.unwrap_or(0)
    }

    /// --preset, auto unless given.
    pub fn preset(&self) -> &str {
        self.preset.as_deref().unwrap_or("auto")
    }

    /// The first option given that says how images are corrupted (none of which matters to images
    /// made already).
    pub fn given_drawing_option(&self) -> Option<&'static str> {
        [
            (self.seed.is_some(), "--seed"),
            (self.preset.is_some(), "--preset"),
            (self.frost_dir.is_some(), "--frost-dir"),
            (self.procedural_frost, "--procedural-frost"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }

    /// The frost photographs in use: --frost-dir, else the default ones unless --procedural-frost.
    pub fn frost(&self) -> Option<PathBuf> {
        corruptions::frost_folder(self.frost_dir.as_deref(), self.procedural_frost)
    }

    /// How frost is made, for protocols and manifests.
    pub fn frost_label(&self) -> String {
        corruptions::frost_label(self.frost_dir.as_deref(), self.frost().as_deref())
    }

    /// The corruptor these options describe (its description says which frost it draws).
    pub fn corruptor(&self) -> Result<Corruptor> {
        Ok(corruptions::corruptor(self.preset(), self.frost().as_deref(), ["--preset", "--frost-dir"])?)
    }

    /// A one-line description for results and manifests.
    pub fn describe(&self, corruptor: &Corruptor, size: (usize, usize)) -> String {
        corruptions::describe(corruptor, self.seed(), size)
    }
}

/// Parses a corruption list (names and groups) for option `option`.
pub fn corruption_list(spec: &str, option: &str) -> Result<Vec<&'static str>> {
    corrupt::select(spec).map_err(|e| anyhow::anyhow!("{option}: {e}"))
}

/// Parses `--severities`: numbers and ranges in 1–5 ("1,3", "1-5", "2-3,5"), each once, in
/// ascending order.
pub fn severity_list(spec: &str) -> Result<Vec<u8>> {
    let mut list = Vec::new();
    for item in spec.split(',').map(str::trim) {
        let level = |t: &str| {
            t.trim().parse::<u8>().ok().with_context(|| {
                format!("--severities: '{item}' is not a severity (give numbers or ranges in 1–5: 1,3 or 1-5)")
            })
        };
        let (from, to) = match item.split_once('-') {
            Some((a, b)) => (level(a)?, level(b)?),
            None => (level(item)?, level(item)?),
        };
        if let Some(s) = [from, to].into_iter().find(|s| !(1..=5).contains(s)) {
            bail!("--severities: {s} is outside 1–5");
        }
        if from > to {
            bail!("--severities: the range {item} runs backwards (write {to}-{from})");
        }
        list.extend(from..=to);
    }
    for (i, &s) in list.iter().enumerate() {
        if list[..i].contains(&s) {
            bail!("--severities: {s} is listed twice");
        }
    }
    list.sort_unstable();
    Ok(list)
}
