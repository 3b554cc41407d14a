//! Corrupting many images at once on all cores. Image i of a set uses the generator
//! [`rng_for`](crate::rng_for)(seed, corruption, severity, i), so the bytes do not depend on the
//! thread count or order.
use crate::{rng_for, Corruptor, Image, Result};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Images stored back to back, u8 HWC, all of one size.
#[derive(Clone, Copy, Debug)]
pub struct ImageSet<'a> {
    pub data: &'a [u8],
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl ImageSet<'_> {
    /// Bytes per image.
    pub fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    pub fn len(&self) -> usize {
        self.data.len() / self.image_len().max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The number of worker threads: `requested`, or all cores when 0.
pub fn threads(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Corrupts every image of `set` with one corruption and severity on `workers` threads (0: all cores),
/// calling `progress(done)` as images finish. Returns the images back to back, in input order.
pub fn corrupt_set(
    corruptor: &Corruptor,
    set: ImageSet,
    name: &str,
    severity: u8,
    seed: u64,
    workers: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<u8>> {
    let n = set.len();
    let len = set.image_len();
    let mut out = vec![0u8; n * len];
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    const CHUNK: usize = 16;
    let slots: Vec<std::sync::Mutex<&mut [u8]>> = out.chunks_mut(CHUNK * len).map(std::sync::Mutex::new).collect();
    let work = || -> Result<()> {
        loop {
            let c = next.fetch_add(1, Ordering::Relaxed);
            if c >= slots.len() {
                return Ok(());
            }
            let mut slot = slots[c].lock().unwrap_or_else(|e| e.into_inner());
            for (k, dst) in slot.chunks_mut(len).enumerate() {
                let i = c * CHUNK + k;
                let img = Image::new(set.data[i * len..(i + 1) * len].to_vec(), set.height, set.width, set.channels)?;
                let mut rng = rng_for(seed, name, severity, i as u64);
                dst.copy_from_slice(&corruptor.apply(&img, name, severity, &mut rng)?.data);
            }
            progress(done.fetch_add(slot.len() / len, Ordering::Relaxed) + slot.len() / len);
        }
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads(workers).min(slots.len().max(1))).map(|_| s.spawn(work)).collect();
        handles.into_iter().try_for_each(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })?;
    drop(slots);
    Ok(out)
}
