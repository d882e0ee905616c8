//! Latency: when each event was handed to the producer, acknowledged by Kinesis, read by the
//! consumer, taken out of a closed window and written to S3.

use minutely_aws::clock::{self, Instant};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use minutely_consumer::{Object, Observer};
use minutely_event::{RecordDecoder, envelope};
use minutely_producer::kinesis::Timeline;
use serde::Serialize;

/// What the consumer did, as the [`Observer`] saw it.
#[derive(Debug)]
pub struct Tracer {
    /// The times of `reads` count from here.
    epoch: Instant,
    /// How the pipeline's records are read (envelopes are opened first).
    decoder: Arc<RecordDecoder>,
    inner: Mutex<Seen>,
}

impl Default for Tracer {
    fn default() -> Tracer {
        Tracer::new(0, Arc::new(RecordDecoder::minutely(&[])))
    }
}

impl Tracer {
    /// A tracer with room for `events` distinct events made at once: a table of millions is
    /// not rehashed (old and new table side by side) while the consumer reads.
    pub fn new(events: usize, decoder: Arc<RecordDecoder>) -> Tracer {
        let reads = HashMap::with_capacity_and_hasher(events, foldhash::fast::FixedState::default());
        Tracer { epoch: clock::now(), decoder, inner: Mutex::new(Seen { reads, ..Seen::default() }) }
    }

    /// How the pipeline's records are read: the consumer reads them the same way.
    pub fn decoder(&self) -> Arc<RecordDecoder> {
        self.decoder.clone()
    }
}

impl Tracer {
    /// Whether the consumer read the event whose id hashes to `id` ([`minutely_event::id_hash`]).
    pub fn was_read(&self, id: u128) -> bool {
        self.inner.lock().expect("tracer lock").reads.contains_key(&id)
    }
}

/// Every event of the Kinesis record `r` (a KPL aggregate's user records, a gzip payload's
/// lines) that `decoder` reads with an id: its id's hash ([`minutely_event::id_hash`]) and time.
pub(crate) fn events_of(decoder: &RecordDecoder, r: &[u8], f: &mut dyn FnMut(u128, minutely_aggregate::EventTime)) {
    envelope::unpack(r, &mut |piece| {
        let Ok(payload) = piece.payload else { return };
        decoder.each(&payload, &mut |_, _, fields| {
            if let Ok(fields) = fields
                && let Some(id) = fields.id
            {
                f(minutely_event::id_hash(&id), fields.time);
            }
        });
    });
}

/// One event's first read: microseconds since the tracer's epoch, and the (worker, minute
/// label) it was read in, interned, with [`Read::JOINED`] set while a latency join has taken it.
#[derive(Clone, Copy, Debug)]
struct Read {
    at_us: u64,
    place: u32,
}

impl Read {
    const JOINED: u32 = 1 << 31;
}

#[derive(Debug, Default)]
struct Seen {
    /// By event id hash: 32 bytes an event (a run of ten million events keeps about 400 MB).
    reads: HashMap<u128, Read, foldhash::fast::FixedState>,
    /// (worker, minute label) by number, and back.
    places: Vec<(String, String)>,
    place_numbers: HashMap<(String, String), u32>,
    /// (worker, minute label) number: (closed, written) of each object with counts, in write order.
    objects: HashMap<u32, Vec<(Instant, Instant)>>,
    /// When each object with counts was written, and the sum of its counts.
    written: Vec<(Instant, u64)>,
}

impl Seen {
    fn place(&mut self, worker: &str, minute: String) -> u32 {
        let key = (worker.to_owned(), minute);
        if let Some(n) = self.place_numbers.get(&key) {
            return *n;
        }
        let n = self.places.len() as u32;
        self.places.push(key.clone());
        self.place_numbers.insert(key, n);
        n
    }
}

/// Records per second of the run: acknowledged by Kinesis, read by the consumer (distinct
/// events), counted in objects written to S3.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Second {
    /// Seconds since the producer took its first record.
    pub second: u32,
    pub produced: u64,
    pub read: u64,
    pub written: u64,
    /// Entries the producer sent again (failed entries, throttled or failed calls).
    pub retried: u64,
}

/// The most points a report keeps per series: a longer run's seconds are summed into steps.
const MAX_POINTS: usize = 3600;

