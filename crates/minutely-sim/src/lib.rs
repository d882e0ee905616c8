//! `minutely sim`: an embedded Kinesis + S3 emulator.
//!
//! Correct where it matters to a stream pipeline (sequence numbers, routing, resharding with
//! closed parents that keep their records, iterators, retention), fast at any shard fill
//! (every read and write is an index into the shard), AWS's per-shard limits on by default, and
//! seeded faults that no other emulator has: per-entry PutRecords failures, applied calls whose
//! answer is lost, whole-call errors, latency, iterator expiry, S3 503s.
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! let sim = minutely_sim::Sim::start(minutely_sim::Config::default()).await?;
//! println!("export AWS_ENDPOINT_URL={}", sim.endpoint());
//! # Ok(()) }
//! ```
//!
//! Everything listens on loopback only. Dropping the [`Sim`] stops it.

mod admin;
mod budget;
pub mod clock;
mod connections;
pub mod faults;
pub mod kinesis;
pub mod limits;
pub mod operation;
pub mod s3;
mod server;
mod shapes;
mod shared;
pub mod sigv4;
mod sim;
pub mod snapshot;
mod stats;

pub use clock::Clock;
pub use faults::Faults;
pub use shapes::Shapes;
pub use snapshot::Snapshot;

pub use connections::Bounds;
pub use sigv4::Credentials;
pub use sim::{Answer, Config, Sim};
pub use stats::{ConnectionStats, Ledger, LimitStats, Placed, Stats, StreamCounts, Trimmed};
