//! A recipe's `[method]`: the composition's name and the settings sections of its methods, kept as
//! read and checked, filled in and written out by the methods that own them (their `Settings`).
use super::entry::Settings;
use super::METHODS;
use crate::error::{Error, Result};
use serde::de::{Deserializer, Error as _};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The training method: a composition such as `free-at+tenet` (`robustcnn methods` lists them) and
/// the `[method.<section>]` settings of its parts.
#[derive(Clone, Debug, PartialEq)]
pub struct MethodConfig {
    pub name: String,
    /// Settings sections by key, as read or as their methods filled them in.
    sections: BTreeMap<String, toml::Value>,
}

impl Default for MethodConfig {
    fn default() -> Self {
        MethodConfig::named("baseline")
    }
}

/// The keys `[method]` accepts: `name`, then every settings section's in registry order (the order
/// config.toml lists them in).
static FIELDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut keys = vec!["name"];
    for key in METHODS.iter().filter_map(|m| m.section.map(|s| s.key)) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
});

impl MethodConfig {
    /// The method `name` with all its settings at their defaults.
    pub fn named(name: &str) -> MethodConfig {
        MethodConfig { name: name.to_string(), sections: BTreeMap::new() }
    }

    /// The settings of type `T` when its section is present (and valid).
    pub fn get<T: Settings>(&self) -> Option<T> {
        self.sections.get(T::KEY).and_then(|v| v.clone().try_into().ok())
    }

    /// The settings of type `T`, or their defaults.
    pub fn get_or_default<T: Settings>(&self) -> T {
        self.get().unwrap_or_default()
    }

    /// Sets the section of `T`.
    pub fn set<T: Settings>(&mut self, settings: &T) {
        if let Ok(v) = toml::Value::try_from(settings) {
            self.sections.insert(T::KEY.to_string(), v);
        }
    }

    pub(super) fn section(&self, key: &str) -> Option<&toml::Value> {
        self.sections.get(key)
    }

    pub(super) fn set_section(&mut self, key: &str, value: toml::Value) {
        self.sections.insert(key.to_string(), value);
    }
}

impl Serialize for MethodConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1 + self.sections.len()))?;
        map.serialize_entry("name", &self.name)?;
        for &key in &FIELDS[1..] {
            if let Some(v) = self.sections.get(key) {
                map.serialize_entry(key, v)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for MethodConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let table = toml::Table::deserialize(deserializer)?;
        let mut m = MethodConfig::default();
        for (key, value) in table {
            match (key.as_str(), value) {
                ("name", toml::Value::String(name)) => m.name = name,
                ("name", other) => {
                    return Err(D::Error::custom(format!("method.name: expected a string, found {}", other.type_str())))
                }
                (key, value) if FIELDS.contains(&key) => m.set_section(key, value),
                (key, _) => return Err(D::Error::unknown_field(key, FIELDS.as_slice())),
            }
        }
        Ok(m)
    }
}

/// "the tenet method" or "pgd-at, fast-at and free-at": the methods that own a section.
fn owners(key: &str) -> String {
    let names: Vec<_> = METHODS.iter().filter(|m| m.section.is_some_and(|s| s.key == key)).map(|m| m.name).collect();
    match names.as_slice() {
        [one] => format!("the {one} method"),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        [] => "no method".into(),
    }
}

/// Checks the composition and each of its methods' settings (defaults where the recipe has none);
/// a section no part uses is an error. `origin` names the recipe.
pub fn validate(m: &MethodConfig, origin: &str) -> Result<()> {
    let composition = super::composition(&m.name)?;
    for key in m.sections.keys() {
        let used = composition.parts.iter().any(|p| p.section.is_some_and(|s| s.key == key));
        if !used {
            return Err(Error::Config(format!("{origin}: method.{key}.* is only used by {}", owners(key))));
        }
    }
    let empty = toml::Value::Table(toml::Table::new());
    for section in composition.parts.iter().filter_map(|p| p.section) {
        (section.check)(m.sections.get(section.key).unwrap_or(&empty), &composition, origin)?;
    }
    Ok(())
}

/// What a Random-Erasing style area range must be.
pub const AREA: &str = "must be [low, high] with 0 < low <= high < 1";
/// What a Random-Erasing style aspect range must be.
pub const ASPECT: &str = "must be [low, high] with 0 < low <= high";

/// Checks the settings of a Random-Erasing style rectangle: a probability in [0, 1], its area and
/// aspect ranges (Random Erasing, LGPR; LFM checks the ranges only).
pub fn check_box(probability: f64, area: [f64; 2], aspect: [f64; 2]) -> std::result::Result<(), super::entry::Invalid> {
    use super::entry::Invalid;
    if !(0.0..=1.0).contains(&probability) {
        return Err(Invalid::Key("probability", "must be in [0, 1]".into()));
    }
    if !area_ok(area) {
        return Err(Invalid::Key("area", AREA.into()));
    }
    if !aspect_ok(aspect) {
        return Err(Invalid::Key("aspect", ASPECT.into()));
    }
    Ok(())
}

/// An area range as a fraction of the image: 0 < low ≤ high < 1.
pub fn area_ok([low, high]: [f64; 2]) -> bool {
    low > 0.0 && low <= high && high < 1.0
}

/// An aspect-ratio range: 0 < low ≤ high, finite.
pub fn aspect_ok([low, high]: [f64; 2]) -> bool {
    low > 0.0 && low <= high && high.is_finite()
}

/// A loss weight or standard deviation: non-negative and finite.
pub fn weight(v: f64) -> bool {
    v >= 0.0 && v.is_finite()
}
