//! State dicts trained elsewhere (docs/imported.md): torchvision's and timm's ResNets, RobustBench's
//! WideResNets and PreActResNet-18. The zoo's models of those layouts carry their sources' parameter
//! names, so the mapping is strict: apart from DataParallel's `module.` prefix, batch norms' step
//! counters, RobustBench's unused `sub_block1` and its `mu`/`sigma` normalisation buffers (which
//! become the model's normalisation), every name and shape must match.
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{nn::VarStore, Tensor};

/// Where a state dict comes from: whose names and whose input convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Torchvision,
    Timm,
    RobustBench,
}

/// ImageNet's per-channel mean and std, which torchvision's and timm's ResNets expect inputs normalised with.
const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];

impl Source {
    pub fn parse(s: &str) -> Result<Source> {
        match s {
            "torchvision" => Ok(Source::Torchvision),
            "timm" => Ok(Source::Timm),
            "robustbench" => Ok(Source::RobustBench),
            _ => Err(Error::Config(format!("--from {s}: expected torchvision, timm or robustbench"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Source::Torchvision => "torchvision",
            Source::Timm => "timm",
            Source::RobustBench => "robustbench",
        }
    }

    /// The zoo architectures whose names are this source's.
    pub fn archs(self) -> &'static [&'static str] {
        match self {
            Source::Torchvision | Source::Timm => &["resnet18", "resnet50", "resnet50-reid", "resnet50-reid-s1"],
            Source::RobustBench => {
                &["wrn-28-10", "wrn-34-10", "wrn-70-16", "wrn-16-2", "wrn-16-4", "wrn-40-2", "preact-resnet18"]
            }
        }
    }

    /// The input normalisation the source's models assume: ImageNet's mean and std for torchvision
    /// and timm, none (images in [0, 1]) for RobustBench, whose models normalise inside if at all.
    pub fn normalization(self) -> (Vec<f64>, Vec<f64>) {
        match self {
            Source::Torchvision | Source::Timm => (IMAGENET_MEAN.to_vec(), IMAGENET_STD.to_vec()),
            Source::RobustBench => (vec![0.0; 3], vec![1.0; 3]),
        }
    }

    /// Checks that `arch` is one of this source's layouts.
    pub fn check_arch(self, arch: &str) -> Result<()> {
        if self.archs().contains(&arch) {
            return Ok(());
        }
        Err(Error::Config(format!(
            "--arch {arch}: {} state dicts map onto {} (robustcnn models)",
            self.name(),
            self.archs().join(", ")
        )))
    }
}

/// The classifier's parameter prefix in `arch`.
pub fn head_of(arch: &str) -> &'static str {
    if arch.starts_with("preact") {
        "linear."
    } else if arch.contains("reid") {
        "classifier."
    } else {
        "fc."
    }
}

/// What an import did: tensors copied, names set aside (with why), whether the head is new, and the
/// normalisation the file itself carries (RobustBench's `mu`/`sigma` buffers), now the model's.
#[derive(Debug, Default)]
pub struct Mapping {
    pub loaded: usize,
    /// Each name set aside with why.
    pub set_aside: Vec<(String, &'static str)>,
    pub new_head: bool,
    pub normalization: Option<(Vec<f64>, Vec<f64>)>,
}

impl Mapping {
    /// The names set aside, counted per reason, in the order the reasons first appear.
    pub fn set_aside_counts(&self) -> Vec<(&'static str, usize)> {
        let mut counts: Vec<(&'static str, usize)> = Vec::new();
        for (_, why) in &self.set_aside {
            match counts.iter_mut().find(|(w, _)| w == why) {
                Some((_, n)) => *n += 1,
                None => counts.push((why, 1)),
            }
        }
        counts
    }
}

/// Reads a state dict by name: a .safetensors file, or a PyTorch pickle (.pt/.pth) that libtorch
/// can read, with the state dict at the top or under "state_dict" or "model".
pub fn read_state_dict(path: &Path) -> Result<Vec<(String, Tensor)>> {
    if !path.is_file() {
        return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")));
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    match ext.as_str() {
        "safetensors" => Tensor::read_safetensors(path).map_err(|e| {
            Error::format(path, format!("not a readable safetensors file: {}", crate::error::one_line(&e.to_string())))
        }),
        "pt" | "pth" | "bin" | "ckpt" => super::pickle::read_state_dict(path),
        _ => Err(Error::format(path, "expected a .safetensors file or a .pt/.pth PyTorch pickle of a state dict")),
    }
}

/// Why a source name is not one of the model's, or None when it is to be matched.
fn set_aside_reason(name: &str) -> Option<&'static str> {
    if name.ends_with("num_batches_tracked") {
        Some("batch-norm step counter, unused in evaluation")
    } else if name.starts_with("sub_block1.") {
        Some("RobustBench's WideResNet keeps sub_block1 but never runs it")
    } else {
        None
    }
}

/// At most ten names, then how many more.
fn listed(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(10).map(|s| s.as_str()).collect();
    match names.len() {
        n if n > 10 => format!("{} and {} more", shown.join(", "), n - 10),
        _ => shown.join(", "),
    }
}

/// Copies `tensors` (read from `file`) into the model in `vs` built as `arch`; with `new_head` the
/// classifier keeps its fresh initialisation. Any missing, unexpected or wrong-shaped name is one
/// error listing them all; nothing is copied then.
pub fn load_state_dict(
    vs: &VarStore,
    file: &Path,
    arch: &str,
    tensors: Vec<(String, Tensor)>,
    new_head: bool,
) -> Result<Mapping> {
    let mut mapping = Mapping { new_head, ..Mapping::default() };
    let strip = tensors.iter().all(|(n, _)| n.starts_with("module."));
    let mut theirs = BTreeMap::new();
    for (name, t) in tensors {
        let name = if strip { name["module.".len()..].to_string() } else { name };
        match set_aside_reason(&name) {
            Some(why) => mapping.set_aside.push((name, why)),
            None => {
                theirs.insert(name, t);
            }
        }
    }
    let mut ours: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let (mean, std) = (ours.remove("normalize.mean"), ours.remove("normalize.std"));
    let inside = match (theirs.remove("mu"), theirs.remove("sigma"), mean, std) {
        (Some(mu), Some(sigma), Some(mean), Some(std)) if mu.size() == mean.size() && sigma.size() == std.size() => {
            Some((mu, sigma, mean, std))
        }
        (Some(_), Some(_), ..) => {
            return Err(Error::format(file, "its mu and sigma buffers do not have one value per input channel"))
        }
        _ => None,
    };
    let head = head_of(arch);
    if new_head && head != "fc." {
        // An ImageNet classifier under a re-ID model: its ClassBlock replaces it (docs/reid.md §2).
        let fc: Vec<String> = theirs.keys().filter(|n| n.starts_with("fc.")).cloned().collect();
        for name in fc {
            theirs.remove(&name);
            mapping.set_aside.push((name, "the source's classifier, replaced by the new head"));
        }
    }
    let is_head = |n: &str| new_head && n.starts_with(head);
    let missing: Vec<String> = ours.keys().filter(|n| !theirs.contains_key(*n) && !is_head(n)).cloned().collect();
    let unexpected: Vec<String> = theirs.keys().filter(|n| !ours.contains_key(*n)).cloned().collect();
    let mut wrong: Vec<String> = Vec::new();
    let mut head_differs = false;
    for (name, t) in &theirs {
        if let Some(var) = ours.get(name) {
            if t.size() != var.size() && !is_head(name) {
                head_differs |= name.starts_with(head);
                wrong.push(format!("{name} {:?} (the model's: {:?})", t.size(), var.size()));
            }
        }
    }
    if !(missing.is_empty() && unexpected.is_empty() && wrong.is_empty()) {
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("missing {}: {}", missing.len(), listed(&missing)));
        }
        if !unexpected.is_empty() {
            parts.push(format!("unexpected {}: {}", unexpected.len(), listed(&unexpected)));
        }
        if !wrong.is_empty() {
            parts.push(format!("wrong shape {}: {}", wrong.len(), listed(&wrong)));
        }
        let hint = if head_differs || (head != "fc." && !new_head && !arch.starts_with("preact")) {
            "; the classifier has another class count: pass --new-head to start a fresh one for this dataset"
        } else {
            ""
        };
        return Err(Error::format(file, format!("does not match {arch}: {}{hint}", parts.join("; "))));
    }
    tch::no_grad(|| {
        if let Some((mu, sigma, mut mean, mut std)) = inside {
            mean.copy_(&mu.to_kind(mean.kind()));
            std.copy_(&sigma.to_kind(std.kind()));
            let values =
                |t: &Tensor| Vec::<f64>::try_from(t.reshape([-1]).to_kind(tch::Kind::Double)).unwrap_or_default();
            mapping.normalization = Some((values(&mean), values(&std)));
        }
        for (name, mut var) in ours {
            if let Some(src) = theirs.get(&name).filter(|_| !is_head(&name)) {
                var.copy_(&src.to_kind(var.kind()).to_device(var.device()));
                mapping.loaded += 1;
            }
        }
    });
    Ok(mapping)
}
