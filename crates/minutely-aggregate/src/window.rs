//! Event-time tumbling windows of one minute, closed by a watermark or an idle timeout.
//!
//! [`Windows`] is a synchronous state machine in the style of Vector's aggregate transform: the
//! caller [`record`](Windows::record)s events with the current processing time, and takes the
//! closed windows out with [`drain_ready`](Windows::drain_ready). It never reads a clock; the
//! processing time is whatever the caller passes in, so tests replay a day in microseconds.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use crate::time::{EventTime, MS_PER_MINUTE, Minute};

type CountMap<K> = HashMap<K, u64, foldhash::fast::FixedState>;

/// A point on the caller's monotonic processing clock, in milliseconds. Only differences matter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ProcessingTime(pub u64);

/// When windows close.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WindowConfig {
    /// How far the watermark trails the largest event time seen, in milliseconds.
    pub allowed_lateness_ms: u64,
    /// Close every open window when no event arrived for this long (processing time, ms): the
    /// original design's "group until timeout". Also releases held late counts this old.
    pub idle_timeout_ms: Option<u64>,
}

/// One count leaving the aggregator: `count` events of `key` in `minute`.
///
/// `late == false`: the count of the window when it closed (at most one per minute and key).
/// `late == true`: events that arrived after their window had closed; add them to the on-time
/// count. Across both kinds, every recorded event is counted exactly once.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowCount<K> {
    pub minute: Minute,
    pub key: K,
    pub count: u64,
    pub late: bool,
}

/// Whether a recorded event went into an open window or was held as a late count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    OnTime,
    Late,
}

/// Counters over the life of a [`Windows`] (kept in the consumer's checkpoints).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct WindowStats {
    pub on_time_events: u64,
    pub late_events: u64,
    pub windows_closed_by_watermark: u64,
    pub windows_closed_by_idle: u64,
    pub windows_closed_at_end: u64,
}

/// Per-minute, per-key counts over event-time windows.
///
/// **Invariant:** a window `m` is open until `closed_before > m`; `closed_before` only grows. It
/// grows when the watermark (largest event time minus the allowed lateness) reaches the end of a
/// window, when the idle timeout passes, or on [`close_all`](Windows::close_all).
#[derive(Debug)]
pub struct Windows<K> {
    config: WindowConfig,
    open: BTreeMap<Minute, CountMap<K>>,
    late: BTreeMap<Minute, CountMap<K>>,
    late_since: Option<ProcessingTime>,
    max_event_time: Option<EventTime>,
    closed_before: Option<Minute>,
    last_arrival: Option<ProcessingTime>,
    ready: Vec<WindowCount<K>>,
    stats: WindowStats,
}

/// What [`Windows::snapshot`] saves and [`Windows::restore`] loads: plain data, minutes and keys
/// in order, for the caller to serialise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowsState<K> {
    pub open: Vec<(Minute, Vec<(K, u64)>)>,
    pub late: Vec<(Minute, Vec<(K, u64)>)>,
    pub max_event_time: Option<EventTime>,
    pub closed_before: Option<Minute>,
    pub stats: WindowStats,
}

#[derive(Clone, Copy)]
enum CloseReason {
    Watermark,
    Idle,
    End,
}

impl<K: Hash + Eq + Ord + Clone> Windows<K> {
    pub fn new(config: WindowConfig) -> Self {
        Windows {
            config,
            open: BTreeMap::new(),
            late: BTreeMap::new(),
            late_since: None,
            max_event_time: None,
            closed_before: None,
            last_arrival: None,
            ready: Vec::new(),
            stats: WindowStats::default(),
        }
    }

    pub fn config(&self) -> WindowConfig {
        self.config
    }

    /// Counts one event of `key` at event time `time`, arriving at processing time `now`.
    pub fn record(&mut self, time: EventTime, key: K, now: ProcessingTime) -> Placement {
        self.record_n(time, key, 1, now)
    }

    /// Counts `n` events of `key` at event time `time`, arriving at processing time `now`.
    pub fn record_n(&mut self, time: EventTime, key: K, n: u64, now: ProcessingTime) -> Placement {
        self.tick(now);
        let placement = self.place(time.minute(), key, n, now);
        self.last_arrival = Some(now);
        let max = self.max_event_time.map_or(time, |m| m.max(time));
        self.max_event_time = Some(max);
        let watermark = max.0.saturating_sub_unsigned(self.config.allowed_lateness_ms);
        self.close_before(EventTime(watermark).minute(), CloseReason::Watermark);
        placement
    }

