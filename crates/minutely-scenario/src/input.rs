//! A run's records, read twice and never held whole: once for the counting model before the
//! backend starts, once while producing. A generated stream is drawn again from its seed, a
//! fixture file is opened again, a `recorded` file's bytes (44 bytes a line, made at run time)
//! are read again; memory does not grow with the events.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use minutely_aws::rng;
use minutely_event::Schema;
use minutely_producer::Pace;
use minutely_producer::source::FileSource;
use rand::Rng;

use crate::generate::{self, GenSpec, Payload, Spacing};
use crate::model::{Counts, Model};
use crate::spec::Scenario;

/// One record to put: an event or bytes that are not a record, when it is due (offset from the
/// start of production), and the names of the key's dimensions.
pub type Planned = (Payload, Option<Duration>, Arc<[String]>);

/// Where a run's records come from.
#[derive(Debug)]
pub enum Input {
    Generated {
        spec: GenSpec,
        count: usize,
        due: Due,
        key: Arc<[String]>,
    },
    /// A TSV file replayed, with malformed records among its events from a generator seeded by
    /// the scenario.
    Replay {
        bytes: Bytes,
        schema: Schema,
        name: String,
        pace: Pace,
        seed: u64,
        malformed_fraction: f64,
    },
}

/// When a generated stream's records are due.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Due {
    /// As fast as possible.
    Now,
    /// Evenly, this many records a second of stream time.
    Rate(f64),
    /// Each event at its own time less `start_ms`, never before the record before it (a jittered
    /// or late event goes when it is made, as a device sends it): a diurnal day's pace.
    OwnTime { start_ms: i64 },
}

/// The bytes of a replayed file.
#[derive(Debug)]
pub enum Bytes {
    File(PathBuf),
    Memory(Vec<u8>),
}

/// What the first pass over the input found.
#[derive(Debug)]
pub struct Counted {
    /// What the S3 sums must be.
    pub expected: Counts,
    /// Records to put: events (duplicates included) and malformed records.
    pub records: u64,
    /// Lines of a replayed file its reader rejected (never sent).
    pub rejected_by_producer: u64,
}

impl Input {
    pub fn of(s: &Scenario, root: &Path) -> anyhow::Result<Input> {
        let i = &s.input;
        let pace = i.speed.map_or(Pace::Asap, Pace::Speed);
        let replay = |bytes, schema, name| Input::Replay {
            bytes,
            schema,
            name,
            pace,
            seed: i.seed,
            malformed_fraction: i.malformed_fraction,
        };
        if let Some(fixture) = &i.fixture {
            let path = root.join(fixture);
            let sidecar = path.with_extension("schema.toml");
            let schema = if sidecar.is_file() {
                let text = std::fs::read_to_string(&sidecar)?;
                Schema::from_toml(&text).with_context(|| format!("in {}", sidecar.display()))?
            } else {
                Schema::default()
            };
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            return Ok(replay(Bytes::File(path), schema, name));
        }
        if let Some(r) = i.recorded {
            let mut tsv = Vec::with_capacity(r.lines as usize * 44);
            minutely_fixtures::write_big(r.lines, r.seed, &mut tsv)?;
            let key: Vec<String> = s.pipeline.key.iter().map(|k| format!("{k:?}")).collect();
            let schema =
                format!("time = \"time\"\ntime_format = \"rfc3339\"\nid = \"id\"\nkey = [{}]\n", key.join(", "));
            let schema = Schema::from_toml(&schema).context("the recorded file's schema")?;
            return Ok(replay(Bytes::Memory(tsv), schema, format!("recorded-{}-{}.tsv", r.lines, r.seed)));
        }
        let start = minutely_event::TimeFormat::Rfc3339
            .parse(i.start.as_bytes())
            .map_err(|e| anyhow::anyhow!("[input] start {:?}: {e}", i.start))?;
        let span_ms = i.span.as_millis() as i64;
        let (spacing, due) = match (i.diurnal, i.rate) {
            (Some(d), _) => {
                let spacing = Spacing::Diurnal { span_ms, peak_ms: d.peak.as_millis() as i64, low: d.low };
                (spacing, Due::OwnTime { start_ms: start.0 })
            }
            (None, Some(rate)) => (Spacing::Span(span_ms), Due::Rate(rate)),
            (None, None) => (Spacing::Span(span_ms), Due::Now),
        };
        let spec = GenSpec {
            seed: i.seed,
            start,
            spacing,
            dims: s.input.dims.clone(),
            jitter_ms: i.jitter.as_millis() as i64,
            late_fraction: i.late_fraction,
            late_by_ms: i.late_by.as_millis() as i64,
            duplicate_fraction: i.duplicate_fraction,
            malformed_fraction: i.malformed_fraction,
            missing_fraction: i.missing_fraction,
        };
        let key = spec.dims.iter().map(|d| d.name.clone()).collect();
        Ok(Input::Generated { spec, count: i.count.unwrap_or_default() as usize, due, key })
    }

