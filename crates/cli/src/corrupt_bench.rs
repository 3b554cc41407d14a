//! `robustcnn corrupt bench`: the speed of the corruption engine, printed as numbers to record.
use crate::engine_args::EngineArgs;
use anyhow::Result;
use corrupt::{Image, ImageSet, BENCHMARK, EXTRA};
use std::time::Instant;

/// Prints ms per image for each of `names` at each size, then (with `full_set`) the whole-set times.
pub fn run(names: &[&str], sizes: &[usize], images: usize, full_set: bool, engine: &EngineArgs) -> Result<()> {
    let corruptor = engine.corruptor()?;
    let images = images.max(1);
    println!(
        "ms per image, one thread, {images} images per severity, severities 1-5 ({})",
        engine.describe(&corruptor, (32, 32)).replace("preset cifar", "preset by size")
    );
    print!("{:<18}", "corruption");
    sizes.iter().for_each(|s| print!(" {:>10}", format!("{s}px")));
    println!();
    let mut totals = vec![0.0; sizes.len()];
    let pictures: Vec<Vec<Image>> =
        sizes.iter().map(|&side| (0..images).map(|i| corrupt::sample_picture(side, i)).collect()).collect();
    for &name in names {
        print!("{name:<18}");
        for (k, pics) in pictures.iter().enumerate() {
            // Warm-up, once per severity: builds the cached frost textures and noise tables (one-time
            // costs per severity, which a dataset's thousands of images share) outside the timing.
            for s in 1..=5u8 {
                corruptor.apply(&pics[0], name, s, &mut corrupt::rng_for(engine.seed(), name, s, 0))?;
            }
            let t = Instant::now();
            for s in 1..=5u8 {
                for (i, p) in pics.iter().enumerate() {
                    corruptor.apply(p, name, s, &mut corrupt::rng_for(engine.seed(), name, s, i as u64))?;
                }
            }
            let ms = t.elapsed().as_secs_f64() * 1e3 / (5 * images) as f64;
            totals[k] += ms;
            print!(" {ms:>10.3}");
        }
        println!();
    }
    print!("{:<18}", "mean");
    totals.iter().for_each(|t| print!(" {:>10.3}", t / names.len() as f64));
    println!();
    if full_set {
        let threads = corrupt::batch::threads(engine.workers);
        let data: Vec<u8> = (0..10_000).flat_map(|i| corrupt::sample_picture(32, i).data).collect();
        let set = ImageSet { data: &data, height: 32, width: 32, channels: 3 };
        let time = |names: &[&str]| -> Result<f64> {
            let t = Instant::now();
            for name in names {
                for s in 1..=5u8 {
                    corrupt::corrupt_set(&corruptor, set, name, s, engine.seed(), engine.workers, &|_| {})?;
                }
            }
            Ok(t.elapsed().as_secs_f64())
        };
        let (benchmark, extra) = (time(&BENCHMARK)?, time(&EXTRA)?);
        let rate = |images: f64, secs: f64| format!("{images:.0} images in {secs:.1} s ({:.0} img/s)", images / secs);
        println!("full CIFAR-10-C-sized set on {threads} threads, 10000 images x 5 severities:");
        println!("  the 15 benchmark corruptions: {}", rate(750_000.0, benchmark));
        println!("  with the 4 extra ones (19):   {}", rate(950_000.0, benchmark + extra));
    }
    Ok(())
}
