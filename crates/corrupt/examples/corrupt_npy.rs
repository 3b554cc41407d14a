//! Corrupts a u8 `.npy` batch (NxHxW or NxHxWxC) into another `.npy`, for the Python package's tests
//! to compare bytes with (crates/corrupt-py/tests): image i draws from (seed, corruption, severity, i).
//!
//!   cargo run --release -p corrupt --example corrupt_npy IN.npy OUT.npy CORRUPTION SEVERITY SEED [PRESET [FROST_DIR]]
use corrupt::{corrupt_set, npy, Corruptor, FrostSource, ImageSet, Preset};
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let [input, output, name, severity, seed, rest @ ..] = args else {
        return Err("usage: corrupt_npy IN.npy OUT.npy CORRUPTION SEVERITY SEED [PRESET [FROST_DIR]]".into());
    };
    let array = npy::read(Path::new(input)).map_err(|e| e.to_string())?;
    let (h, w, c) = match array.shape[..] {
        [_, h, w] => (h, w, 1),
        [_, h, w, c] => (h, w, c),
        _ => return Err(format!("{input}: expected N x H x W [x C], got {:?}", array.shape)),
    };
    let preset = match rest.first().map(String::as_str) {
        None | Some("auto") => None,
        Some(p) => Some(Preset::parse(p).map_err(|e| e.to_string())?),
    };
    let frost = match rest.get(1) {
        Some(dir) => FrostSource::from_dir(Path::new(dir)).map_err(|e| e.to_string())?,
        None => FrostSource::Procedural,
    };
    let severity: u8 = severity.parse().map_err(|_| format!("severity {severity}: not a number"))?;
    let seed: u64 = seed.parse().map_err(|_| format!("seed {seed}: not a number"))?;
    let set = ImageSet { data: &array.data, height: h, width: w, channels: c };
    let out =
        corrupt_set(&Corruptor { preset, frost }, set, name, severity, seed, 0, &|_| {}).map_err(|e| e.to_string())?;
    npy::write(Path::new(output), &array.shape, &out).map_err(|e| e.to_string())
}
