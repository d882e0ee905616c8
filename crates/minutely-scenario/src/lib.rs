//! minutely's scenario engine: one `scenarios/<name>.toml` run end to end. A backend is
//! started (the embedded sim, or LocalStack) with the scenario's faults, a fresh stream and
//! prefix made, the producer and the consumer run together, the aggregates are read back from
//! S3 and compared with the counting model and the snapshot, and latency is measured per stage.
//!
//! ```text
//! input (fixture TSV | generated) ──► items ──► producer (KinesisSink + timeline) ──► Kinesis (sim | LocalStack)
//!        │ (read twice)                           reshards of the fault plan             │  faults of the plan
//!        └──► model::Model ─┐               consumer (kinesis::consume + Tracer) ◄───────┘
//!                           ├── compare ◄── S3 sums ◄── objects (kill fault: crash, resume;
//!    snapshots/<name>.snap ─┘                          workers: several consumers on leases, fleet.rs)
//! ```
//!
//! [`faults`] is the one fault model: `[faults]` entries become a [`faults::Plan`] for the
//! backend, or are refused by name.

pub mod backend;
pub mod clock;
mod consumer;
pub mod draw;
mod durations;
pub mod expect;
pub mod faults;
pub mod fence;
pub mod fleet;
mod happenings;
pub mod history;
pub mod input;
pub mod model;
mod producer;
pub mod program;
mod readback;
pub mod replay;
pub mod report;
pub mod retention;
pub mod run;
pub mod spec;
pub mod swarm;
pub mod trace;

pub use backend::ScenarioBackend;
pub use clock::ClockMode;
/// The generator lives with the producer, which `minutely produce --source random` also uses.
pub use minutely_producer::generate;
pub use replay::{Replay, Wall};
pub use report::{Provenance, Report, snapshot_body};
pub use run::{Progress, RunOptions, run};
pub use spec::Scenario;
