//! The one random event generator, built on proptest strategies: a seed fixes the stream, and
//! property tests draw many streams from the same strategy, with shrinking. `minutely produce
//! --source random` ([`crate::source::RandomSource`]) and the scenario engine's generated input
//! both draw from [`stream`]: the same spec and seed give the same events, whichever entry point.

use std::collections::BTreeMap;

use minutely_aggregate::EventTime;
use minutely_event::Event;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// What a generated stream looks like.
#[derive(Clone, Debug, PartialEq)]
pub struct GenSpec {
    /// Names the ids (`g<seed>-<n>`) and seeds the stream ([`stream`]).
    pub seed: u64,
    pub start: EventTime,
    /// Where event `i` of the stream is placed in event time (before jitter and lateness).
    pub spacing: Spacing,
    pub dims: Vec<DimSpec>,
    /// Each event time moves back by up to this much (out of order).
    pub jitter_ms: i64,
    pub late_fraction: f64,
    pub late_by_ms: i64,
    /// Each on-time event is sent twice with this probability, right after itself (a retry).
    pub duplicate_fraction: f64,
    /// An undecodable record follows an event with this probability.
    pub malformed_fraction: f64,
    /// An event lacks its last dimension with this probability (a client that did not set a
    /// field). Decided by a hash of the seed and the event's index, not by the stream's draws,
    /// so that the events of every other spec stay what they were.
    pub missing_fraction: f64,
}

impl GenSpec {
    /// What the generator cannot draw from: a fraction outside `[0, 1]`, a Zipf exponent that
    /// is negative or not a number.
    pub fn check(&self) -> Result<(), String> {
        let fractions = [
            ("late fraction", self.late_fraction),
            ("duplicate fraction", self.duplicate_fraction),
            ("malformed fraction", self.malformed_fraction),
            ("missing fraction", self.missing_fraction),
        ];
        if let Some((name, f)) = fractions.iter().find(|(_, f)| !(0.0..=1.0).contains(f)) {
            return Err(format!("{name} {f}: a fraction between 0 and 1"));
        }
        match self.dims.iter().find(|d| matches!(d.spread, Spread::Zipf(e) if !(e.is_finite() && e >= 0.0))) {
            Some(d) => Err(format!("{}: a Zipf exponent must be a finite number ≥ 0", d.name)),
            None => Ok(()),
        }
    }
}

/// Where events are placed in event time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Spacing {
    /// Spread evenly over this many milliseconds, whatever the count (a stream needs a count
    /// for this: without one every event is at the start).
    Span(i64),
    /// This many milliseconds apart: event `i` at `start + i * ms` (rounded), for streams of any
    /// length.
    Every(f64),
    /// Over `span_ms` as a day's traffic goes: the density of events follows a cosine of a day's
    /// period, highest `peak_ms` into the span and `low` times that (0 < low ≤ 1) twelve hours
    /// away from it. Needs a count, as `Span` does.
    Diurnal { span_ms: i64, peak_ms: i64, low: f64 },
}

/// A day in milliseconds: the period of [`Spacing::Diurnal`].
const DAY_MS: f64 = 86_400_000.0;

impl Spacing {
    /// The event time of event `i` of `n` (`n` is `None` for an open-ended stream).
    fn slot(self, start: EventTime, i: usize, n: Option<usize>) -> i64 {
        match self {
            Spacing::Span(span_ms) => start.0 + span_ms * i as i64 / n.unwrap_or(1).max(1) as i64,
            Spacing::Every(ms) => start.0 + (i as f64 * ms).round() as i64,
            Spacing::Diurnal { span_ms, peak_ms, low } => {
                start.0 + diurnal_time(span_ms as f64, peak_ms as f64, low, i as f64 / n.unwrap_or(1).max(1) as f64)
            }
        }
    }
}

