//! Latency: when each event was handed to the producer, acknowledged by Kinesis, read by the
//! consumer, taken out of a closed window and written to S3.

use std::collections::HashMap;
use std::sync::Mutex;

use hdrhistogram::Histogram;
use minutely_consumer::{Object, Observer};
use minutely_event::record::RecordRef;
use serde::Serialize;
use std::time::Instant;

/// What the consumer did, as the [`Observer`] saw it.
#[derive(Debug, Default)]
pub struct Tracer {
    inner: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// Event id: first read, worker, minute label.
    reads: HashMap<String, (Instant, String, String)>,
    /// (worker, minute label): (closed, written) of each object with counts, in write order.
    objects: HashMap<(String, String), Vec<(Instant, Instant)>>,
}

impl Observer for Tracer {
    fn read(&self, worker: &str, records: &mut dyn Iterator<Item = &[u8]>, at: tokio::time::Instant) {
        let at = at.into_std();
        let mut seen = self.inner.lock().expect("tracer lock");
        for r in records {
            if let Ok(rec) = RecordRef::decode(r) {
                let minute = rec.time().minute().to_string();
                seen.reads.entry(rec.id.into_owned()).or_insert_with(|| (at, worker.to_owned(), minute));
            }
        }
    }

    fn written(
        &self,
        worker: &str,
        object: &Object,
        closed_at: tokio::time::Instant,
        written_at: tokio::time::Instant,
    ) {
        let (closed_at, written_at) = (closed_at.into_std(), written_at.into_std());
        let Some(first) = object.counts().first() else { return };
        let mut seen = self.inner.lock().expect("tracer lock");
        seen.objects.entry((worker.to_owned(), first.minute.clone())).or_default().push((closed_at, written_at));
    }
}

/// Percentiles of one stage, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Percentiles {
        Percentiles {
            count: h.len(),
            p50_ms: h.value_at_quantile(0.50),
            p95_ms: h.value_at_quantile(0.95),
            p99_ms: h.value_at_quantile(0.99),
            max_ms: h.max(),
        }
    }
}

/// End-to-end latency and its stages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    /// From the producer taking the event to its count being written to S3.
    pub total: Percentiles,
    pub put_acknowledged: Percentiles,
    pub read_by_consumer: Percentiles,
    pub window_closed: Percentiles,
    pub written_to_s3: Percentiles,
}

impl Tracer {
    /// Joins the producer's timeline (event id, handed over, acknowledged) with what the
    /// consumer saw. An event counts in the first object of its worker and minute written after
    /// it was read (its on-time window, or the late release that carried it).
    pub fn latency(&self, produced: &[(String, Instant, Option<Instant>)]) -> Latency {
        let seen = self.inner.lock().expect("tracer lock");
        let hist = || Histogram::<u64>::new_with_bounds(1, 3_600_000, 3).expect("valid bounds");
        let (mut total, mut ack, mut read, mut closed, mut written) = (hist(), hist(), hist(), hist(), hist());
        let ms = |a: Instant, b: Instant| b.saturating_duration_since(a).as_millis().clamp(1, 3_600_000) as u64;
        let mut done = std::collections::HashSet::new();
        for (id, sent, acked) in produced {
            let Some(acked) = acked else { continue };
            if id.is_empty() || !done.insert(id.as_str()) {
                continue; // malformed records, and the second copy of a duplicate
            }
            let Some((read_at, worker, minute)) = seen.reads.get(id) else { continue };
            let Some(objects) = seen.objects.get(&(worker.clone(), minute.clone())) else { continue };
            let Some(&(closed_at, written_at)) = objects.iter().find(|(_, w)| w >= read_at) else { continue };
            let _ = total.record(ms(*sent, written_at));
            let _ = ack.record(ms(*sent, *acked));
            let _ = read.record(ms(*acked, *read_at));
            let _ = closed.record(ms(*read_at, closed_at));
            let _ = written.record(ms(closed_at, written_at));
        }
        Latency {
            total: Percentiles::of(&total),
            put_acknowledged: Percentiles::of(&ack),
            read_by_consumer: Percentiles::of(&read),
            window_closed: Percentiles::of(&closed),
            written_to_s3: Percentiles::of(&written),
        }
    }
}
