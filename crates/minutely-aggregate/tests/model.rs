//! The windowed aggregator against a plain counting model, over generated streams with
//! out-of-order events, late events, idle gaps and ticks.

use std::collections::BTreeMap;

use minutely_aggregate::{EventTime, Minute, Placement, ProcessingTime, WindowConfig, WindowCount, Windows};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// An event `offset_ms` after (or before, if negative) the stream's base time, after a
    /// processing-time pause of `pause_ms`.
    Event { offset_ms: i64, key: u8, pause_ms: u64 },
    /// A tick after a pause, with no event.
    Tick { pause_ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (-300_000i64..900_000, 0u8..4, 0u64..3_000)
            .prop_map(|(offset_ms, key, pause_ms)| Op::Event { offset_ms, key, pause_ms }),
        1 => (0u64..10_000).prop_map(|pause_ms| Op::Tick { pause_ms }),
    ]
}

fn config() -> impl Strategy<Value = WindowConfig> {
    (0u64..180_000, proptest::option::of(500u64..8_000))
        .prop_map(|(allowed_lateness_ms, idle_timeout_ms)| WindowConfig { allowed_lateness_ms, idle_timeout_ms })
}

/// What the aggregator must produce, computed the plain way: total counts per (minute, key), and
/// which events are late. An event is late when its minute is before the bound set by the
/// watermark (largest earlier event time minus the lateness) or by an idle gap (the largest
/// minute seen before a processing-time gap of at least the timeout, plus one).
struct Model {
    totals: BTreeMap<(Minute, u8), u64>,
    on_time: BTreeMap<(Minute, u8), u64>,
    late: BTreeMap<(Minute, u8), u64>,
}

fn model(base: i64, cfg: WindowConfig, ops: &[Op]) -> Model {
    let mut m = Model { totals: BTreeMap::new(), on_time: BTreeMap::new(), late: BTreeMap::new() };
    let mut now = 0u64;
    let mut last_arrival: Option<u64> = None;
    let mut max_time: Option<i64> = None;
    let mut bound: Option<i64> = None;
    for op in ops {
        match *op {
            Op::Tick { pause_ms } => now += pause_ms,
            Op::Event { offset_ms, key, pause_ms } => {
                now += pause_ms;
                let time = base + offset_ms;
                let minute = time.div_euclid(60_000);
                if let (Some(timeout), Some(last), Some(max)) = (cfg.idle_timeout_ms, last_arrival, max_time)
                    && now - last >= timeout
                {
                    bound = bound.max(Some(max.div_euclid(60_000) + 1));
                }
                let is_late = bound.is_some_and(|b| minute < b);
                let k = (Minute(minute), key);
                *m.totals.entry(k).or_default() += 1;
                *if is_late { &mut m.late } else { &mut m.on_time }.entry(k).or_default() += 1;
                last_arrival = Some(now);
                let max = max_time.map_or(time, |x| x.max(time));
                max_time = Some(max);
                bound = bound.max(Some((max - cfg.allowed_lateness_ms as i64).div_euclid(60_000)));
            }
        }
    }
    m
}

/// Applies one operation at processing time `now` (advanced by its pause); an event's placement.
fn apply(w: &mut Windows<u8>, base: i64, op: &Op, now: &mut u64) -> Option<Placement> {
    match *op {
        Op::Tick { pause_ms } => {
            *now += pause_ms;
            w.tick(ProcessingTime(*now));
            None
        }
        Op::Event { offset_ms, key, pause_ms } => {
            *now += pause_ms;
            Some(w.record(EventTime(base + offset_ms), key, ProcessingTime(*now)))
        }
    }
}