    /// The records in order, from the start.
    pub fn items(&self) -> anyhow::Result<Items<'_>> {
        let kind = match self {
            Input::Generated { spec, count, due, key } => Kind::Generated {
                stream: Box::new(generate::stream(spec, Some(*count))),
                due: *due,
                last: Duration::ZERO,
                key: key.clone(),
            },
            Input::Replay { bytes, schema, name, pace, seed, malformed_fraction } => {
                let reader: Box<dyn BufRead + '_> = match bytes {
                    Bytes::File(path) => Box::new(std::io::BufReader::new(
                        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
                    )),
                    Bytes::Memory(tsv) => Box::new(tsv.as_slice()),
                };
                Kind::Replay {
                    source: FileSource::new(reader, schema, name, *pace)?,
                    rng: rng::seeded(*seed),
                    malformed_fraction: *malformed_fraction,
                    name,
                    malformed: None,
                }
            }
        };
        Ok(Items { kind, n: 0 })
    }

    /// The first pass: the model's counts and how many records there are.
    pub fn count(&self, key: &[String]) -> anyhow::Result<Counted> {
        let mut model = Model::new(key);
        let mut items = self.items()?;
        let mut records = 0u64;
        for planned in items.by_ref() {
            if let Payload::Event(e) = &planned?.0 {
                model.add(e);
            }
            records += 1;
        }
        Ok(Counted { expected: model.counts(), records, rejected_by_producer: items.rejected() })
    }
}

/// The records of one pass.
pub struct Items<'a> {
    kind: Kind<'a>,
    /// Records given so far.
    n: usize,
}

#[expect(clippy::large_enum_variant, reason = "one per pass over the input, never in a collection")]
enum Kind<'a> {
    Generated {
        stream: Box<dyn Iterator<Item = Payload> + 'a>,
        due: Due,
        /// When the record before was due.
        last: Duration,
        key: Arc<[String]>,
    },
    Replay {
        source: FileSource<Box<dyn BufRead + 'a>>,
        rng: rng::Rng,
        malformed_fraction: f64,
        name: &'a str,
        /// The malformed record due after the event just given.
        malformed: Option<Planned>,
    },
}

impl std::fmt::Debug for Items<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Items").field("n", &self.n).finish_non_exhaustive()
    }
}

impl Items<'_> {
    /// Lines the file's reader rejected so far (none for a generated stream).
    pub fn rejected(&self) -> u64 {
        match &self.kind {
            Kind::Generated { .. } => 0,
            Kind::Replay { source, .. } => source.rejects.len() as u64,
        }
    }
}