    /// Event times below this one close no window when recorded: the watermark they would
    /// set stays before the end of the first open minute. Once [`tick`](Windows::tick) ran at a
    /// processing time, events below it recorded at that same time change nothing but their
    /// own counts, whatever their order, so they may be counted first and recorded together
    /// ([`record_quiet`](Windows::record_quiet)). `None`: the next event may close windows (no
    /// window closed yet), or every event may (an idle timeout of 0 closes them at each one).
    pub fn quiet_below(&self) -> Option<EventTime> {
        if self.config.idle_timeout_ms == Some(0) {
            return None;
        }
        // The watermark `t - lateness` stays before the end of minute `closed_before`.
        let end = self.closed_before?.0.checked_add(1)?.checked_mul(MS_PER_MINUTE)?;
        Some(EventTime(end.checked_add_unsigned(self.config.allowed_lateness_ms).unwrap_or(i64::MAX)))
    }

    /// Counts `n` events of `key` in `minute`, whose latest time is `latest`, arriving at `now`:
    /// the same as [`record`](Windows::record)ing each, when every one of them is below
    /// [`quiet_below`](Windows::quiet_below) and [`tick`](Windows::tick) (or a record) already
    /// ran at `now`.
    pub fn record_quiet(
        &mut self,
        minute: Minute,
        key: K,
        n: u64,
        latest: EventTime,
        now: ProcessingTime,
    ) -> Placement {
        debug_assert!(self.quiet_below().is_some_and(|q| latest < q) && latest.minute() == minute);
        debug_assert!(self.last_arrival.is_none_or(|a| a <= now));
        let placement = self.place(minute, key, n, now);
        self.last_arrival = Some(now);
        self.max_event_time = Some(self.max_event_time.map_or(latest, |m| m.max(latest)));
        placement
    }

    /// Adds `n` events of `key` to `minute`'s open window, or holds them as late counts.
    fn place(&mut self, minute: Minute, key: K, n: u64, now: ProcessingTime) -> Placement {
        if self.is_closed(minute) {
            *self.late.entry(minute).or_default().entry(key).or_default() += n;
            self.late_since.get_or_insert(now);
            self.stats.late_events += n;
            Placement::Late
        } else {
            *self.open.entry(minute).or_default().entry(key).or_default() += n;
            self.stats.on_time_events += n;
            Placement::OnTime
        }
    }

    /// Applies the idle timeout at processing time `now`. Call it when no event came for a while;
    /// [`record`](Windows::record) calls it too.
    pub fn tick(&mut self, now: ProcessingTime) {
        let Some(timeout) = self.config.idle_timeout_ms else {
            return;
        };
        let expired = |since: Option<ProcessingTime>| {
            since.is_some_and(|s| s.0.checked_add(timeout).is_some_and(|deadline| now.0 >= deadline))
        };
        if expired(self.last_arrival)
            && let Some((&last_open, _)) = self.open.last_key_value()
        {
            self.close_before(last_open.next(), CloseReason::Idle);
        }
        if expired(self.late_since) {
            self.release_late();
        }
    }

    /// Closes every open window and releases held late counts: the end of the input.
    pub fn close_all(&mut self) {
        if let Some((&last_open, _)) = self.open.last_key_value() {
            self.close_before(last_open.next(), CloseReason::End);
        }
        self.release_late();
    }

    /// Releases the late counts held so far without closing any window (for a graceful stop
    /// that keeps open windows for the next run).
    pub fn release_late(&mut self) {
        let late = std::mem::take(&mut self.late);
        self.late_since = None;
        for (minute, counts) in late {
            push_sorted(&mut self.ready, minute, counts, true);
        }
    }

