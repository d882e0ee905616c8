//! Deterministic generators of recorded-style TSV files: the fixtures under `fixtures/` and the
//! large benchmark file. Same seed, same bytes, on every machine (ChaCha8, no wall clock).

mod big;
mod files;
mod rows;

pub use big::write_big;
pub use files::{Fixture, fixtures};
pub use rows::{COUNTRIES, DEVICES, START, rfc3339_millis};