/// The time (ms into the span) before which fraction `q` of a diurnal span's events fall: the
/// inverse of the density's integral, found by bisection (the integral only grows).
fn diurnal_time(span: f64, peak: f64, low: f64, q: f64) -> i64 {
    let w = std::f64::consts::TAU / DAY_MS;
    // ∫₀ᵗ low + (1 - low)(1 + cos(w(x - peak)))/2 dx
    let integral = |t: f64| low * t + (1.0 - low) / 2.0 * (t + ((w * (t - peak)).sin() - (w * -peak).sin()) / w);
    let target = q * integral(span);
    let (mut lo, mut hi) = (0.0, span);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if integral(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo.round() as i64
}

/// What one Kinesis record of a scenario carries: an event, or bytes that are not one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    Event(Event),
    /// Bytes that are not a record.
    Malformed(Vec<u8>),
}

/// The random choices for one event.
#[derive(Clone, Debug)]
struct Draw {
    picks: Vec<f64>,
    jitter: f64,
    late: bool,
    duplicate: bool,
    malformed: bool,
}

/// The random choices of one event.
fn draw(spec: &GenSpec) -> impl Strategy<Value = Draw> + use<> {
    (
        proptest::collection::vec(0.0..1.0f64, spec.dims.len()),
        0.0..1.0f64,
        proptest::bool::weighted(spec.late_fraction),
        proptest::bool::weighted(spec.duplicate_fraction),
        proptest::bool::weighted(spec.malformed_fraction),
    )
        .prop_map(|(picks, jitter, late, duplicate, malformed)| Draw { picks, jitter, late, duplicate, malformed })
}

/// What [`draw`]'s strategy draws for one event, drawn the same way (the same proptest
/// samplers, in the same order) into `d`, without building and dropping a value tree per event:
/// a third of the generator's time.
fn draw_into(spec: &GenSpec, runner: &mut TestRunner, d: &mut Draw) {
    let value = |r: &mut TestRunner| (0.0..1.0f64).new_tree(r).expect("a range always generates").current();
    let weighted = |r: &mut TestRunner, p: f64| proptest::bool::weighted(p).new_tree(r).expect("always").current();
    // `collection::vec` draws its length first: one value, one draw.
    let n = spec.dims.len();
    let _length: usize = proptest::num::sample_uniform_incl(runner, n, n);
    d.picks.clear();
    d.picks.extend((0..n).map(|_| value(runner)));
    d.jitter = value(runner);
    d.late = weighted(runner, spec.late_fraction);
    d.duplicate = weighted(runner, spec.duplicate_fraction);
    d.malformed = weighted(runner, spec.malformed_fraction);
}

/// Streams of `count` events (a range for property tests, one value for a scenario).
pub fn strategy(
    spec: GenSpec,
    count: impl Into<proptest::collection::SizeRange>,
) -> impl Strategy<Value = Vec<Payload>> {
    let cdfs: Vec<Values> = spec.dims.iter().map(Values::new).collect();
    proptest::collection::vec(draw(&spec), count).prop_map(move |draws| {
        let mut out = Vec::with_capacity(draws.len() + draws.len() / 8);
        for (i, d) in draws.iter().enumerate() {
            build(&spec, &cdfs, i, Some(draws.len()), d, &mut out);
        }
        out
    })
}

/// The stream for a seed, one item at a time, in constant memory: the items of the strategy's
/// value for the seed (no shrinking), drawn the way the strategy draws them. `count: None`
/// never ends; with [`Spacing::Every`] its first `n` events are those of `Some(n)`.
pub fn stream(spec: &GenSpec, count: Option<usize>) -> impl Iterator<Item = Payload> + use<> {
    indexed(spec, count).map(|(_, payload)| payload)
}

