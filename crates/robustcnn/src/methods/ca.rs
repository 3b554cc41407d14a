//! CA, combined augmentations (Kapoor et al. 2020; docs/methods.md §3.4) as a data method: each training
//! image replaced by one corruption at a drawn severity, or delivered as the second view of ST and FMA.
use super::entry::{Build, Composition, Invalid, MethodInfo, Settings};
use super::MethodConfig;
use crate::data::augment::{CaSpec, MethodAugment};
pub use crate::data::augment_settings::CaConfig;

pub const ENTRY: MethodInfo = MethodInfo {
    section: Some(super::entry::section::<CaConfig>()),
    ..MethodInfo::new(
        "ca",
        "combined augmentations (Kapoor et al. 2020): each image gets one of 8 photometric, blur and noise corruptions at severity 1-5; the view of st+ca and fma+ca",
        Build::Data { loader, step: None },
    )
};

impl Settings for CaConfig {
    const KEY: &'static str = "ca";
    fn check(&self, c: &Composition) -> std::result::Result<(), Invalid> {
        if c.uses("augmix") {
            return Err(Invalid::Composition(
                "ca and augmix cannot be combined (each makes the training image)".into(),
            ));
        }
        if let Err(e) = corrupt::select(&self.augmentations.join(",")) {
            return Err(Invalid::Key("augmentations", e.to_string()));
        }
        let [lo, hi] = self.severities;
        if !(1 <= lo && lo <= hi && hi <= 5) {
            return Err(Invalid::Key("severities", "must be [low, high] with 1 <= low <= high <= 5".into()));
        }
        if !(0.0..=1.0).contains(&self.clean_fraction) {
            return Err(Invalid::Key("clean_fraction", "must be in [0, 1]".into()));
        }
        Ok(())
    }
}

/// CA's images: the training image itself, or a second view when the step trains on one (ST, FMA).
fn loader(m: &MethodConfig, c: &Composition, out: &mut MethodAugment) {
    let as_view = c.step().is_some_and(|s| s.takes_view);
    out.ca = Some(CaSpec::new(&m.get_or_default(), as_view));
}
