//! Where events come from: a recorded TSV file, replayed; or a seeded random generator.
//!
//! A source is a plain iterator of [`Sourced`] events, each with the offset from the start of
//! the run at which it is due (`None`: as fast as possible). The driver does the waiting, so a
//! source is deterministic and testable without a clock.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use minutely_aggregate::EventTime;
use minutely_event::{Event, Item, Rejected, Schema, TsvReader};

use crate::generate::{self, GenSpec, Payload, Spacing};
pub use crate::generate::{DimSpec, Spread};

/// One event and when it is due.
#[derive(Clone, Debug, PartialEq)]
pub struct Sourced {
    pub event: Event,
    /// The offset from the start of the run at which to send it; `None` means now.
    pub due: Option<Duration>,
    /// The names of the dimensions that form the event's key (the schema's key columns, or
    /// every generated dimension): shared, not copied per event.
    pub key: Arc<[String]>,
}

/// How fast a recorded file is replayed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// As fast as the sink takes them.
    Asap,
    /// Recorded time divided by this factor: `1.0` is the recorded pace, `60.0` replays a
    /// recorded minute in a second.
    Speed(f64),
}

/// A TSV file replayed in order. Event times are kept, or shifted by `shift_ms` (so that the
/// first event is "now" when the caller passes now minus the first event time; see
/// [`FileSource::shift_to`]).
#[derive(Debug)]
pub struct FileSource<R> {
    reader: TsvReader<R>,
    name: String,
    pace: Pace,
    shift_to: Option<EventTime>,
    first: Option<EventTime>,
    key: Arc<[String]>,
    /// Lines the reader rejected; they are never sent.
    pub rejects: Vec<Rejected>,
}

impl<R: Read> FileSource<R> {
    /// `name` prefixes the ids of rows that have no id column: `<name>:<line>`.
    pub fn new(input: R, schema: &Schema, name: &str, pace: Pace) -> Result<Self, minutely_event::InputError> {
        let reader = TsvReader::open(input, schema)?;
        let key = reader.decoder().schema.key_names().into_iter().map(str::to_owned).collect();
        Ok(FileSource { reader, key, name: name.to_owned(), pace, shift_to: None, first: None, rejects: Vec::new() })
    }

    /// Shifts every event time so that the first event is at `start`.
    pub fn shift_to(mut self, start: EventTime) -> Self {
        self.shift_to = Some(start);
        self
    }

    pub fn reader(&self) -> &TsvReader<R> {
        &self.reader
    }
}

impl<R: Read> Iterator for FileSource<R> {
    type Item = io::Result<Sourced>;

    fn next(&mut self) -> Option<io::Result<Sourced>> {
        loop {
            let row = match self.reader.next()? {
                Err(e) => return Some(Err(e)),
                Ok(Item::Rejected(r)) => {
                    self.rejects.push(r);
                    continue;
                }
                Ok(Item::Row(row)) => row,
            };
            let mut event = row.event;
            let first = *self.first.get_or_insert(event.time);
            let since_first = event.time.0 - first.0;
            if let Some(start) = self.shift_to {
                event.time = EventTime(start.0 + since_first);
            }
            if event.id.is_none() {
                event.id = Some(format!("{}:{}", self.name, row.line));
            }
            let due = match self.pace {
                Pace::Asap => None,
                // Rows before the first (out of order) are due at once.
                Pace::Speed(f) => Some(Duration::from_secs_f64(since_first.max(0) as f64 / 1000.0 / f)),
            };
            return Some(Ok(Sourced { event, due, key: self.key.clone() }));
        }
    }
}

/// A reproducible random stream.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomSpec {
    pub seed: u64,
    /// Events per second: paces the run and spaces event times. `None`: as fast as possible,
    /// event times 1 ms apart.
    pub rate: Option<f64>,
    /// Stop after this many events (`None`: never, until stopped).
    pub count: Option<u64>,
    /// The event time of the first event.
    pub start: EventTime,
    pub dims: Vec<DimSpec>,
    /// Each event time is moved back by up to this much: out of order within a window.
    pub jitter: Duration,
    /// This fraction of events is moved back by `late_by`.
    pub late_fraction: f64,
    pub late_by: Duration,
    /// This fraction of on-time events is sent twice, with the same id.
    pub duplicate_fraction: f64,
}

impl Default for RandomSpec {
    fn default() -> Self {
        RandomSpec {
            seed: 1,
            rate: None,
            count: Some(1000),
            start: EventTime(1_471_798_800_000),
            dims: vec!["country=12:zipf".parse().expect("a valid spec"), "device=3".parse().expect("a valid spec")],
            jitter: Duration::ZERO,
            late_fraction: 0.0,
            late_by: Duration::from_secs(300),
            duplicate_fraction: 0.0,
        }
    }
}

/// The random source: the events of [`generate::stream`] for the spec,
/// each due at its event's index over the rate (a duplicate with its original).
pub struct RandomSource {
    stream: Box<dyn Iterator<Item = (usize, Payload)> + Send>,
    rate: Option<f64>,
    key: Arc<[String]>,
}

impl std::fmt::Debug for RandomSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomSource").field("rate", &self.rate).field("key", &self.key).finish_non_exhaustive()
    }
}