/// [`stream`], each item with the index of the event it comes from (a duplicate and a
/// malformed record share their event's).
pub fn indexed(spec: &GenSpec, count: Option<usize>) -> impl Iterator<Item = (usize, Payload)> + use<> {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&spec.seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    // `collection::vec` first draws its length (one value here), then each element in turn. A
    // one-value range takes one draw whatever the value, so an open-ended stream draws it too
    // and stays in step with a counted one.
    let length = count.unwrap_or(0);
    let _length: usize = proptest::num::sample_uniform_incl(&mut runner, length, length);
    let spec = spec.clone();
    let cdfs: Vec<Values> = spec.dims.iter().map(Values::new).collect();
    let mut pending = std::collections::VecDeque::new();
    let mut i = 0;
    let mut d = Draw {
        picks: Vec::with_capacity(spec.dims.len()),
        jitter: 0.0,
        late: false,
        duplicate: false,
        malformed: false,
    };
    std::iter::from_fn(move || {
        while pending.is_empty() && count.is_none_or(|n| i < n) {
            draw_into(&spec, &mut runner, &mut d);
            build(&spec, &cdfs, i, count, &d, &mut pending);
            i += 1;
        }
        pending.pop_front().map(|payload| (i - 1, payload))
    })
}

/// The stream for a seed, whole (for tests; runs use [`stream`]).
/// How the values of one generated dimension are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Spread {
    Uniform,
    /// Zipf with this exponent: value 1 is the most frequent.
    Zipf(f64),
}

/// A generated dimension: `country` with 12 values, Zipf-distributed, say.
#[derive(Clone, Debug, PartialEq)]
pub struct DimSpec {
    pub name: String,
    pub cardinality: u32,
    pub spread: Spread,
    /// Values are plain numbers (`1`, `2`, ...; written `#name=...`), not `<initial><n>`.
    pub numeric: bool,
}

impl std::str::FromStr for DimSpec {
    type Err = String;

    /// `name=cardinality[:uniform|:zipf[:exponent]]`, as in `country=12:zipf`; `#name=...` for
    /// numeric values (`#version=5`: `1` to `5`).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not [#]NAME=CARDINALITY[:uniform|:zipf[:EXPONENT]]");
        let (name, rest) = s.split_once('=').ok_or_else(bad)?;
        let (numeric, name) = match name.strip_prefix('#') {
            Some(n) => (true, n),
            None => (false, name),
        };
        if name.is_empty() {
            return Err(bad());
        }
        let mut parts = rest.split(':');
        let cardinality: u32 = parts.next().and_then(|c| c.parse().ok()).filter(|&c| c > 0).ok_or_else(bad)?;
        let spread = match (parts.next(), parts.next()) {
            (None | Some("uniform"), None) => Spread::Uniform,
            (Some("zipf"), None) => Spread::Zipf(1.0),
            (Some("zipf"), Some(e)) => Spread::Zipf(e.parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        };
        Ok(DimSpec { name: name.to_owned(), cardinality, spread, numeric })
    }
}

#[cfg(test)]
fn generate(spec: &GenSpec, count: usize) -> Vec<Payload> {
    stream(spec, Some(count)).collect()
}

/// A dimension's values: their cumulative weights and labels (`c1`, `c2`... or `1`, `2`...).
struct Values {
    cdf: Vec<f64>,
    labels: Vec<String>,
}

impl Values {
    fn new(d: &DimSpec) -> Values {
        let initial = &d.name[..d.name.len().min(1)];
        let label = |v: u32| if d.numeric { v.to_string() } else { format!("{initial}{v}") };
        Values { cdf: cdf(d), labels: (1..=d.cardinality).map(label).collect() }
    }
}

/// Cumulative weights of a dimension's values: uniform, or Zipf with exponent `s`.
fn cdf(d: &DimSpec) -> Vec<f64> {
    let weights: Vec<f64> = (1..=d.cardinality)
        .map(|k| match d.spread {
            Spread::Uniform => 1.0,
            Spread::Zipf(s) => 1.0 / f64::from(k).powf(s),
        })
        .collect();
    let total: f64 = weights.iter().sum();
    weights
        .iter()
        .scan(0.0, |acc, w| {
            *acc += w / total;
            Some(*acc)
        })
        .collect()
}

