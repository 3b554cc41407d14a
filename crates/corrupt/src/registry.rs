//! The 19 corruptions as one list (docs/corruptions.md): each entry, in `corruptions/<name>.rs`,
//! names a corruption and its family and points to the function there that holds its CIFAR and
//! ImageNet parameter tables. [`crate::BENCHMARK`], [`crate::EXTRA`], [`crate::ALL`] and [`crate::family`] derive from it.
pub use crate::corruption::{At, Corruption};

/// Every corruption: the 15 of the benchmark in the order of the CIFAR-10-C tables, then the 4
/// extras. Adding one: its file in corruptions/, and one line here (docs/extending.md).
pub const CORRUPTIONS: [Corruption; 19] = [
    crate::corruptions::gaussian_noise::ENTRY,
    crate::corruptions::shot_noise::ENTRY,
    crate::corruptions::impulse_noise::ENTRY,
    crate::corruptions::defocus_blur::ENTRY,
    crate::corruptions::glass_blur::ENTRY,
    crate::corruptions::motion_blur::ENTRY,
    crate::corruptions::zoom_blur::ENTRY,
    crate::corruptions::snow::ENTRY,
    crate::corruptions::frost::ENTRY,
    crate::corruptions::fog::ENTRY,
    crate::corruptions::brightness::ENTRY,
    crate::corruptions::contrast::ENTRY,
    crate::corruptions::elastic_transform::ENTRY,
    crate::corruptions::pixelate::ENTRY,
    crate::corruptions::jpeg_compression::ENTRY,
    crate::corruptions::speckle_noise::ENTRY,
    crate::corruptions::gaussian_blur::ENTRY,
    crate::corruptions::spatter::ENTRY,
    crate::corruptions::saturate::ENTRY,
];

/// How many of [`CORRUPTIONS`], from the start, make up the benchmark.
pub const BENCHMARK_COUNT: usize = 15;

/// The names of `N` entries of [`CORRUPTIONS`] from index `from`.
pub const fn names<const N: usize>(from: usize) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = CORRUPTIONS[from + i].name;
        i += 1;
    }
    out
}

/// The entry called `name`.
pub fn find(name: &str) -> Option<&'static Corruption> {
    CORRUPTIONS.iter().find(|c| c.name == name)
}
