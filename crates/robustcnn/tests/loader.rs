//! The loader: determinism across worker counts, seeded shuffles, augmentation semantics, resume.
use robustcnn::data::augment::{augment_to_chw, Augment};
use robustcnn::data::loader::{epoch_order, for_each_prefetched, make_batch, EpochLoader, LoaderSpec};
use robustcnn::data::{split, Dataset};
use std::path::Path;
use std::sync::Arc;

fn toy(n: usize) -> Dataset {
    let images: Vec<u8> = (0..n * 4 * 4).map(|i| (i * 7 % 251) as u8).collect();
    let labels = (0..n).map(|i| (i % 3) as u16).collect();
    Dataset::new(Path::new("toy"), images, labels, (4, 4, 1), vec!["a".into(), "b".into(), "c".into()]).unwrap()
}

fn spec(workers: usize, seed: u64) -> LoaderSpec {
    let augment = Some(Augment { crop_padding: 1, flip: true });
    LoaderSpec {
        batch_size: 8,
        shuffle: true,
        drop_last: false,
        augment,
        seed,
        workers,
        extra: Default::default(),
        shard: None,
    }
}

fn collect(ds: &Arc<Dataset>, s: &LoaderSpec, epoch: u64, start: usize) -> Vec<(usize, Vec<usize>, Vec<f32>)> {
    collect_for(ds, s, (epoch, start), tch::Device::Cpu)
}

/// The batches of a loader for `device` (a GPU's are pinned where libtorch can).
fn collect_for(
    ds: &Arc<Dataset>,
    s: &LoaderSpec,
    (epoch, start): (u64, usize),
    device: tch::Device,
) -> Vec<(usize, Vec<usize>, Vec<f32>)> {
    EpochLoader::new(ds.clone(), s, epoch, start, device)
        .map(|(b, batch)| (b, batch.indices, Vec::<f32>::try_from(batch.images.flatten(0, -1)).unwrap()))
        .collect()
}

#[test]
fn batches_for_a_gpu_hold_the_same_images_pinned_or_not() {
    // Page-locked where libtorch has CUDA; without it (this build), the batches stay as they are.
    let ds = Arc::new(toy(20));
    assert_eq!(collect_for(&ds, &spec(2, 1), (0, 0), tch::Device::Cuda(0)), collect(&ds, &spec(2, 1), 0, 0));
}

#[test]
fn evaluation_batches_for_a_gpu_come_from_a_thread_in_order_and_stop_at_the_first_error() {
    let ds = toy(20);
    let idx: Vec<usize> = (0..20).collect();
    let chunks: Vec<&[usize]> = idx.chunks(6).collect();
    let spec = LoaderSpec::evaluation(6);
    let seen = |device| {
        let mut got = Vec::new();
        let r = for_each_prefetched(&ds, &chunks, &spec, device, |c, b| {
            got.push((c.to_vec(), b.indices.clone(), Vec::<f32>::try_from(b.images.flatten(0, -1)).unwrap()));
            if got.len() == 3 {
                Err("stop")
            } else {
                Ok(())
            }
        });
        (r, got)
    };
    let (on_cpu, on_gpu) = (seen(tch::Device::Cpu), seen(tch::Device::Cuda(0)));
    assert_eq!(on_cpu.0, Err("stop"));
    assert_eq!(on_cpu, on_gpu);
    assert_eq!(on_gpu.1.len(), 3, "the error stopped the batches");
    for (c, indices, _) in &on_gpu.1 {
        assert_eq!(c, indices);
    }
    assert_eq!(
        on_gpu.1[1].2,
        Vec::<f32>::try_from(make_batch(&ds, &idx[6..12], &spec, 0).images.flatten(0, -1)).unwrap()
    );
}

#[test]
fn batches_do_not_depend_on_worker_count() {
    let ds = Arc::new(toy(45));
    let one = collect(&ds, &spec(1, 7), 3, 0);
    let three = collect(&ds, &spec(3, 7), 3, 0);
    assert_eq!(one.len(), 6);
    assert_eq!(one, three);
    assert_eq!(one.last().unwrap().1.len(), 5);
}

