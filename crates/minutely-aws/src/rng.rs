//! The one source of randomness. Everything random in minutely's pipeline (backoff jitter, random
//! partition keys, generated events) draws from a [`seeded`] generator, so the same seed gives
//! the same run. (The emulator, which depends on nothing of minutely's, decides its faults by
//! hashing its own seed with the call: `minutely_sim::faults`.) Only [`fresh_seed`] reads the
//! operating system's entropy, for a run that was not given a seed.

use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator every seeded draw uses.
pub type Rng = ChaCha8Rng;

/// A generator whose draws depend only on `seed`.
pub fn seeded(seed: u64) -> Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A seed drawn from a name (FNV-1a of its bytes): the same name always gives the same seed,
/// so that, say, each object's retries wait their own way on every run.
pub fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A seed from the operating system, for runs not given one.
pub fn fresh_seed() -> u64 {
    rand::rng().random()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_seed_one_sequence() {
        let draw = |seed| seeded(seed).random::<[u64; 4]>();
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        assert_ne!(fresh_seed(), fresh_seed());
    }
}