impl RandomSource {
    pub fn new(spec: RandomSpec) -> Result<Self, String> {
        let gen_spec = spec.gen_spec();
        gen_spec.check()?;
        let key = spec.dims.iter().map(|d| d.name.clone()).collect();
        let count = spec.count.map(|c| usize::try_from(c).unwrap_or(usize::MAX));
        let stream = Box::new(generate::indexed(&gen_spec, count));
        Ok(RandomSource { stream, rate: spec.rate, key })
    }
}

impl RandomSpec {
    /// The generator's spec: event times `1000 / rate` ms apart (1 ms without a rate), no
    /// malformed records (a producer sends events).
    pub fn gen_spec(&self) -> GenSpec {
        GenSpec {
            seed: self.seed,
            start: self.start,
            spacing: Spacing::Every(self.rate.map_or(1.0, |r| 1000.0 / r)),
            dims: self.dims.clone(),
            jitter_ms: self.jitter.as_millis() as i64,
            late_fraction: self.late_fraction,
            late_by_ms: self.late_by.as_millis() as i64,
            duplicate_fraction: self.duplicate_fraction,
            malformed_fraction: 0.0,
            missing_fraction: 0.0,
        }
    }
}

impl Iterator for RandomSource {
    type Item = io::Result<Sourced>;

    fn next(&mut self) -> Option<io::Result<Sourced>> {
        loop {
            let (i, payload) = self.stream.next()?;
            let Payload::Event(event) = payload else { continue };
            let due = self.rate.map(|r| Duration::from_secs_f64(i as f64 / r));
            return Some(Ok(Sourced { event, due, key: self.key.clone() }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_keeps_or_shifts_times_and_paces_by_speed() {
        let tsv = "time\tcountry\n2016-08-21T17:00:00Z\tusa\nbad\tde\n2016-08-21T17:01:00Z\tde\n";
        let schema = Schema { key: Some(vec!["country".parse().unwrap()]), ..Schema::default() };
        let src = FileSource::new(tsv.as_bytes(), &schema, "f.tsv", Pace::Speed(60.0)).unwrap();
        let mut src = src.shift_to(EventTime(1_000_000));
        let a = src.next().unwrap().unwrap();
        let b = src.next().unwrap().unwrap();
        assert!(src.next().is_none());
        assert_eq!((a.event.time, b.event.time), (EventTime(1_000_000), EventTime(1_060_000)));
        assert_eq!((a.due, b.due), (Some(Duration::ZERO), Some(Duration::from_secs(1))));
        assert_eq!((a.event.id.as_deref(), b.event.id.as_deref()), (Some("f.tsv:2"), Some("f.tsv:4")));
        assert_eq!(&*b.key, &["country".to_string()]);
        assert_eq!(src.rejects.len(), 1);
        assert_eq!(src.rejects[0].line, 3);
    }

    #[test]
    fn random_streams_are_reproducible_with_duplicates_and_late_events() {
        let spec = RandomSpec {
            count: Some(2000),
            duplicate_fraction: 0.1,
            late_fraction: 0.05,
            jitter: Duration::from_secs(5),
            rate: Some(100.0),
            ..RandomSpec::default()
        };
        let a: Vec<Sourced> = RandomSource::new(spec.clone()).unwrap().map(Result::unwrap).collect();
        let b: Vec<Sourced> = RandomSource::new(spec.clone()).unwrap().map(Result::unwrap).collect();
        assert_eq!(a, b);
        let ids: std::collections::BTreeSet<_> = a.iter().map(|s| s.event.id.clone().unwrap()).collect();
        assert_eq!(ids.len(), 2000);
        let dups = a.len() - ids.len();
        assert!((100..300).contains(&dups), "{dups} duplicates");
        let late =
            a.iter().enumerate().filter(|(i, s)| s.event.time.0 < spec.start.0 + (*i as i64 * 10) - 200_000).count();
        assert!(late > 50, "{late} late");
        assert!(a.iter().all(|s| s.event.dims["country"].starts_with('c') && s.event.dims.len() == 2));
    }

    #[test]
    fn a_spec_the_generator_cannot_draw_from_is_refused() {
        let bad = |spec: RandomSpec| RandomSource::new(spec).unwrap_err();
        assert_eq!(
            bad(RandomSpec { late_fraction: 1.5, ..RandomSpec::default() }),
            "late fraction 1.5: a fraction between 0 and 1"
        );
        assert!(
            bad(RandomSpec { duplicate_fraction: -0.1, ..RandomSpec::default() }).starts_with("duplicate fraction")
        );
        let dims = vec![DimSpec { name: "d".into(), cardinality: 3, spread: Spread::Zipf(f64::NAN), numeric: false }];
        assert!(bad(RandomSpec { dims, ..RandomSpec::default() }).starts_with("d: a Zipf exponent"));
    }

    #[test]
    fn dim_specs_parse() {
        assert_eq!("country=12:zipf".parse::<DimSpec>().unwrap().spread, Spread::Zipf(1.0));
        assert_eq!("d=3".parse::<DimSpec>().unwrap().spread, Spread::Uniform);
        assert_eq!("d=3:zipf:1.5".parse::<DimSpec>().unwrap().spread, Spread::Zipf(1.5));
        assert!("d=0".parse::<DimSpec>().is_err());
        assert!("d".parse::<DimSpec>().is_err());
        assert!("d=3:normal".parse::<DimSpec>().is_err());
    }
}
