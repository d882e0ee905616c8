//! The pure core of minutely: event time, minutes, and per-minute counts over event-time windows.
//!
//! **Architecture invariant:** this crate does no IO, reads no clock, spawns no thread and knows
//! nothing of Kinesis, S3, TSV or async runtimes. Processing time is passed in by the caller.
//! Everything it returns is a function of its inputs, so the same input gives the same output on
//! any machine at any time.

pub mod time;
pub mod window;

pub use time::{EventTime, Minute, MinuteLabel};
pub use window::{Placement, ProcessingTime, WindowConfig, WindowCount, WindowStats, Windows, WindowsState};

#[cfg(test)]
mod tests {
    use super::*;

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