    /// Takes the counts that are ready: closed windows in minute order, each after the late
    /// counts released with it. The content does not depend on how often this is called.
    pub fn drain_ready(&mut self) -> std::vec::Drain<'_, WindowCount<K>> {
        self.ready.drain(..)
    }

    /// The watermark: the largest event time seen minus the allowed lateness.
    pub fn watermark(&self) -> Option<EventTime> {
        self.max_event_time.map(|m| EventTime(m.0.saturating_sub_unsigned(self.config.allowed_lateness_ms)))
    }

    /// Windows before this minute are closed: an event for them is late.
    pub fn closed_before(&self) -> Option<Minute> {
        self.closed_before
    }

    pub fn is_closed(&self, minute: Minute) -> bool {
        self.closed_before.is_some_and(|c| minute < c)
    }

    pub fn open_windows(&self) -> usize {
        self.open.len()
    }

    /// The open minutes, oldest first.
    pub fn open_minutes(&self) -> impl Iterator<Item = Minute> + '_ {
        self.open.keys().copied()
    }

    pub fn pending_late_events(&self) -> u64 {
        self.late.values().flat_map(|c| c.values()).sum()
    }

    pub fn stats(&self) -> WindowStats {
        self.stats
    }

    /// The state to carry over a restart: open windows, held late counts, the watermark and
    /// the closed bound. Counts that are ready but not yet drained are not part of it: drain
    /// them first. Processing times are not kept (they belong to one process's clock).
    pub fn snapshot(&self) -> WindowsState<K> {
        let dump = |m: &BTreeMap<Minute, CountMap<K>>| {
            m.iter()
                .map(|(minute, counts)| {
                    let mut counts: Vec<(K, u64)> = counts.iter().map(|(k, c)| (k.clone(), *c)).collect();
                    counts.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                    (*minute, counts)
                })
                .collect()
        };
        WindowsState {
            open: dump(&self.open),
            late: dump(&self.late),
            max_event_time: self.max_event_time,
            closed_before: self.closed_before,
            stats: self.stats,
        }
    }

    /// Windows that continue from `state` at processing time `now`: idle timeouts and the age
    /// of held late counts start again from `now`.
    pub fn restore(config: WindowConfig, state: WindowsState<K>, now: ProcessingTime) -> Self {
        let load = |v: Vec<(Minute, Vec<(K, u64)>)>| -> BTreeMap<Minute, CountMap<K>> {
            v.into_iter().map(|(m, counts)| (m, counts.into_iter().collect())).collect()
        };
        let late = load(state.late);
        Windows {
            config,
            open: load(state.open),
            late_since: (!late.is_empty()).then_some(now),
            late,
            max_event_time: state.max_event_time,
            closed_before: state.closed_before,
            last_arrival: Some(now),
            ready: Vec::new(),
            stats: state.stats,
        }
    }

    fn close_before(&mut self, bound: Minute, reason: CloseReason) {
        if self.closed_before.is_some_and(|c| bound <= c) {
            return;
        }
        self.closed_before = Some(bound);
        self.release_late();
        let still_open = self.open.split_off(&bound);
        let closing = std::mem::replace(&mut self.open, still_open);
        let closed = closing.len() as u64;
        match reason {
            CloseReason::Watermark => self.stats.windows_closed_by_watermark += closed,
            CloseReason::Idle => self.stats.windows_closed_by_idle += closed,
            CloseReason::End => self.stats.windows_closed_at_end += closed,
        }
        for (minute, counts) in closing {
            push_sorted(&mut self.ready, minute, counts, false);
        }
    }
}

fn push_sorted<K: Ord>(out: &mut Vec<WindowCount<K>>, minute: Minute, counts: CountMap<K>, late: bool) {
    let start = out.len();
    out.extend(counts.into_iter().map(|(key, count)| WindowCount { minute, key, count, late }));
    out[start..].sort_unstable_by(|a, b| a.key.cmp(&b.key));
}

/// How windows close: the watermark, lateness and the idle timeout, from the outside.
#[cfg(test)]
mod closing {
    use super::*;
    use crate::{EventTime, Minute};

    fn t(minute: i64, second: i64) -> EventTime {
        EventTime(minute * 60_000 + second * 1000)
    }

    fn drain(w: &mut Windows<&'static str>) -> Vec<(i64, &'static str, u64, bool)> {
        w.drain_ready().map(|c| (c.minute.0, c.key, c.count, c.late)).collect()
    }

    const NOW: ProcessingTime = ProcessingTime(0);

