//! What a method registers in `METHODS`: its name, role, summary, settings section and how it is
//! built; and the composition (`a+b+…`) the registry assembles from those entries alone.
use super::{AfterUpdate, Method, MethodConfig};
use crate::data::augment::MethodAugment;
use crate::error::{one_line, Error, Result};
use crate::models::Network;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// How a method takes part in a composition such as `free-at+tenet`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Owns the training step; at most one per composition (baseline when none is named).
    Step,
    /// Adds its own update after each update of the step (TENET).
    AfterUpdate,
    /// Changes the training images in the loader (AugMix, Cutout, Random Erasing, CA); any number.
    Data,
}

/// Builds a step method from the resolved settings for a model with `num_classes` outputs.
pub type StepBuilder = fn(&MethodConfig, &Network, i64) -> Result<Box<dyn Method>>;
/// Builds the update an after-update method adds after each step.
pub type AfterUpdateBuilder = fn(&MethodConfig, &Network) -> Result<Box<dyn AfterUpdate>>;
/// Adds a data method's part to what the loader does.
pub type LoaderBuilder = fn(&MethodConfig, &Composition, &mut MethodAugment);
/// The step a data method supplies when the composition names no step method (AugMix's JSD loss).
pub type DataStep = fn(&MethodConfig) -> Option<Box<dyn Method>>;

/// How the composition builds a method; decides its [`Role`].
#[derive(Clone, Copy)]
pub enum Build {
    Step(StepBuilder),
    AfterUpdate(AfterUpdateBuilder),
    Data { loader: LoaderBuilder, step: Option<DataStep> },
}

/// A method in the registry.
pub struct MethodInfo {
    pub name: &'static str,
    pub summary: &'static str,
    /// Its settings, `[method.<key>]` (methods of one family may share one, as the adversarial ones do).
    pub section: Option<Section>,
    pub build: Build,
    /// Fills in what its published defaults make depend on the composition (after the section's own).
    pub resolve: Option<fn(&mut MethodConfig, &Composition)>,
    /// Fills in what depends on the model (default stages), written out to config.toml.
    pub bind: Option<fn(&mut MethodConfig, &Network)>,
    /// Trains on a second view of each image that the data methods deliver (ST and FMA with CA).
    pub takes_view: bool,
    /// Why its loss needs one label per image, for a method refused on multi-label data
    /// (docs/multilabel.md §2); None when it works with per-class targets.
    pub single_label: Option<&'static str>,
}

impl MethodInfo {
    /// A method's entry with no settings, resolution or binding: fill in the rest with `..`.
    pub const fn new(name: &'static str, summary: &'static str, build: Build) -> MethodInfo {
        MethodInfo {
            name,
            summary,
            section: None,
            build,
            resolve: None,
            bind: None,
            takes_view: false,
            single_label: None,
        }
    }

    pub fn role(&self) -> Role {
        match self.build {
            Build::Step(_) => Role::Step,
            Build::AfterUpdate(_) => Role::AfterUpdate,
            Build::Data { .. } => Role::Data,
        }
    }
}

/// A method's settings section, type-erased so the registry can check, fill in and write it.
#[derive(Clone, Copy)]
pub struct Section {
    pub key: &'static str,
    /// Parses and checks the section's values within a composition; `origin` names the recipe.
    pub check: fn(&toml::Value, &Composition, &str) -> Result<()>,
    /// The section with its defaults filled in and its keys in declared order (all defaults for None).
    pub normalize: fn(Option<&toml::Value>) -> Result<toml::Value>,
}

/// What is wrong with a method's settings.
pub enum Invalid {
    /// A key of its section and what it must be.
    Key(&'static str, String),
    /// The composition itself (e.g. two methods that each make the training image).
    Composition(String),
}

/// A method's typed settings: one `[method.<KEY>]` section with serde defaults and range checks.
pub trait Settings: Serialize + DeserializeOwned + Default + Clone {
    const KEY: &'static str;
    /// Checks what serde cannot (ranges, and how the settings fit the composition).
    fn check(&self, composition: &Composition) -> std::result::Result<(), Invalid>;
}

/// A [`Section`] entry for the settings type `T`.
pub const fn section<T: Settings>() -> Section {
    Section { key: T::KEY, check: check_section::<T>, normalize: normalize_section::<T> }
}

fn check_section<T: Settings>(value: &toml::Value, composition: &Composition, origin: &str) -> Result<()> {
    let settings: T = value.clone().try_into().map_err(|e: toml::de::Error| {
        Error::Config(format!("{origin}: method.{}: {}", T::KEY, one_line(&e.to_string())))
    })?;
    settings.check(composition).map_err(|invalid| {
        Error::Config(match invalid {
            Invalid::Key(key, what) => format!("{origin}: method.{}.{key} {what}", T::KEY),
            Invalid::Composition(what) => format!("{origin}: method '{}': {what}", composition.name),
        })
    })
}

fn normalize_section<T: Settings>(value: Option<&toml::Value>) -> Result<toml::Value> {
    let settings: T = match value {
        Some(v) => v
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config(format!("method.{}: {}", T::KEY, one_line(&e.to_string()))))?,
        None => T::default(),
    };
    toml::Value::try_from(settings).map_err(|e| Error::Config(format!("method.{}: {e}", T::KEY)))
}

/// A composition `a+b+…`: known methods, none twice, at most one of each role but data.
pub struct Composition {
    pub name: String,
    pub parts: Vec<&'static MethodInfo>,
}

impl Composition {
    /// Reads a composition from `methods`, the registry.
    pub fn parse(name: &str, methods: &'static [&'static MethodInfo]) -> Result<Composition> {
        let mut parts: Vec<&'static MethodInfo> = Vec::new();
        for part in name.split('+').map(str::trim) {
            let info = methods.iter().copied().find(|m| m.name == part).ok_or_else(|| {
                let names: Vec<_> = methods.iter().map(|m| m.name).collect();
                Error::Config(format!(
                    "unknown method '{part}' (methods: {}; combine with +, e.g. free-at+tenet)",
                    names.join(", ")
                ))
            })?;
            if parts.iter().any(|o| o.name == info.name) {
                return Err(Error::Config(format!("method '{name}': {} is named twice", info.name)));
            }
            if let Some(other) = parts.iter().find(|o| o.role() == info.role() && o.role() != Role::Data) {
                return Err(Error::Config(format!(
                    "method '{name}': {} and {} cannot be combined (each owns the training step)",
                    other.name, info.name
                )));
            }
            parts.push(info);
        }
        Ok(Composition { name: name.to_string(), parts })
    }

    pub fn uses(&self, name: &str) -> bool {
        self.parts.iter().any(|p| p.name == name)
    }

    /// The step method it names, if any (baseline trains otherwise).
    pub fn step(&self) -> Option<&'static MethodInfo> {
        self.parts.iter().copied().find(|p| p.role() == Role::Step)
    }

    /// The step method's name, "baseline" when none is named.
    pub fn step_name(&self) -> &'static str {
        self.step().map_or("baseline", |p| p.name)
    }

    /// True when the step is plain cross-entropy (baseline, named or not): a data method may then
    /// supply its own step, as AugMix's Jensen–Shannon loss does.
    pub fn plain_step(&self) -> bool {
        self.step_name() == "baseline"
    }

    /// True when a step or after-update method is combined with the data methods.
    pub fn has_training_method(&self) -> bool {
        self.parts.iter().any(|p| p.role() != Role::Data)
    }
}