#[test]
fn order_is_a_seeded_permutation_per_epoch() {
    let s = spec(1, 1);
    let a = epoch_order(100, &s, 0);
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    assert_eq!(a, epoch_order(100, &s, 0));
    assert_ne!(a, epoch_order(100, &s, 1));
    assert_ne!(a, epoch_order(100, &spec(1, 2), 0));
}

#[test]
fn starting_mid_epoch_gives_the_remaining_batches() {
    let ds = Arc::new(toy(45));
    let full = collect(&ds, &spec(2, 5), 1, 0);
    let rest = collect(&ds, &spec(2, 5), 1, 4);
    assert_eq!(&full[4..], &rest[..]);
}

#[test]
fn augmentation_flips_columns_and_shifts_with_zero_fill() {
    // A 1×3 image [10, 20, 30]; no augmentation keeps it, values scaled to [0,1].
    let src = [10u8, 20, 30];
    let mut out = [0f32; 3];
    let mut rng = robustcnn::rng::rng_for(0, &[]);
    augment_to_chw(&src, (1, 3, 1), None, &mut rng, &mut out);
    assert_eq!(out, [10.0 / 255.0, 20.0 / 255.0, 30.0 / 255.0]);
    // Flip only: over many draws, both the image and its mirror appear, nothing else.
    let flip = Augment { crop_padding: 0, flip: true };
    let (mut plain, mut mirrored) = (0, 0);
    for seed in 0..200 {
        augment_to_chw(&src, (1, 3, 1), Some(&flip), &mut robustcnn::rng::rng_for(seed, &[]), &mut out);
        match out.map(|v| (v * 255.0).round() as u8) {
            [10, 20, 30] => plain += 1,
            [30, 20, 10] => mirrored += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(plain > 60 && mirrored > 60, "{plain} {mirrored}");
    // Crop with padding 1: the image shifted by −1, 0 or +1 in each direction, zeros shifted in (a
    // vertical shift of this one-row image leaves only zeros). All five outcomes occur.
    let crop = Augment { crop_padding: 1, flip: false };
    let allowed = [[0u8, 10, 20], [10, 20, 30], [20, 30, 0], [0, 0, 0]];
    let mut seen = std::collections::HashSet::new();
    for seed in 0..200 {
        augment_to_chw(&src, (1, 3, 1), Some(&crop), &mut robustcnn::rng::rng_for(seed, &[]), &mut out);
        let got = out.map(|v| (v * 255.0).round() as u8);
        assert!(allowed.contains(&got), "{got:?}");
        seen.insert(got);
    }
    assert_eq!(seen.len(), 4);
}

#[test]
fn validation_split_is_stratified_disjoint_and_seeded() {
    let ds = toy(300);
    let (train, val) = split::train_val(&ds, 0.2, 3);
    let val = val.unwrap();
    assert_eq!((train.len(), val.len()), (240, 60));
    assert_eq!(val.class_counts(), vec![20, 20, 20]);
    let (train2, val2) = split::train_val(&ds, 0.2, 3);
    assert_eq!((train.images.clone(), val.images.clone()), (train2.images, val2.unwrap().images));
    let (_, val3) = split::train_val(&ds, 0.2, 4);
    assert_ne!(val.images, val3.unwrap().images);
    let (all, none) = split::train_val(&ds, 0.0, 3);
    assert!(none.is_none());
    assert_eq!(all.len(), 300);
}

#[test]
fn training_fraction_is_a_stratified_seeded_subset() {
    let ds = toy(300);
    let part = split::stratified_subset(&ds, 0.1, 7);
    assert_eq!(part.class_counts(), vec![10, 10, 10]);
    // A subset of the original images, and the same one for the same seed.
    let again = split::stratified_subset(&ds, 0.1, 7);
    assert_eq!(part.images, again.images);
    assert_ne!(part.images, split::stratified_subset(&ds, 0.1, 8).images);
    let whole: Vec<std::borrow::Cow<[u8]>> = (0..ds.len()).map(|i| ds.image(i)).collect();
    assert!((0..part.len()).all(|i| whole.contains(&part.image(i))));
    // Every class keeps at least one image; a fraction of 1 keeps everything.
    assert_eq!(split::stratified_subset(&ds, 0.001, 7).class_counts(), vec![1, 1, 1]);
    assert_eq!(split::stratified_subset(&ds, 1.0, 7).len(), 300);
}
