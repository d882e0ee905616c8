//! The pure core of minutely: event time, minutes, and per-minute counts over event-time windows.
//!
//! **Architecture invariant:** this crate does no IO, reads no clock, spawns no thread and knows
//! nothing of Kinesis, S3, TSV or async runtimes. Processing time is passed in by the caller.
//! Everything it returns is a function of its inputs, so the same input gives the same output on
//! any machine at any time.

pub mod time;
pub mod window;

pub use time::{EventTime, Minute, MinuteLabel};
pub use window::{Placement, ProcessingTime, WindowConfig, WindowCount, WindowStats, Windows, WindowsState};