    #[test]
    fn watermark_closes_a_window_when_it_passes_its_end() {
        let mut w = Windows::new(WindowConfig { allowed_lateness_ms: 10_000, idle_timeout_ms: None });
        w.record(t(0, 5), "usa", NOW);
        w.record(t(0, 50), "usa", NOW);
        w.record(t(0, 7), "de", NOW);
        w.record(t(1, 9), "usa", NOW); // watermark 0:59: minute 0 still open
        assert_eq!(drain(&mut w), vec![]);
        w.record(t(1, 10), "de", NOW); // watermark 1:00 = end of minute 0
        assert_eq!(drain(&mut w), vec![(0, "de", 1, false), (0, "usa", 2, false)]);
        assert_eq!(w.closed_before(), Some(Minute(1)));
        assert_eq!(w.open_windows(), 1);
    }

    #[test]
    fn a_late_event_is_held_and_released_with_the_next_close() {
        let mut w = Windows::new(WindowConfig::default());
        w.record(t(0, 1), "a", NOW);
        w.record(t(1, 0), "a", NOW); // closes minute 0
        assert_eq!(drain(&mut w), vec![(0, "a", 1, false)]);
        assert_eq!(w.record(t(0, 30), "a", NOW), Placement::Late);
        assert_eq!(w.record(t(0, 31), "a", NOW), Placement::Late);
        assert_eq!(w.pending_late_events(), 2);
        assert_eq!(drain(&mut w), vec![]);
        w.record(t(2, 0), "b", NOW); // closes minute 1, releases the late counts first
        assert_eq!(drain(&mut w), vec![(0, "a", 2, true), (1, "a", 1, false)]);
        w.close_all();
        assert_eq!(drain(&mut w), vec![(2, "b", 1, false)]);
        let s = w.stats();
        assert_eq!((s.on_time_events, s.late_events), (3, 2));
        assert_eq!((s.windows_closed_by_watermark, s.windows_closed_at_end), (2, 1));
    }

    #[test]
    fn idle_timeout_closes_open_windows_and_releases_old_late_counts() {
        let cfg = WindowConfig { allowed_lateness_ms: 120_000, idle_timeout_ms: Some(5_000) };
        let mut w = Windows::new(cfg);
        w.record(t(10, 0), "a", ProcessingTime(1_000));
        w.record(t(11, 0), "a", ProcessingTime(2_000));
        w.tick(ProcessingTime(6_999));
        assert_eq!(drain(&mut w), vec![]);
        w.tick(ProcessingTime(7_000));
        assert_eq!(drain(&mut w), vec![(10, "a", 1, false), (11, "a", 1, false)]);
        assert_eq!(w.closed_before(), Some(Minute(12)));
        assert_eq!(w.record(t(11, 59), "a", ProcessingTime(8_000)), Placement::Late);
        // The idle timeout also bounds how long a late count is held.
        w.tick(ProcessingTime(12_999));
        assert_eq!(drain(&mut w), vec![]);
        w.tick(ProcessingTime(13_000));
        assert_eq!(drain(&mut w), vec![(11, "a", 1, true)]);
    }

    #[test]
    fn record_applies_the_idle_timeout_before_counting() {
        let cfg = WindowConfig { allowed_lateness_ms: 600_000, idle_timeout_ms: Some(1_000) };
        let mut w = Windows::new(cfg);
        w.record(t(0, 0), "a", ProcessingTime(0));
        // No tick in between: the gap alone closes minute 0 before this event is placed.
        assert_eq!(w.record(t(0, 1), "a", ProcessingTime(1_000)), Placement::Late);
        w.close_all();
        assert_eq!(drain(&mut w), vec![(0, "a", 1, false), (0, "a", 1, true)]);
    }

    #[test]
    fn huge_lateness_and_negative_times_do_not_overflow() {
        let mut w = Windows::new(WindowConfig { allowed_lateness_ms: u64::MAX, idle_timeout_ms: Some(u64::MAX) });
        w.record(EventTime(i64::MIN + 5), "a", ProcessingTime(u64::MAX));
        w.record(EventTime(-1), "a", ProcessingTime(u64::MAX));
        assert_eq!(drain(&mut w), vec![]);
        w.close_all();
        assert_eq!(w.drain_ready().map(|c| c.count).sum::<u64>(), 2);
    }
}