impl Iterator for Items<'_> {
    type Item = anyhow::Result<Planned>;

    fn next(&mut self) -> Option<Self::Item> {
        let planned = match &mut self.kind {
            Kind::Generated { stream, due, last, key } => {
                let payload = stream.next()?;
                let at = match (*due, &payload) {
                    (Due::Now, _) => None,
                    (Due::Rate(r), _) => Some(Duration::from_secs_f64(self.n as f64 / r)),
                    (Due::OwnTime { start_ms }, Payload::Event(e)) => {
                        let own = Duration::from_millis(e.time.0.saturating_sub(start_ms).max(0) as u64);
                        *last = own.max(*last);
                        Some(*last)
                    }
                    (Due::OwnTime { .. }, Payload::Malformed(_)) => Some(*last),
                };
                (payload, at, key.clone())
            }
            Kind::Replay { source, rng, malformed_fraction, name, malformed } => match malformed.take() {
                Some(m) => m,
                None => {
                    let sourced = match source.next()? {
                        Ok(s) => s,
                        Err(e) => return Some(Err(e.into())),
                    };
                    if rng.random_bool(*malformed_fraction) {
                        let bytes = format!("malformed record {} of {name}", self.n + 1).into_bytes();
                        *malformed = Some((Payload::Malformed(bytes), sourced.due, sourced.key.clone()));
                    }
                    (Payload::Event(sourced.event), sourced.due, sourced.key)
                }
            },
        };
        self.n += 1;
        Some(Ok(planned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn load(name: &str) -> Scenario {
        Scenario::load(&root().join(format!("scenarios/{name}.toml"))).unwrap()
    }

    /// Both passes give the same records; the first counts them and the file's rejects.
    fn passes_agree(s: &Scenario) -> Counted {
        let input = Input::of(s, &root()).unwrap();
        let counted = input.count(&s.pipeline.key).unwrap();
        let again: Vec<Planned> = input.items().unwrap().map(Result::unwrap).collect();
        let first: Vec<Planned> = input.items().unwrap().map(Result::unwrap).collect();
        assert_eq!(first, again);
        assert_eq!(first.len() as u64, counted.records);
        let events = first.iter().filter_map(|(i, _, _)| if let Payload::Event(e) = i { Some(e) } else { None });
        assert_eq!(crate::model::count(events, &s.pipeline.key), counted.expected);
        counted
    }

    #[test]
    fn a_replayed_file_is_read_twice_alike_with_its_rejects_and_malformed_records() {
        let s = load("messy-input");
        let counted = passes_agree(&s);
        assert!(counted.rejected_by_producer > 0, "messy.tsv has bad lines");
        let items: Vec<Planned> = Input::of(&s, &root()).unwrap().items().unwrap().map(Result::unwrap).collect();
        let malformed = items.iter().filter(|(i, _, _)| matches!(i, Payload::Malformed(_))).count();
        assert!(malformed > 0, "5 % malformed records among {} records", items.len());
        // A malformed record follows its event, due with it.
        let at = items.iter().position(|(i, _, _)| matches!(i, Payload::Malformed(_))).unwrap();
        assert!(at > 0 && matches!(items[at - 1].0, Payload::Event(_)));
        assert_eq!(items[at].1, items[at - 1].1);
    }

    #[test]
    fn a_generated_stream_is_drawn_twice_alike_and_due_by_its_rate() {
        let s = load("smoke");
        let counted = passes_agree(&s);
        assert_eq!(counted.rejected_by_producer, 0);
        let items: Vec<Planned> = Input::of(&s, &root()).unwrap().items().unwrap().map(Result::unwrap).collect();
        if let Some(rate) = s.input.rate {
            assert_eq!(items[10].1, Some(Duration::from_secs_f64(10.0 / rate)));
        }
    }

    /// `minutely produce --source random` and a scenario's generated input draw from one
    /// generator: smoke's 1,500 events over 3 minutes are the producer's at 1,500 / 180 s
    /// (120 ms apart), for the same seed and dimensions.
    #[test]
    fn the_producer_draws_a_scenarios_generated_events() {
        use minutely_event::Event;
        let s = load("smoke");
        let i = &s.input;
        let count = i.count.unwrap();
        let Input::Generated { spec, .. } = Input::of(&s, &root()).unwrap() else { panic!("smoke is generated") };
        let producer = minutely_producer::source::RandomSpec {
            seed: i.seed,
            rate: Some(count as f64 / i.span.as_secs_f64()),
            count: Some(count),
            start: spec.start,
            dims: spec.dims.clone(),
            jitter: i.jitter,
            late_fraction: i.late_fraction,
            late_by: i.late_by,
            duplicate_fraction: i.duplicate_fraction,
        };
        let produced: Vec<Event> =
            minutely_producer::source::RandomSource::new(producer).unwrap().map(|s| s.unwrap().event).collect();
        let scenario: Vec<Event> = Input::of(&s, &root())
            .unwrap()
            .items()
            .unwrap()
            .filter_map(|p| if let Payload::Event(e) = p.unwrap().0 { Some(e) } else { None })
            .collect();
        assert!(scenario.len() > count as usize, "smoke has duplicates");
        let differ = produced.iter().zip(&scenario).position(|(a, b)| a != b);
        assert_eq!(differ.map(|at| (&produced[at], &scenario[at])), None);
        assert_eq!(produced.len(), scenario.len());
    }

    #[test]
    fn a_recorded_file_is_made_once_and_replayed() {
        let s = load("recorded-day").scaled(2_000).unwrap();
        let counted = passes_agree(&s);
        // 2,000 valid lines with distinct ids, and malformed records among them.
        assert_eq!(counted.rejected_by_producer, 0);
        assert_eq!(counted.expected.values().sum::<u64>(), 2_000);
        assert!(counted.records >= 2_000);
    }
}
