//! Verdicts on what a pipeline did, from what it was given and what it stored (issue 26's
//! `minutely check`): pure, no IO, no clock, no AWS. The readers (a stream's shards, S3) live
//! with the CLI and hand it plain values.
//!
//! [`history`]: the events a stream holds against the events that were meant to be put,
//! classified as Jepsen's queue checkers name them: **lost** (expected, never stored),
//! **duplicated** (stored more often than given), **explained-duplicates** (the same, every
//! extra copy stored by a put whose answer a sim lost), **unexpected** (stored, not expected),
//! **altered** (the same id with another time or key), **reordered** (behind a later event of
//! its partition key, when order was promised) and **unreadable** (stored, not an event), each with a count, a fraction and its first witnesses, by id and place.
//!
//! [`counts`] and [`output`]: a counting job's output (minutely's layout, JSON lines, JSON
//! documents or CSV, as an [`OutputSchema`] says) read into counts per (window, key) and
//! compared with the counting model of the expected events: missing, extra, short and over.

mod ahead;
pub mod counts;
mod drawing;
pub mod history;
pub mod output;
mod place;

pub use ahead::ahead;
pub use counts::{CountAnomaly, CountsVerdict, Model};
pub use drawing::Drawing;
pub use history::{Anomaly, Checker, Class, Expected, Place, Stored, Verdict, Witness};
pub use output::{Found, OutputError, OutputSchema};
