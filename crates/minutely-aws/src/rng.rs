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
