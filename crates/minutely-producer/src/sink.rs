//! Where events go: readable lines, JSON lines on stdout, an in-process channel, or Kinesis
//! ([`crate::kinesis::KinesisSink`]).

use std::io::Write;

use minutely_event::{Event, RecordEncoder};
use tokio::sync::mpsc;

use crate::batcher::Refused;
use crate::partition::PartitionKey;
use crate::source::Sourced;

/// What a sink did with the events it was given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Events accepted by the destination (for Kinesis: acknowledged without an error code).
    pub sent: u64,
    /// The Kinesis records they went in: fewer than `sent` when aggregated (KPL).
    pub records: u64,
    /// Events sent again after a throttled or failed attempt.
    pub retried: u64,
    /// Of `retried`, those refused by AWS's limits (a shard's 1,000 records/s and 1 MiB/s in,
    /// or a throttled call), not by an error.
    pub throttled: u64,
    /// Events refused before sending: can never be sent (too large, bad partition key).
    pub rejected: u64,
    /// Events given up on after the retry deadline.
    pub failed: u64,
    /// Calls made to the destination (PutRecords calls for Kinesis).
    pub calls: u64,
}

/// Why a sink stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    #[error("writing: {0}")]
    Io(#[from] std::io::Error),
    #[error("the receiving side of the channel is gone")]
    Closed,
    #[error(transparent)]
    Aws(#[from] minutely_aws::AwsError),
}

/// A destination of events. `send` may buffer; `flush` sends what is buffered. Sinks that
/// need a partition key compute it with `partition`; the others never pay for it.
#[allow(async_fn_in_trait)]
pub trait Sink {
    async fn send(&mut self, sourced: Sourced, partition: PartitionKey) -> Result<(), SinkError>;
    async fn flush(&mut self) -> Result<(), SinkError>;
    fn stats(&self) -> SinkStats;
}

/// Readable lines: `201608211700  2016-08-21T17:00:01.089Z  usa  country=usa device=and  id=...`.
#[derive(Debug)]
pub struct ConsoleSink<W> {
    out: W,
    stats: SinkStats,
    /// Random partition keys.
    rng: minutely_aws::rng::Rng,
}

impl<W: Write> ConsoleSink<W> {
    pub fn new(out: W) -> Self {
        ConsoleSink {
            out,
            stats: SinkStats::default(),
            rng: minutely_aws::rng::seeded(minutely_aws::rng::fresh_seed()),
        }
    }
}

impl<W: Write> Sink for ConsoleSink<W> {
    async fn send(&mut self, sourced: Sourced, partition: PartitionKey) -> Result<(), SinkError> {
        let partition_key = partition.of(&sourced, &mut self.rng);
        let event = &sourced.event;
        let dims: Vec<String> = event.dims.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(
            self.out,
            "{}  {:>15}  pk={partition_key}  {}  id={}",
            event.time.minute(),
            event.time.0,
            dims.join(" "),
            event.id.as_deref().unwrap_or("-")
        )?;
        self.stats.sent += 1;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush()?;
        Ok(())
    }

    fn stats(&self) -> SinkStats {
        self.stats
    }
}

/// One record per line, in the documented record format: the input of
/// `minutely consume --source stdin`; or one record per line in another format
/// ([`JsonLinesSink::with_encoder`]).
#[derive(Debug)]
pub struct JsonLinesSink<W> {
    out: W,
    buf: Vec<u8>,
    stats: SinkStats,
    encoder: RecordEncoder,
    /// Events that could not be written in the encoder's format, with why.
    pub refused: Vec<Refused>,
}

impl<W: Write> JsonLinesSink<W> {
    pub fn new(out: W) -> Self {
        JsonLinesSink {
            out,
            buf: Vec::with_capacity(1 << 16),
            stats: SinkStats::default(),
            encoder: RecordEncoder::minutely(),
            refused: Vec::new(),
        }
    }

    /// Writes each event as `encoder` says, one per line.
    pub fn with_encoder(mut self, encoder: RecordEncoder) -> Self {
        self.encoder = encoder;
        self
    }
}

impl<W: Write> Sink for JsonLinesSink<W> {
    async fn send(&mut self, sourced: Sourced, _: PartitionKey) -> Result<(), SinkError> {
        let start = self.buf.len();
        if let Err(why) = self.encoder.encode(&sourced.event, &mut self.buf) {
            self.buf.truncate(start);
            let seq = self.stats.sent + self.stats.rejected;
            self.stats.rejected += 1;
            self.refused.push(Refused::Unencodable { seq, why });
            return Ok(());
        }
        self.buf.push(b'\n');
        self.stats.sent += 1;
        if self.buf.len() >= 1 << 16 {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
            self.stats.calls += 1;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()?;
        Ok(())
    }

    fn stats(&self) -> SinkStats {
        self.stats
    }
}

/// Events in chunks over a bounded channel, for a consumer in the same process. Back-pressure:
/// `send` waits while the channel is full.
#[derive(Debug)]
pub struct ChannelSink {
    tx: mpsc::Sender<Vec<Event>>,
    chunk: Vec<Event>,
    chunk_size: usize,
    stats: SinkStats,
}

impl ChannelSink {
    /// A sink and its receiving end, holding at most `capacity` chunks of `chunk_size` events.
    pub fn new(chunk_size: usize, capacity: usize) -> (ChannelSink, mpsc::Receiver<Vec<Event>>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let chunk_size = chunk_size.max(1);
        (ChannelSink { tx, chunk: Vec::with_capacity(chunk_size), chunk_size, stats: SinkStats::default() }, rx)
    }
}

impl Sink for ChannelSink {
    async fn send(&mut self, sourced: Sourced, _: PartitionKey) -> Result<(), SinkError> {
        self.chunk.push(sourced.event);
        if self.chunk.len() >= self.chunk_size {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(self.chunk_size));
        let n = chunk.len() as u64;
        self.tx.send(chunk).await.map_err(|_| SinkError::Closed)?;
        self.stats.sent += n;
        self.stats.calls += 1;
        Ok(())
    }

    fn stats(&self) -> SinkStats {
        self.stats
    }
}
