//! AutoAttack (Croce & Hein ICML 2020; docs/methods.md §4.3): a fixed ensemble of parameter-free
//! attacks, each run only on the points every earlier one left robust, in AutoAttack's order. A point
//! is robust only if it survives all of them; the outcome names the attack that broke each point.
use super::apgd::Apgd;
use super::entry::{AttackEntry, AttackSpec, Param};
use super::fab::Fab;
use super::remaining::{clean_start, Remaining};
use super::square::Square;
use super::{predict, Attack, AttackBatch, LossKind, Norm, Outcome, Stages};
use crate::error::{Error, Result};
use crate::models::Network;

/// `autoattack` in the registry.
pub const ENTRY: AttackEntry = AttackEntry {
    name: "autoattack",
    summary: "AutoAttack: standard = APGD-CE, APGD-T, FAB-T, Square; plus adds APGD-DLR and FAB with 5 restarts; \
              rand = APGD-CE and APGD-DLR with EoT for randomised models",
    params: &[
        Param { key: "version", default: "standard", help: "standard, plus or rand" },
        Param { key: "iters", default: "100", help: "iterations of APGD and FAB (AutoAttack: 100)" },
        Param { key: "targets", default: "9", help: "target classes of APGD-T and FAB-T (AutoAttack: 9)" },
        Param { key: "queries", default: "5000", help: "Square's queries (AutoAttack: 5000)" },
        Param { key: "eot", default: "20", help: "rand: forward passes each gradient is averaged over" },
    ],
    norms: &[Norm::Linf, Norm::L2],
    build,
};

/// AutoAttack's versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Standard,
    Plus,
    Rand,
}

impl Version {
    pub fn name(self) -> &'static str {
        match self {
            Version::Standard => "standard",
            Version::Plus => "plus",
            Version::Rand => "rand",
        }
    }
}

fn build(s: &AttackSpec) -> Result<Box<dyn Attack>> {
    let version = match s.text("version") {
        "standard" => Version::Standard,
        "plus" => Version::Plus,
        "rand" => Version::Rand,
        _ => return Err(s.error("version", "expected standard, plus or rand")),
    };
    let needed = if version == Version::Rand { 3 } else { 4 };
    if s.num_classes < needed {
        return Err(Error::Config(format!(
            "AutoAttack ({}) uses the DLR loss, which needs at least {needed} classes; this dataset has {}",
            version.name(),
            s.num_classes
        )));
    }
    let settings = Settings {
        iters: s.count("iters", 1, "at least 1 iteration")?,
        targets: s.target_count()?,
        queries: s.count("queries", 1, "at least 1 query")?,
        eot: s.count("eot", 1, "at least 1 draw")?,
    };
    let aa = Settings::AUTOATTACK;
    let counts = [
        ("iters", settings.iters, aa.iters, true),
        ("targets", settings.targets, aa.targets, version != Version::Rand),
        ("queries", settings.queries, aa.queries, version != Version::Rand),
        ("eot", settings.eot, aa.eot, version == Version::Rand),
    ];
    let changed = counts.iter().filter(|c| c.3 && c.1 != c.2).map(|c| format!("{}={}", c.0, c.1)).collect();
    Ok(Box::new(AutoAttack::new(s.eps, s.norm, version, s.num_classes, &settings, changed)))
}

/// The knobs AutoAttack's versions share.
pub struct Settings {
    pub iters: usize,
    pub targets: usize,
    pub queries: usize,
    pub eot: usize,
}

impl Settings {
    /// AutoAttack's own values.
    pub const AUTOATTACK: Settings = Settings { iters: 100, targets: 9, queries: 5000, eot: 20 };
}

/// One AutoAttack version at one budget: its attacks in order.
pub struct AutoAttack {
    pub version: Version,
    pub eps: f64,
    pub norm: Norm,
    pub stages: Vec<Box<dyn Attack>>,
    /// Settings that differ from AutoAttack's, named in the label so a cut-down run is never reported as the real one.
    pub changed: Vec<String>,
}

impl AutoAttack {
    /// The version's attacks with AutoAttack's parameters (`settings` may change the counts).
    pub fn new(eps: f64, norm: Norm, version: Version, classes: i64, s: &Settings, changed: Vec<String>) -> AutoAttack {
        let targets = s.targets.min((classes as usize).saturating_sub(1));
        let apgd =
            |loss: LossKind, restarts: usize, eot: usize| Apgd { restarts, loss, eot, ..Apgd::ce(eps, norm, s.iters) };
        let apgd_t = Apgd { targets, ..Apgd::targeted(eps, norm, s.iters, classes) };
        let fab = |restarts: usize| Fab { iters: s.iters, ..Fab::untargeted(eps, norm, restarts) };
        let fab_t = Fab { iters: s.iters, targets, ..Fab::targeted(eps, norm, classes) };
        let square = Square { eps, norm, queries: s.queries, p_init: 0.8, restarts: 1 };
        let stages: Vec<Box<dyn Attack>> = match version {
            Version::Standard => {
                vec![Box::new(apgd(LossKind::Ce, 1, 1)), Box::new(apgd_t), Box::new(fab_t), Box::new(square)]
            }
            Version::Plus => vec![
                Box::new(apgd(LossKind::Ce, 5, 1)),
                Box::new(apgd(LossKind::Dlr, 5, 1)),
                Box::new(fab(5)),
                Box::new(square),
                Box::new(apgd_t),
                Box::new(fab_t),
            ],
            Version::Rand => vec![Box::new(apgd(LossKind::Ce, 1, s.eot)), Box::new(apgd(LossKind::Dlr, 1, s.eot))],
        };
        AutoAttack { version, eps, norm, stages, changed }
    }
}

impl Attack for AutoAttack {
    fn label(&self) -> String {
        match self.changed.is_empty() {
            true => format!("AutoAttack ({})", self.version.name()),
            false => format!("AutoAttack ({}, {})", self.version.name(), self.changed.join(", ")),
        }
    }
    fn eps(&self) -> f64 {
        self.eps
    }
    fn norm(&self) -> Norm {
        self.norm
    }
    fn perturb(&self, net: &Network, b: &AttackBatch) -> Outcome {
        let (mut adv, mut robust) = clean_start(net, b);
        let mut broken_by = vec![None; b.ids.len()];
        let mut seconds = vec![0.0; self.stages.len()];
        for (stage, attack) in self.stages.iter().enumerate() {
            let started = std::time::Instant::now();
            let Some(rem) = Remaining::of(b, &robust) else { break };
            let found = attack.perturb(net, &rem.batch(b.seed)).adv;
            let fooled = predict(net, &found).ne_tensor(&rem.y);
            for (&row, _) in rem.rows.iter().zip(super::to_bools(&fooled)).filter(|(_, f)| *f) {
                broken_by[row as usize] = Some(stage);
            }
            rem.record(&fooled, &found, &mut robust, &mut adv);
            seconds[stage] = started.elapsed().as_secs_f64();
        }
        let names = self.stages.iter().map(|a| a.label()).collect();
        Outcome { stages: Some(Stages { names, seconds, broken_by }), ..Outcome::images(adv) }
    }
}
