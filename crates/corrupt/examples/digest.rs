//! One hash per corruption × image shape × preset × severity, to check that a change keeps the
//! engine's bytes (BENCHMARKS.md): `cargo run --release -p corrupt --example digest > a.txt` at two
//! commits, then `diff` the files. An optional argument keeps only the listed corruptions.
use corrupt::{rng_for, sample_picture, Corruptor, Image, Preset, ALL};

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// An h×w×c crop of a sample picture with a small pattern added, so no two shapes share pixels.
fn picture(h: usize, w: usize, c: usize, index: usize) -> Image {
    let side = h.max(w);
    let pic = sample_picture(side, index);
    let data = (0..h * w * c)
        .map(|i| {
            let (y, x, ch) = (i / c / w, i / c % w, i % c);
            pic.data[(y * side + x) * 3 + ch] ^ ((x * 7 + y * 13) as u8 & 15)
        })
        .collect();
    Image::new(data, h, w, c).expect("a valid shape")
}

fn main() {
    let only = std::env::args().nth(1);
    let shapes = [(32, 32, 3), (28, 28, 1), (47, 33, 3), (224, 224, 3), (65, 90, 1)];
    for name in ALL.iter().filter(|n| only.as_deref().is_none_or(|o| o.split(',').any(|x| x == **n))) {
        for &(h, w, c) in &shapes {
            // The size-adaptive preset only where it applies (32 px and up).
            let presets: &[Option<Preset>] = if h.min(w) < 32 { &[None] } else { &[None, Some(Preset::Sized)] };
            for &preset in presets {
                let corruptor = Corruptor { preset, ..Corruptor::default() };
                for severity in 1..=5u8 {
                    let digest = (0..3).fold(0u64, |acc, i| {
                        let mut rng = rng_for(5, name, severity, i as u64);
                        let out = corruptor.apply(&picture(h, w, c, i), name, severity, &mut rng).expect("corrupts");
                        acc.wrapping_mul(31).wrapping_add(fnv1a(&out.data))
                    });
                    println!("{name} {h}x{w}x{c} {preset:?} s{severity} {digest:016x}");
                }
            }
        }
    }
}