/// `seconds` as the report keeps them, and the seconds each entry sums: one by one up to
/// [`MAX_POINTS`], else summed into steps of whole minutes (a day of virtual time is 1,440
/// entries, not 86,400). Sums stay exact; the page divides by the step.
pub(crate) fn coarsen(seconds: Vec<Second>) -> (Vec<Second>, u32) {
    if seconds.len() <= MAX_POINTS {
        return (seconds, 1);
    }
    let step = (seconds.len().div_ceil(MAX_POINTS) as u32).next_multiple_of(60);
    let mut out: Vec<Second> = Vec::with_capacity(seconds.len() / step as usize + 1);
    for s in seconds {
        let start = s.second / step * step;
        if out.last().is_none_or(|l| l.second != start) {
            out.push(Second { second: start, ..Second::default() });
        }
        let l = out.last_mut().expect("pushed above");
        (l.produced, l.read, l.written, l.retried) =
            (l.produced + s.produced, l.read + s.read, l.written + s.written, l.retried + s.retried);
    }
    (out, step)
}

/// Lag points (second, ms behind) as the report keeps them: with a step above one second, the
/// largest of each step, at its start.
pub(crate) fn coarsen_lag(points: Vec<(f64, i64)>, step: u32) -> Vec<(f64, i64)> {
    if step <= 1 {
        return points;
    }
    let mut out: Vec<(f64, i64)> = Vec::new();
    for (second, ms) in points {
        let start = (second / f64::from(step)).floor() * f64::from(step);
        match out.last_mut() {
            Some(l) if l.0 == start => l.1 = l.1.max(ms),
            _ => out.push((start, ms)),
        }
    }
    out
}

/// `seconds[i]` for the second of `t` since `t0`, the seconds before it made as needed.
pub(crate) fn second_of(seconds: &mut Vec<Second>, t0: Instant, t: Instant) -> &mut Second {
    let i = t.saturating_duration_since(t0).as_secs() as usize;
    if seconds.len() <= i {
        seconds.extend((seconds.len()..=i).map(|s| Second { second: s as u32, ..Second::default() }));
    }
    &mut seconds[i]
}

impl Observer for Tracer {
    fn read(&self, worker: &str, records: &mut dyn Iterator<Item = &[u8]>, at: Instant) {
        let at_us = at.saturating_duration_since(self.epoch).as_micros() as u64;
        let mut seen = self.inner.lock().expect("tracer lock");
        for r in records {
            events_of(&self.decoder, r, &mut |id, time| {
                if !seen.reads.contains_key(&id) {
                    let place = seen.place(worker, time.minute().to_string());
                    seen.reads.insert(id, Read { at_us, place });
                }
            });
        }
    }

    fn written(&self, worker: &str, object: &Object, closed_at: Instant, written_at: Instant) {
        let Some(first) = object.counts().first() else { return };
        let mut seen = self.inner.lock().expect("tracer lock");
        let place = seen.place(worker, first.minute.clone());
        seen.objects.entry(place).or_default().push((closed_at, written_at));
        let counted = object.counts().iter().map(|c| c.count).sum();
        seen.written.push((written_at, counted));
    }
}

/// Percentiles of one stage, in milliseconds, and its distribution for a chart.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
    /// (percent of events, ms at or below which they are): every whole percent, then 99.5 and
    /// 99.9 (empty when nothing was measured).
    pub cdf: Vec<(f64, u64)>,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Percentiles {
        let cdf = if h.is_empty() {
            Vec::new()
        } else {
            let q = (0..=99).map(f64::from).chain([99.5, 99.9]);
            let mut cdf: Vec<(f64, u64)> = q.map(|p| (p, h.value_at_quantile(p / 100.0))).collect();
            cdf.push((100.0, h.max()));
            cdf
        };
        Percentiles {
            count: h.len(),
            p50_ms: h.value_at_quantile(0.50),
            p95_ms: h.value_at_quantile(0.95),
            p99_ms: h.value_at_quantile(0.99),
            max_ms: h.max(),
            cdf,
        }
    }
}

/// End-to-end latency and its stages, with the scenario's limits on the total.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    /// From the producer taking the event to its count being written to S3.
    pub total: Percentiles,
    pub put_acknowledged: Percentiles,
    pub read_by_consumer: Percentiles,
    pub window_closed: Percentiles,
    pub written_to_s3: Percentiles,
    /// The scenario's `latency_p50`, `latency_p95` and `latency_p99`, in ms.
    pub limit_p50_ms: Option<u64>,
    pub limit_p95_ms: Option<u64>,
    pub limit_p99_ms: Option<u64>,
}