/// The items of event `i` of `n`: the event, its copy (a retry) and a malformed record after it.
fn build(spec: &GenSpec, cdfs: &[Values], i: usize, n: Option<usize>, d: &Draw, out: &mut impl Extend<Payload>) {
    let slot = spec.spacing.slot(spec.start, i, n);
    let mut time = slot - (d.jitter * spec.jitter_ms as f64) as i64;
    if d.late {
        time -= spec.late_by_ms;
    }
    let mut dims = BTreeMap::new();
    for ((dim, values), u) in spec.dims.iter().zip(cdfs).zip(&d.picks) {
        // The first value whose cumulative weight is above the pick (the weights only grow).
        let v = values.cdf.partition_point(|c| c <= u).min(values.cdf.len() - 1);
        dims.insert(dim.name.clone(), values.labels[v].clone());
    }
    if spec.missing_fraction > 0.0
        && let Some(last) = spec.dims.last()
    {
        let h = minutely_event::id_hash(&format!("missing {} {i}", spec.seed));
        if (h >> 64) as f64 / 2f64.powi(64) < spec.missing_fraction {
            dims.remove(&last.name);
        }
    }
    let event = Event { time: EventTime(time), id: Some(format!("g{}-{i}", spec.seed)), dims };
    if d.duplicate && !d.late {
        out.extend([Payload::Event(event.clone())]);
    }
    out.extend([Payload::Event(event)]);
    if d.malformed {
        out.extend([Payload::Malformed(format!("{{\"id\":\"bad-{i}\",\"time_ms\":\"not a time\"}}").into_bytes())]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> GenSpec {
        GenSpec {
            seed: 3,
            start: EventTime(1_471_798_800_000),
            spacing: Spacing::Span(180_000),
            dims: vec!["country=12:zipf".parse().unwrap(), "device=3".parse().unwrap()],
            jitter_ms: 5_000,
            late_fraction: 0.05,
            late_by_ms: 300_000,
            duplicate_fraction: 0.1,
            malformed_fraction: 0.02,
            missing_fraction: 0.0,
        }
    }

    #[test]
    fn the_stream_is_the_strategys_value_for_the_seed() {
        // What `stream` draws one at a time is what the proptest strategy draws for the seed:
        // the snapshots of generated scenarios hold at any count.
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&spec().seed.to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
        let mut runner = TestRunner::new_with_rng(Config::default(), rng);
        let whole = strategy(spec(), 3000).new_tree(&mut runner).unwrap().current();
        assert_eq!(whole.len(), generate(&spec(), 3000).len());
        assert_eq!(whole, generate(&spec(), 3000));
    }

    #[test]
    fn drawn_without_value_trees_the_events_are_the_strategys() {
        // `stream` draws without proptest's value trees; the strategy with them. Specs with
        // no dimension, three, and fractions at their ends.
        let specs = [
            GenSpec { dims: vec![], ..spec() },
            GenSpec {
                dims: vec!["a=5".parse().unwrap(), "b=7:zipf:1.5".parse().unwrap(), "#c=2".parse().unwrap()],
                ..spec()
            },
            GenSpec { late_fraction: 1.0, duplicate_fraction: 0.0, malformed_fraction: 1.0, seed: 77, ..spec() },
            GenSpec { late_fraction: 0.0, duplicate_fraction: 1.0, malformed_fraction: 0.0, seed: u64::MAX, ..spec() },
        ];
        for spec in specs {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&spec.seed.to_le_bytes());
            let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
            let mut runner = TestRunner::new_with_rng(Config::default(), rng);
            let whole = strategy(spec.clone(), 500).new_tree(&mut runner).unwrap().current();
            assert_eq!(whole, generate(&spec, 500), "{spec:?}");
        }
    }

    #[test]
    fn an_open_ended_stream_begins_with_the_counted_one() {
        let spec = GenSpec { spacing: Spacing::Every(2.5), ..spec() };
        let counted: Vec<(usize, Payload)> = indexed(&spec, Some(500)).collect();
        let open: Vec<(usize, Payload)> = indexed(&spec, None).take(counted.len()).collect();
        assert_eq!(open, counted);
        assert_eq!(counted.last().unwrap().0, 499);
        let Some((_, Payload::Event(e))) = counted.iter().find(|(i, _)| *i == 400) else { panic!("event 400") };
        // 400 * 2.5 ms, moved back by at most the jitter, and by late_by when late.
        let on_time = spec.start.0 + 1000;
        assert!(e.time.0 <= on_time && (e.time.0 > on_time - 5_001 || e.time.0 <= on_time - 300_000), "{e:?}");
    }

    /// A diurnal day: events in order, spread over the whole span, the hour of the peak holding
    /// `1 / low` times the events of the hour twelve hours away, and the mean hour between them.
    #[test]
    fn a_diurnal_day_is_busiest_at_its_peak() {
        let (hour, n) = (3_600_000, 24_000);
        let spacing = Spacing::Diurnal { span_ms: 24 * hour, peak_ms: 14 * hour + hour / 2, low: 0.2 };
        let start = EventTime(0);
        let times: Vec<i64> = (0..n).map(|i| spacing.slot(start, i, Some(n))).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "in order");
        assert!(times[0] == 0 && times[n - 1] < 24 * hour && times[n - 1] > 23 * hour);
        let in_hour = |h: i64| times.iter().filter(|t| **t / hour == h).count() as f64;
        let (peak, trough) = (in_hour(14), in_hour(2));
        // The density's means over those hours: 0.2 + 0.8 · (1 + cos)/2 averaged over ±30 minutes.
        let ratio = peak / trough;
        assert!((4.8..5.2).contains(&ratio), "peak {peak}, trough {trough}");
        assert!((in_hour(8) - n as f64 / 24.0).abs() < n as f64 / 24.0 * 0.05, "hour 8: {}", in_hour(8));
    }

    #[test]
    fn a_seed_fixes_the_stream_and_fractions_hold() {
        let a = generate(&spec(), 2000);
        assert_eq!(a, generate(&spec(), 2000));
        assert_ne!(a, generate(&GenSpec { seed: 4, ..spec() }, 2000));
        let events: Vec<&Event> =
            a.iter().filter_map(|i| if let Payload::Event(e) = i { Some(e) } else { None }).collect();
        let malformed = a.len() - events.len();
        let distinct: std::collections::BTreeSet<_> = events.iter().map(|e| e.id.clone()).collect();
        assert_eq!(distinct.len(), 2000);
        let dups = events.len() - 2000;
        assert!((120..280).contains(&dups), "{dups} duplicates of 2000 at 10 % (of on-time events)");
        assert!((15..70).contains(&malformed), "{malformed} malformed at 2 %");
        // Zipf: the first country is the most frequent.
        let c1 = events.iter().filter(|e| e.dims["country"] == "c1").count();
        let c12 = events.iter().filter(|e| e.dims["country"] == "c12").count();
        assert!(c1 > 4 * c12, "c1 {c1}, c12 {c12}");
    }

    #[test]
    fn numeric_dimensions_and_missing_fields_leave_the_other_draws_alone() {
        let plain = generate(&spec(), 1000);
        let spec = GenSpec {
            dims: vec!["country=12:zipf".parse().unwrap(), "#device=3".parse().unwrap()],
            missing_fraction: 0.1,
            ..spec()
        };
        let varied = generate(&spec, 1000);
        assert_eq!(plain.len(), varied.len(), "the same draws: the same duplicates and malformed records");
        let (mut missing, mut numeric) = (0, 0);
        for (a, b) in plain.iter().zip(&varied) {
            let (Payload::Event(a), Payload::Event(b)) = (a, b) else { continue };
            assert_eq!((a.time, &a.id, &a.dims["country"]), (b.time, &b.id, &b.dims["country"]));
            match b.dims.get("device") {
                None => missing += 1,
                Some(d) => {
                    assert_eq!(format!("d{d}"), a.dims["device"]);
                    numeric += 1;
                }
            }
        }
        assert!((60..150).contains(&missing), "{missing} of about 1,050 events lack the device");
        assert!(numeric > 800);
        assert!(GenSpec { missing_fraction: 1.5, ..spec.clone() }.check().is_err());
    }
}
