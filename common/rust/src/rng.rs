//! The row's own random numbers (SPEC.md §2, §3): a ChaCha8 generator seeded by --seed draws the
//! initial weights and the order of every epoch, the same way in every Rust row.

use rand::seq::SliceRandom;
use rand::{Rng as _, SeedableRng};

/// The generator: ChaCha8, portable and reproducible across platforms and releases of `rand_chacha`.
pub type Rng = rand_chacha::ChaCha8Rng;

/// A generator seeded by --seed.
pub fn seeded(seed: u32) -> Rng {
    Rng::seed_from_u64(seed as u64)
}

/// `count` numbers ~ U(-bound, +bound), each drawn in f64 and rounded to f32.
pub fn uniform(rng: &mut Rng, bound: f64, count: usize) -> Vec<f32> {
    (0..count).map(|_| rng.random_range(-bound..bound) as f32).collect()
}

/// The order of an epoch's training examples: `0..len`, shuffled by `rng` unless `shuffle` is false
/// (--no-shuffle), in which case `rng` is not touched.
pub fn epoch_order(len: usize, shuffle: bool, rng: &mut Rng) -> Vec<u32> {
    let mut order: Vec<u32> = (0..len as u32).collect();
    if shuffle {
        order.shuffle(rng);
    }
    order
}

#[cfg(test)]
mod tests;