impl Tracer {
    /// Joins the producer's timeline with what the consumer saw. An event counts in the first
    /// object of its worker and minute written after it was read (its on-time window, or the
    /// late release that carried it); the second copy of a duplicate counts nothing. Linear in
    /// the records, and it allocates nothing per record.
    pub fn latency(&self, timeline: &Timeline) -> Latency {
        let mut seen = self.inner.lock().expect("tracer lock");
        let seen = &mut *seen;
        // Up to 8 days: a virtual run's consumer may be away for more than a day (`retention`).
        const MAX_MS: u64 = 8 * 24 * 3_600_000;
        let hist = || Histogram::<u64>::new_with_bounds(1, MAX_MS, 3).expect("valid bounds");
        let (mut total, mut ack, mut read, mut closed, mut written) = (hist(), hist(), hist(), hist(), hist());
        let ms = |a: Instant, b: Instant| (b.saturating_duration_since(a).as_millis() as u64).clamp(1, MAX_MS);
        for ((id, sent), acked) in timeline.sent.iter().zip(&timeline.acked) {
            let Some(acked) = acked else { continue };
            if *id == Timeline::NO_ID {
                continue; // malformed records
            }
            let Some(r) = seen.reads.get_mut(id) else { continue };
            if r.place & Read::JOINED != 0 {
                continue; // the second copy of a duplicate
            }
            let place = r.place;
            r.place |= Read::JOINED;
            let read_at = self.epoch + Duration::from_micros(r.at_us);
            let Some(objects) = seen.objects.get(&place) else { continue };
            let Some(&(closed_at, written_at)) = objects.iter().find(|(_, w)| *w >= read_at) else { continue };
            let _ = total.record(ms(*sent, written_at));
            let _ = ack.record(ms(*sent, *acked));
            let _ = read.record(ms(*acked, read_at));
            let _ = closed.record(ms(read_at, closed_at));
            let _ = written.record(ms(closed_at, written_at));
        }
        seen.reads.values_mut().for_each(|r| r.place &= !Read::JOINED);
        Latency {
            total: Percentiles::of(&total),
            put_acknowledged: Percentiles::of(&ack),
            read_by_consumer: Percentiles::of(&read),
            window_closed: Percentiles::of(&closed),
            written_to_s3: Percentiles::of(&written),
            ..Latency::default()
        }
    }

    /// Per second since `t0`: records acknowledged (`acked`), events first read, counts written.
    pub fn throughput(&self, t0: Instant, acked: impl IntoIterator<Item = Instant>) -> Vec<Second> {
        let seen = self.inner.lock().expect("tracer lock");
        let mut seconds: Vec<Second> = Vec::new();
        for t in acked {
            second_of(&mut seconds, t0, t).produced += 1;
        }
        for r in seen.reads.values() {
            second_of(&mut seconds, t0, self.epoch + Duration::from_micros(r.at_us)).read += 1;
        }
        for (t, n) in &seen.written {
            second_of(&mut seconds, t0, *t).written += n;
        }
        seconds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_runs_seconds_are_summed_by_the_minute_exactly() {
        let day: Vec<Second> = (0..86_400)
            .map(|s| Second { second: s, produced: 2, read: 1, written: u64::from(s % 7 == 0), retried: 0 })
            .collect();
        let written: u64 = day.iter().map(|s| s.written).sum();
        let (kept, step) = coarsen(day);
        assert_eq!((kept.len(), step), (1440, 60));
        assert_eq!((kept[1].second, kept[1].produced, kept[1].read), (60, 120, 60));
        assert_eq!(kept.iter().map(|s| s.written).sum::<u64>(), written, "sums stay exact");
        let hour: Vec<Second> = (0..3600).map(|s| Second { second: s, ..Second::default() }).collect();
        assert_eq!(coarsen(hour).1, 1, "an hour stays by the second");
        let lag = coarsen_lag(vec![(0.0, 5), (30.0, 900), (59.0, 7), (60.0, 1)], 60);
        assert_eq!(lag, vec![(0.0, 900), (60.0, 1)], "the largest of each step");
    }
}
