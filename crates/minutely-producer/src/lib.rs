//! minutely's producer: events from a [`source`] into a [`sink`], paced, partitioned, and
//! summarised.
//!
//! ```text
//! FileSource / RandomSource ──► produce() ──► ConsoleSink | JsonLinesSink | ChannelSink | KinesisSink
//!   (iterators, no clock)        waits until due,         (KinesisSink: Batcher ► PutRecords ► retry
//!                                picks partition keys      failed entries ► optional shard limiter;
//!                                                          optional KPL aggregation before the Batcher)
//! ```

pub mod aggregation;
pub mod batcher;
pub mod driver;
pub mod generate;
pub mod kinesis;
pub mod limiter;
pub mod partition;
pub mod request;
pub mod sink;
pub mod source;
pub mod timeline;

pub use driver::{LINGER, Pacer, ProduceError, Summary, produce};
pub use partition::PartitionKey;
pub use sink::{Sink, SinkError, SinkStats};
pub use source::{Pace, Sourced};
