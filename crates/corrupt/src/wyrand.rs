//! wyrand (Wang Yi's wyhash generator, public domain): a counter-based generator, one 64×64→128-bit
//! multiply per draw, for the corruptions that draw one number per value (the byte noises, fog's
//! plasma, snow's and spatter's layers, elastic's noise fields).

/// wyrand's increment.
const INCREMENT: u64 = 0xa076_1d64_78bd_642f;

/// A wyrand stream from a 64-bit seed (drawn from the image's ChaCha generator).
pub(crate) struct Wyrand {
    counter: u64,
}

impl Wyrand {
    pub(crate) fn new(seed: u64) -> Wyrand {
        Wyrand { counter: seed }
    }

    /// The next 64 random bits: the counter advanced by the increment, then mixed.
    #[inline(always)]
    pub(crate) fn next(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(INCREMENT);
        let product = self.counter as u128 * (self.counter ^ 0xe703_7ed1_a0b4_28db) as u128;
        (product as u64) ^ (product >> 64) as u64
    }

    /// A uniform draw in [0, 1) with 53 random bits, as NumPy's `random_sample` and rand's `gen::<f64>`.
    #[inline(always)]
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

impl rand::RngCore for Wyrand {
    fn next_u32(&mut self) -> u32 {
        (self.next() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.next()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes()[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
