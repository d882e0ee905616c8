//! A day of events through the window core with no clock: processing time is a number the test
//! passes in, so a day of event time, with its idle timeouts, replays as fast as the loop runs.

use minutely_aggregate::{EventTime, Minute, Placement, ProcessingTime, WindowConfig, Windows};

#[test]
fn a_day_of_events_closes_every_minute_once_with_its_count() {
    // 2016-08-21T00:00:00Z, one event a second for a day, keys 0..3 in turn; processing time
    // follows event time, so the watermark closes each minute 30 s after it ends.
    let start = 1_471_737_600_000i64;
    let config = WindowConfig { allowed_lateness_ms: 30_000, idle_timeout_ms: Some(60_000) };
    let mut windows: Windows<u8> = Windows::new(config);
    let mut closed = Vec::new();
    for s in 0..86_400i64 {
        let now = ProcessingTime(s as u64 * 1000);
        let placed = windows.record(EventTime(start + s * 1000), (s % 3) as u8, now);
        assert_eq!(placed, Placement::OnTime, "second {s}");
        closed.extend(windows.drain_ready());
    }
    // The idle timeout closes the last minutes a minute after the last event: no close_all.
    windows.tick(ProcessingTime(86_400_000 + 61_000));
    closed.extend(windows.drain_ready());
    assert_eq!(windows.open_windows(), 0);
    assert_eq!(closed.len(), 1440 * 3, "a count per minute and key");
    let first = EventTime(start).minute();
    for (i, c) in closed.iter().enumerate() {
        assert_eq!(c.minute, Minute(first.0 + (i / 3) as i64), "closed in order of minute");
        assert_eq!((c.count, c.late), (20, false), "{c:?}");
    }
}
