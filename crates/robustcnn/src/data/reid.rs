//! Person re-identification in the Market-1501 / DukeMTMC-reID layout: `bounding_box_train`,
//! `bounding_box_test` (the gallery) and `query`, each file named `<person>_c<camera>…`
//! (docs/reid.md §1).
use super::listed::Entry;
use crate::error::{Error, IoContext, Result};
use std::path::{Path, PathBuf};

/// Who and where each image of a re-ID test set is: the first `queries` images are the queries,
/// the rest the gallery.
#[derive(Clone, Debug, PartialEq)]
pub struct Retrieval {
    pub ids: Vec<i64>,
    pub cameras: Vec<u16>,
    pub queries: usize,
}

impl Retrieval {
    /// The images at `indices` (in that order, queries first as they were).
    pub fn select(&self, indices: &[usize]) -> Retrieval {
        Retrieval {
            ids: indices.iter().map(|&i| self.ids[i]).collect(),
            cameras: indices.iter().map(|&i| self.cameras[i]).collect(),
            queries: indices.iter().filter(|&&i| i < self.queries).count(),
        }
    }
}

/// One image of a re-ID folder: file, person ID (-1 junk, 0 distractor in Market-1501) and camera.
#[derive(Clone, Debug, PartialEq)]
pub struct Person {
    pub path: PathBuf,
    pub id: i64,
    pub camera: u16,
}

/// Person and camera from a file name such as `0002_c1s1_000451_03.jpg` (Market-1501) or
/// `0005_c2_f0046985.jpg` (DukeMTMC-reID); None for a name outside that pattern.
pub fn parse_name(name: &str) -> Option<(i64, u16)> {
    let mut parts = name.split('_');
    let id = parts.next()?.parse::<i64>().ok()?;
    let cam = parts.next()?.strip_prefix('c')?;
    let digits: String = cam.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((id, digits.parse().ok()?))
}

/// Every `.jpg` of `dir`, sorted by name, with its person and camera.
pub fn read_folder(dir: &Path) -> Result<Vec<Person>> {
    if !dir.is_dir() {
        return Err(Error::format(dir, "no such folder (re-ID layout: bounding_box_train, bounding_box_test, query)"));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .at(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg")))
        .collect();
    files.sort();
    let mut out = Vec::with_capacity(files.len());
    for path in files {
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let (id, camera) = parse_name(&name).ok_or_else(|| {
            Error::format(
                &path,
                "the name is not <person>_c<camera>… (e.g. 0002_c1s1_000451_03.jpg, 0005_c2_f0046985.jpg)",
            )
        })?;
        out.push(Person { path, id, camera });
    }
    if out.is_empty() {
        return Err(Error::format(dir, "holds no .jpg images"));
    }
    Ok(out)
}

/// The training identities, relabelled 0..N in increasing ID order, and each image's entry.
pub fn training_entries(people: &[Person], dir: &Path) -> Result<(Vec<String>, Vec<Entry>)> {
    if let Some(p) = people.iter().find(|p| p.id <= 0) {
        return Err(Error::format(&p.path, "a training image of junk (-1) or distractors (0000)"));
    }
    let mut ids: Vec<i64> = people.iter().map(|p| p.id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > u16::MAX as usize {
        return Err(Error::format(dir, format!("{} identities; at most {} are supported", ids.len(), u16::MAX)));
    }
    let entries = people
        .iter()
        .map(|p| Entry { path: p.path.clone(), label: ids.binary_search(&p.id).unwrap_or(0) as u16, crop: None })
        .collect();
    Ok((ids.iter().map(|i| format!("{i:04}")).collect(), entries))
}
