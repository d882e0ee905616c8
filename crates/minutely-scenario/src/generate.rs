//! Generated event streams, from proptest strategies: a scenario's seed fixes the stream, and
//! the property test draws many streams from the same strategy, with shrinking.

use std::collections::BTreeMap;

use minutely_aggregate::EventTime;
use minutely_event::Event;
use minutely_producer::source::{DimSpec, Spread};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// What a generated stream looks like.
#[derive(Clone, Debug, PartialEq)]
pub struct GenSpec {
    /// Names the ids (`g<seed>-<n>`) and, for [`generate`], seeds the stream.
    pub seed: u64,
    pub start: EventTime,
    /// Event times spread evenly over this many milliseconds.
    pub span_ms: i64,
    pub dims: Vec<DimSpec>,
    /// Each event time moves back by up to this much (out of order).
    pub jitter_ms: i64,
    pub late_fraction: f64,
    pub late_by_ms: i64,
    /// Each on-time event is sent twice with this probability, right after itself (a retry).
    pub duplicate_fraction: f64,
    /// An undecodable record follows an event with this probability.
    pub malformed_fraction: f64,
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

/// Streams of `count` events (a range for property tests, one value for a scenario).
pub fn strategy(
    spec: GenSpec,
    count: impl Into<proptest::collection::SizeRange>,
) -> impl Strategy<Value = Vec<Payload>> {
    let cdfs: Vec<Vec<f64>> = spec.dims.iter().map(cdf).collect();
    proptest::collection::vec(draw(&spec), count).prop_map(move |draws| {
        let mut out = Vec::with_capacity(draws.len() + draws.len() / 8);
        for (i, d) in draws.iter().enumerate() {
            build(&spec, &cdfs, i, draws.len(), d, &mut out);
        }
        out
    })
}

/// The stream of a scenario, one item at a time, in constant memory: the items of the
/// strategy's value for the seed (no shrinking), drawn the way the strategy draws them.
pub fn stream(spec: &GenSpec, count: usize) -> impl Iterator<Item = Payload> + use<> {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&spec.seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    // `collection::vec` first draws its length (one value here), then each element in turn.
    let _length: usize = proptest::num::sample_uniform_incl(&mut runner, count, count);
    let (spec, draw) = (spec.clone(), draw(spec));
    let cdfs: Vec<Vec<f64>> = spec.dims.iter().map(cdf).collect();
    let mut pending = std::collections::VecDeque::new();
    let mut i = 0;
    std::iter::from_fn(move || {
        while pending.is_empty() && i < count {
            let d = draw.new_tree(&mut runner).expect("the strategy always generates").current();
            build(&spec, &cdfs, i, count, &d, &mut pending);
            i += 1;
        }
        pending.pop_front()
    })
}

/// The stream of a scenario, whole (for tests; runs use [`stream`]).
#[cfg(test)]
fn generate(spec: &GenSpec, count: usize) -> Vec<Payload> {
    stream(spec, count).collect()
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
fn build(spec: &GenSpec, cdfs: &[Vec<f64>], i: usize, n: usize, d: &Draw, out: &mut impl Extend<Payload>) {
    let slot = spec.start.0 + spec.span_ms * i as i64 / n.max(1) as i64;
    let mut time = slot - (d.jitter * spec.jitter_ms as f64) as i64;
    if d.late {
        time -= spec.late_by_ms;
    }
    let mut dims = BTreeMap::new();
    for ((dim, cdf), u) in spec.dims.iter().zip(cdfs).zip(&d.picks) {
        let v = cdf.iter().position(|c| u < c).unwrap_or(cdf.len() - 1) + 1;
        dims.insert(dim.name.clone(), format!("{}{v}", &dim.name[..dim.name.len().min(1)]));
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
            span_ms: 180_000,
            dims: vec!["country=12:zipf".parse().unwrap(), "device=3".parse().unwrap()],
            jitter_ms: 5_000,
            late_fraction: 0.05,
            late_by_ms: 300_000,
            duplicate_fraction: 0.1,
            malformed_fraction: 0.02,
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
}
