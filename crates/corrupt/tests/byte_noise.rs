//! The pointwise noises as per-byte output distributions (docs/methods.md §4.1.2): the alias tables realise
//! the distributions, and the distributions are those of the definitions simulated directly.
use corrupt::byte_noise::{AliasTable, Noise};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Poisson};

/// The reference's way back to bytes: clip to [0,1], scale by 255, truncate.
fn to_byte(y: f64) -> usize {
    (y.clamp(0.0, 1.0) * 255.0) as u8 as usize
}

#[test]
fn the_alias_table_realises_its_distribution_to_within_two_to_the_minus_32() {
    let geometric: [f64; 256] = std::array::from_fn(|k| 0.5f64.powi(k as i32 + 1));
    let mut sparse = [0.0; 256];
    (sparse[0], sparse[17], sparse[255]) = (0.035, 0.93, 0.035);
    let mut point = [0.0; 256];
    point[200] = 1.0;
    let tiny: [f64; 256] = std::array::from_fn(|k| if k == 3 { 1.0 } else { 1e-7 });
    for p in [geometric, sparse, point, tiny, [1.0; 256]] {
        let total: f64 = p.iter().sum();
        let realised = AliasTable::new(&p).probabilities();
        for k in 0..256 {
            assert!((realised[k] - p[k] / total).abs() < 2e-9, "byte {k}: {} vs {}", realised[k], p[k] / total);
        }
    }
}

#[test]
fn the_alias_table_samples_only_bytes_with_positive_probability() {
    let mut sparse = [0.0; 256];
    (sparse[0], sparse[17], sparse[255]) = (0.25, 0.5, 0.25);
    let t = AliasTable::new(&sparse);
    let mut seen = [0u32; 256];
    (0..4096u64).for_each(|i| seen[t.sample(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)) as usize] += 1);
    assert!(seen.iter().enumerate().all(|(k, &n)| (n > 0) == [0, 17, 255].contains(&k)), "{seen:?}");
}

/// 400,000 draws of the definition against the computed distribution: every byte's frequency within
/// 5 standard errors (and 1e-4) of its probability, so an off-by-one boundary or a wrong σ fails.
fn assert_matches_simulation(noise: Noise, v: u8, mut draw: impl FnMut(&mut ChaCha8Rng) -> usize) {
    let p = noise.output_distribution(v);
    assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{noise:?} at {v}: sums to {}", p.iter().sum::<f64>());
    let n = 400_000;
    let mut counts = vec![0u32; 256];
    let mut rng = ChaCha8Rng::seed_from_u64(v as u64);
    (0..n).for_each(|_| counts[draw(&mut rng)] += 1);
    for k in 0..256 {
        let f = counts[k] as f64 / n as f64;
        let se = (p[k] * (1.0 - p[k]) / n as f64).sqrt();
        assert!((f - p[k]).abs() < 5.0 * se + 1e-4, "{noise:?} at {v}, byte {k}: simulated {f}, computed {}", p[k]);
    }
}

#[test]
fn gaussian_and_speckle_distributions_are_those_of_the_definitions() {
    for (c, v) in [(0.1, 128u8), (0.38, 5), (0.04, 250), (0.26, 0)] {
        let x = v as f64 / 255.0;
        let z = Normal::new(0.0, c).unwrap();
        assert_matches_simulation(Noise::Gaussian(c), v, |r| to_byte(x + z.sample(r)));
        assert_matches_simulation(Noise::Speckle(c), v, |r| to_byte(x + x * z.sample(r)));
    }
}

#[test]
fn shot_distribution_is_that_of_poisson_counts_over_c() {
    for (c, v) in [(60.0, 128u8), (3.0, 40), (500.0, 255), (12.0, 1)] {
        let x = v as f64 / 255.0;
        let poisson = Poisson::new(x * c).unwrap();
        assert_matches_simulation(Noise::Shot(c), v, |r| to_byte(poisson.sample(r) / c));
        // No photons: byte 0 with probability e^{-λ} at least.
        assert!(Noise::Shot(c).output_distribution(v)[0] >= (-x * c).exp() * (1.0 - 1e-12));
    }
    assert_eq!(Noise::Shot(5.0).output_distribution(0)[0], 1.0);
}

#[test]
fn impulse_distribution_keeps_the_value_or_salts_or_peppers() {
    let p = Noise::Impulse(0.27).output_distribution(128);
    assert_eq!((p[0], p[128], p[255]), (0.135, 1.0 - 0.27, 0.135));
    assert_eq!(p.iter().filter(|&&q| q > 0.0).count(), 3);
}
