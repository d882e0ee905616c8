//! The driver: events from a source, each when it is due, into a sink; the run's summary.

use minutely_aws::clock::{self, Instant};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::partition::PartitionKey;
use crate::sink::{Sink, SinkError, SinkStats};
use crate::source::Sourced;

/// What a run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Events taken from the source and given to the sink.
    pub produced: u64,
    pub sink: SinkStats,
    /// The run was stopped (Ctrl-C) before the source ended; what was buffered was flushed.
    pub stopped: bool,
    pub elapsed: Duration,
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    #[error("reading the source: {0}")]
    Source(#[from] io::Error),
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// How long a paced run lets records wait in a sink's buffer at most (besides the wait for the
/// next event), as the KPL's `RecordMaxBufferedTime`.
pub const LINGER: Duration = Duration::from_millis(100);

/// Waits until each record is due, flushing the sink before a wait once its records have
/// lingered for [`LINGER`], or when the wait is that long; not before every short wait, which
/// would make a call per record.
#[derive(Clone, Copy, Debug)]
pub struct Pacer {
    start: Instant,
    last_flush: Instant,
}

impl Pacer {
    /// A pacer whose offsets count from now.
    pub fn new() -> Pacer {
        let start = clock::now();
        Pacer { start, last_flush: start }
    }

    /// Waits until `due` after the start (`None`: no wait).
    pub async fn wait<S: Sink>(&mut self, due: Option<Duration>, sink: &mut S) -> Result<(), SinkError> {
        let Some(due) = due else { return Ok(()) };
        let at = self.start + due;
        let now = clock::now();
        if at > now {
            if at - now >= LINGER || now - self.last_flush >= LINGER {
                sink.flush().await?;
                self.last_flush = clock::now();
            }
            clock::sleep_until(at).await;
        }
        Ok(())
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new()
    }
}

/// Sends every event of `source` to `sink`, each when it is due, until the source ends or
/// `stop` is set; then flushes the sink. `progress` is called with the count every 1,000 events, and before the flush.
pub async fn produce<S: Sink>(
    source: impl Iterator<Item = io::Result<Sourced>>,
    sink: &mut S,
    partition: PartitionKey,
    stop: &Arc<AtomicBool>,
    mut progress: impl FnMut(u64),
) -> Result<Summary, ProduceError> {
    let mut pacer = Pacer::new();
    let mut summary = Summary::default();
    for sourced in source {
        if stop.load(Ordering::Relaxed) {
            summary.stopped = true;
            break;
        }
        let sourced = sourced?;
        pacer.wait(sourced.due, sink).await?;
        sink.send(sourced, partition).await?;
        summary.produced += 1;
        if summary.produced % 1000 == 0 {
            progress(summary.produced);
        }
    }
    progress(summary.produced);
    sink.flush().await?;
    summary.sink = sink.stats();
    summary.elapsed = pacer.elapsed();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{ChannelSink, JsonLinesSink};
    use crate::source::{RandomSource, RandomSpec};
    use minutely_event::Event;

    #[tokio::test(flavor = "current_thread")]
    async fn the_channel_gets_every_event_in_order() {
        let spec = RandomSpec { count: Some(2500), duplicate_fraction: 0.05, ..RandomSpec::default() };
        let want: Vec<Event> = RandomSource::new(spec.clone()).unwrap().map(|s| s.unwrap().event).collect();
        let (mut sink, mut rx) = ChannelSink::new(100, 4);
        let collect = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(chunk) = rx.recv().await {
                got.extend(chunk);
            }
            got
        });
        let stop = Arc::new(AtomicBool::new(false));
        let summary =
            produce(RandomSource::new(spec).unwrap(), &mut sink, PartitionKey::Key, &stop, |_| {}).await.unwrap();
        drop(sink);
        assert_eq!(collect.await.unwrap(), want);
        assert_eq!((summary.produced, summary.sink.sent), (want.len() as u64, want.len() as u64));
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_paced_run_takes_the_time_its_rate_says_and_stop_flushes() {
        let spec = RandomSpec { count: Some(100), rate: Some(50.0), ..RandomSpec::default() };
        let mut out = JsonLinesSink::new(Vec::new());
        let stop = Arc::new(AtomicBool::new(false));
        let summary =
            produce(RandomSource::new(spec.clone()).unwrap(), &mut out, PartitionKey::Id, &stop, |_| {}).await.unwrap();
        assert_eq!(summary.produced, 100);
        assert!(
            summary.elapsed >= Duration::from_millis(1980) && summary.elapsed < Duration::from_millis(2100),
            "{:?}",
            summary.elapsed
        );

        stop.store(true, Ordering::Relaxed);
        let mut out = JsonLinesSink::new(Vec::new());
        let summary =
            produce(RandomSource::new(spec).unwrap(), &mut out, PartitionKey::Id, &stop, |_| {}).await.unwrap();
        assert!(summary.stopped && summary.produced == 0);
    }

    /// Counts flushes; takes everything.
    #[derive(Default)]
    struct Flushes(u64, SinkStats);

    impl Sink for Flushes {
        async fn send(&mut self, _: Sourced, _: PartitionKey) -> Result<(), SinkError> {
            self.1.sent += 1;
            Ok(())
        }
        async fn flush(&mut self) -> Result<(), SinkError> {
            self.0 += 1;
            Ok(())
        }
        fn stats(&self) -> SinkStats {
            self.1
        }
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_paced_run_flushes_once_per_linger_not_once_per_record() {
        // 1,000 events a second for a second: every event waits 1 ms for its turn.
        let spec = RandomSpec { count: Some(1000), rate: Some(1000.0), ..RandomSpec::default() };
        let mut sink = Flushes::default();
        let stop = Arc::new(AtomicBool::new(false));
        produce(RandomSource::new(spec).unwrap(), &mut sink, PartitionKey::Id, &stop, |_| {}).await.unwrap();
        assert_eq!(sink.1.sent, 1000);
        assert!((9..=12).contains(&sink.0), "{} flushes for a second at a 100 ms linger", sink.0);
    }

    #[test]
    fn partition_keys() {
        let s = Sourced {
            event: Event {
                time: minutely_aggregate::EventTime(0),
                id: Some("e1".into()),
                dims: [("country", "usa"), ("device", "ios")].into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            },
            due: None,
            key: vec!["country".to_string(), "device".to_string()].into(),
        };
        let mut rng = minutely_aws::rng::seeded(1);
        assert_eq!(PartitionKey::Key.of(&s, &mut rng), "usa|ios");
        assert_eq!(PartitionKey::Id.of(&s, &mut rng), "e1");
        assert_eq!(PartitionKey::Random.of(&s, &mut rng).len(), 32);
        let no_key = Sourced { key: Vec::new().into(), ..s };
        assert_eq!(PartitionKey::Key.of(&no_key, &mut rng), "e1");
    }
}