/// Runs the aggregator; `drain_every_op` decides whether output is taken after each operation or
/// only at the end (the content must not depend on it).
fn run(base: i64, cfg: WindowConfig, ops: &[Op], drain_every_op: bool) -> (Vec<WindowCount<u8>>, Vec<Placement>) {
    let mut w = Windows::new(cfg);
    let mut out = Vec::new();
    let mut placements = Vec::new();
    let mut now = 0u64;
    for op in ops {
        placements.extend(apply(&mut w, base, op, &mut now));
        if drain_every_op {
            // Everything drained is closed at the moment it is drained.
            for c in w.drain_ready() {
                out.push(c);
            }
            for (i, c) in out.iter().enumerate() {
                assert!(w.is_closed(c.minute), "output {i} for {:?} while its window is open", c.minute);
            }
            // Open windows are all at or after the bound.
            assert!(w.open_minutes().all(|m| !w.is_closed(m)));
        }
    }
    w.close_all();
    out.extend(w.drain_ready());
    assert_eq!(w.open_windows(), 0);
    assert_eq!(w.pending_late_events(), 0);
    (out, placements)
}

fn sum(out: &[WindowCount<u8>], late: Option<bool>) -> BTreeMap<(Minute, u8), u64> {
    let mut m = BTreeMap::new();
    for c in out.iter().filter(|c| late.is_none_or(|l| c.late == l)) {
        assert!(c.count > 0, "an emitted count is never zero");
        *m.entry((c.minute, c.key)).or_default() += c.count;
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn windows_count_every_event_exactly_once(
        base in -10_000_000_000_000i64..10_000_000_000_000,
        cfg in config(),
        ops in proptest::collection::vec(op(), 0..300),
    ) {
        let expected = model(base, cfg, &ops);
        let (out, placements) = run(base, cfg, &ops, true);

        // On-time plus late equals the plain count, key by key and minute by minute.
        prop_assert_eq!(sum(&out, None), expected.totals);
        // The split between on-time and late is the one the watermark and idle rules define.
        prop_assert_eq!(sum(&out, Some(false)), expected.on_time);
        prop_assert_eq!(&sum(&out, Some(true)), &expected.late);
        prop_assert_eq!(
            placements.iter().filter(|p| **p == Placement::Late).count() as u64,
            expected.late.values().sum::<u64>()
        );
        // A window closes once: at most one on-time count per (minute, key).
        let mut seen = std::collections::BTreeSet::new();
        for c in out.iter().filter(|c| !c.late) {
            prop_assert!(seen.insert((c.minute, c.key)), "window {:?}/{} emitted twice", c.minute, c.key);
        }
        // On-time windows leave in minute order.
        let minutes: Vec<_> = out.iter().filter(|c| !c.late).map(|c| c.minute).collect();
        prop_assert!(minutes.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn output_does_not_depend_on_when_it_is_drained(
        base in -1_000_000_000_000i64..1_000_000_000_000,
        cfg in config(),
        ops in proptest::collection::vec(op(), 0..200),
    ) {
        let (every, _) = run(base, cfg, &ops, true);
        let (at_end, _) = run(base, cfg, &ops, false);
        prop_assert_eq!(every, at_end);
    }
}

/// Runs the aggregator, stopping after `cut` operations: drains, snapshots, and continues in a
/// restored aggregator (as a consumer does across a restart).
fn run_with_restart(base: i64, cfg: WindowConfig, ops: &[Op], cut: usize) -> Vec<WindowCount<u8>> {
    let mut w = Windows::new(cfg);
    let mut out = Vec::new();
    let mut now = 0u64;
    for (i, op) in ops.iter().enumerate() {
        if i == cut {
            out.extend(w.drain_ready());
            let state = w.snapshot();
            w = Windows::restore(cfg, state.clone(), ProcessingTime(now));
            assert_same_state(&w.snapshot(), &state);
        }
        apply(&mut w, base, op, &mut now);
    }
    w.close_all();
    out.extend(w.drain_ready());
    out
}

fn assert_same_state(a: &minutely_aggregate::WindowsState<u8>, b: &minutely_aggregate::WindowsState<u8>) {
    assert_eq!(a, b, "a restored aggregator snapshots to the state it was restored from");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Without an idle timeout, closing depends on event times only: a restart from a snapshot
    /// gives exactly the output of an uninterrupted run.
    #[test]
    fn a_restart_from_a_snapshot_changes_nothing_without_idle_timeout(
        base in -1_000_000_000_000i64..1_000_000_000_000,
        lateness in 0u64..180_000,
        ops in proptest::collection::vec(op(), 0..200),
        cut in 0usize..200,
    ) {
        let cfg = WindowConfig { allowed_lateness_ms: lateness, idle_timeout_ms: None };
        let (straight, _) = run(base, cfg, &ops, true);
        prop_assert_eq!(run_with_restart(base, cfg, &ops, cut), straight);
    }

    /// With an idle timeout, a restart may move the on-time/late split, never the totals.
    #[test]
    fn a_restart_from_a_snapshot_keeps_totals(
        base in -1_000_000_000_000i64..1_000_000_000_000,
        cfg in config(),
        ops in proptest::collection::vec(op(), 0..200),
        cut in 0usize..200,
    ) {
        let expected = model(base, cfg, &ops);
        prop_assert_eq!(sum(&run_with_restart(base, cfg, &ops, cut), None), expected.totals);
    }
}

/// Runs the aggregator as the consumer counts a block: events arriving at one processing time
/// while [`Windows::quiet_below`] says they close nothing are summed per (minute, key) first,
/// then recorded with [`Windows::record_quiet`]; any other event is recorded alone.
fn run_tallied(
    base: i64,
    cfg: WindowConfig,
    ops: &[Op],
) -> (Vec<WindowCount<u8>>, minutely_aggregate::WindowsState<u8>) {
    type Tally = BTreeMap<(Minute, u8), (EventTime, u64)>;
    fn flush(w: &mut Windows<u8>, tally: &mut Tally, now: u64) {
        for ((minute, key), (latest, n)) in std::mem::take(tally) {
            w.record_quiet(minute, key, n, latest, ProcessingTime(now));
        }
    }
    let (mut w, mut tally, mut now) = (Windows::new(cfg), Tally::new(), 0u64);
    for op in ops {
        let (Op::Tick { pause_ms } | Op::Event { pause_ms, .. }) = *op;
        if pause_ms > 0 || matches!(op, Op::Tick { .. }) {
            flush(&mut w, &mut tally, now);
            now += pause_ms;
            w.tick(ProcessingTime(now));
        }
        let Op::Event { offset_ms, key, .. } = *op else { continue };
        let time = EventTime(base + offset_ms);
        if w.quiet_below().is_some_and(|q| time < q) {
            let (latest, n) = tally.entry((time.minute(), key)).or_insert((time, 0));
            *latest = (*latest).max(time);
            *n += 1;
        } else {
            flush(&mut w, &mut tally, now);
            w.record(time, key, ProcessingTime(now));
        }
    }
    flush(&mut w, &mut tally, now);
    let state = w.snapshot();
    w.close_all();
    (w.drain_ready().collect(), state)
}

/// Events mostly at the same processing time (a block's), now and then after a pause.
fn block_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (-300_000i64..400_000, 0u8..4).prop_map(|(offset_ms, key)| Op::Event { offset_ms, key, pause_ms: 0 }),
        2 => (-300_000i64..400_000, 0u8..4, 1u64..9_000)
            .prop_map(|(offset_ms, key, pause_ms)| Op::Event { offset_ms, key, pause_ms }),
        1 => (0u64..9_000).prop_map(|pause_ms| Op::Tick { pause_ms }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Events that close no window may be summed and recorded together: the output, the state
    /// and the stats are those of recording them one by one (an idle timeout of 0 included).
    #[test]
    fn events_recorded_together_while_quiet_change_nothing(
        base in -1_000_000_000_000i64..1_000_000_000_000,
        lateness in prop_oneof![Just(0u64), 0u64..180_000],
        timeout in proptest::option::of(prop_oneof![Just(0u64), 1u64..8_000]),
        ops in proptest::collection::vec(block_op(), 0..300),
    ) {
        let cfg = WindowConfig { allowed_lateness_ms: lateness, idle_timeout_ms: timeout };
        let (mut w, mut now) = (Windows::new(cfg), 0u64);
        for op in &ops {
            apply(&mut w, base, op, &mut now);
        }
        let one_by_one_state = w.snapshot();
        w.close_all();
        let one_by_one: Vec<_> = w.drain_ready().collect();
        let (tallied, tallied_state) = run_tallied(base, cfg, &ops);
        prop_assert_eq!(tallied_state, one_by_one_state);
        prop_assert_eq!(tallied, one_by_one);
    }
}
