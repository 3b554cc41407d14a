//! Seeded randomness: every draw comes from a generator derived from (seed, what it is for), so results
//! do not depend on thread count or batch order (docs/usage.md, "Runs").
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// SplitMix64 finaliser: a well-mixed 64-bit hash step.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A 64-bit seed derived from `seed` and a path of integers (e.g. [purpose, epoch, sample index]).
pub fn derive(seed: u64, path: &[u64]) -> u64 {
    path.iter().fold(mix(seed), |acc, &p| mix(acc ^ mix(p)))
}

/// A generator for `seed` and a path of integers.
pub fn rng_for(seed: u64, path: &[u64]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(derive(seed, path))
}

/// Fisher–Yates shuffle (own implementation, so the order never changes with a dependency update).
pub fn shuffle<T>(items: &mut [T], rng: &mut impl Rng) {
    for i in (1..items.len()).rev() {
        let j = rng.gen_range(0..=i);
        items.swap(i, j);
    }
}

/// libtorch's generator is process-global: this lock keeps a seeded section (seed, then the draws that
/// must follow it, e.g. weight initialisation) from interleaving with another thread's.
pub static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` right after seeding libtorch's generator with a value derived from (seed, path), holding
/// [`TORCH_RNG`] throughout.
pub fn with_torch_seed<T>(seed: u64, path: &[u64], f: impl FnOnce() -> T) -> T {
    let _guard = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed((derive(seed, path) & i64::MAX as u64) as i64);
    f()
}
