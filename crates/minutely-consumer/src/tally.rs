//! A decoded block's events counted per minute and block key, then recorded in the windows
//! once per minute and key rather than once per event.
//!
//! Between two events that move the watermark past a minute, the windows' state does not
//! depend on the order of the events ([`minutely_aggregate::Windows::quiet_below`]): a
//! [`Tally`] counts such a stretch in a dense table (an array index per event, no map), and
//! [`minutely_aggregate::Windows::record_quiet`] records each (minute, key) of it at once.

use minutely_aggregate::{EventTime, Minute};

/// The most minutes one tally holds before it must be recorded (a stretch of events spread
/// over many minutes, late ones, is recorded in parts).
const MAX_MINUTES: usize = 8;

/// Counts per minute and block key (a [`minutely_event::keys::KeyTable`] number).
#[derive(Debug)]
pub(crate) struct Tally {
    keys: usize,
    /// The minutes in use: each one's latest event time and its count per key.
    minutes: Vec<(Minute, EventTime, Vec<u64>)>,
    /// The minute the last event went to (the next one is most likely the same).
    last: usize,
}

impl Tally {
    /// A tally for keys numbered below `keys`.
    pub(crate) fn new(keys: usize) -> Tally {
        Tally { keys, minutes: Vec::new(), last: 0 }
    }

    /// Counts one event of `key` at `time`; `false` (and nothing counted) when the tally holds
    /// as many minutes as it may and `time` is in none of them: record it, then add again.
    pub(crate) fn add(&mut self, time: EventTime, key: u32) -> bool {
        let minute = time.minute();
        if self.minutes.get(self.last).is_none_or(|m| m.0 != minute) {
            match self.minutes.iter().position(|m| m.0 == minute) {
                Some(i) => self.last = i,
                None if self.minutes.len() == MAX_MINUTES => return false,
                None => {
                    self.minutes.push((minute, time, vec![0; self.keys]));
                    self.last = self.minutes.len() - 1;
                }
            }
        }
        let m = &mut self.minutes[self.last];
        m.1 = m.1.max(time);
        m.2[key as usize] += 1;
        true
    }

    /// Empties the tally: each (minute, latest time, key, count) with a count, minute by
    /// minute, keys in order.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (Minute, EventTime, u32, u64)> + '_ {
        self.last = 0;
        self.minutes.drain(..).flat_map(|(minute, latest, counts)| {
            counts.into_iter().enumerate().filter(|(_, n)| *n > 0).map(move |(k, n)| (minute, latest, k as u32, n))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use minutely_aggregate::{ProcessingTime, WindowConfig};
    use minutely_event::RecordDecoder;

    use super::*;
    use crate::aggregator::{Aggregator, Content, Settings};

    /// Lines in order and out of it, late ones, duplicates (some far apart), bad ones.
    fn input() -> Vec<u8> {
        let mut input = Vec::new();
        for i in 0..30_000i64 {
            if i % 4_999 == 0 {
                input.extend_from_slice(b"{\"id\": oops\n");
                continue;
            }
            // A duplicate is an earlier line again: the one before, or one 500 lines back.
            let j = if i % 97 == 5 {
                i - 1
            } else if i % 389 == 11 && i > 500 {
                i - 500
            } else {
                i
            };
            let late = [0, 0, 0, 0, 0, 0, 0, 90_000, 400_000, 3][(j % 10) as usize];
            let (time, country) = (1_471_798_800_000 + j * 20 - late, (j * 7) % 23);
            writeln!(input, r#"{{"id":"e{j}","time_ms":{time},"dims":{{"country":"c{country}"}}}}"#).unwrap();
        }
        input
    }

    /// Where the line at byte `at` ends, after its newline.
    fn cut(input: &[u8], at: usize) -> usize {
        at + input[at..].iter().position(|b| *b == b'\n').unwrap() + 1
    }

    /// Each count as (minute, key, count, late).
    type Counts = Vec<(String, Vec<String>, u64, bool)>;

    /// Every count and counter of `agg` once closed.
    fn finish(mut agg: Aggregator) -> (Counts, crate::aggregator::Counters) {
        agg.close_all();
        let mut counts = Vec::new();
        for o in agg.take_objects() {
            if let Content::Counts { lines } = o.content {
                counts.extend(lines.into_iter().map(|c| (c.minute, c.key, c.count, c.late)));
            }
        }
        (counts, agg.counters())
    }

    #[test]
    fn a_block_counted_through_tallies_counts_as_each_event_alone() {
        let input = input();
        for (lateness, timeout, max_ids) in
            [(5_000, None, 1_000_000), (0, Some(0), 1_000_000), (60_000, Some(1), 3_000)]
        {
            let settings = Settings {
                decoder: Arc::new(RecordDecoder::minutely(&["country".into()])),
                windows: WindowConfig { allowed_lateness_ms: lateness, idle_timeout_ms: timeout },
                max_dedup_ids: max_ids,
            };
            let mut alone = Aggregator::new("w", settings.clone());
            for (i, line) in input.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate() {
                alone.record(line, ProcessingTime(7), || i.to_string());
            }
            let mut tallied = Aggregator::new("w", settings);
            // Three blocks, cut after a line.
            let (a, b) = (cut(&input, input.len() / 3), cut(&input, 2 * input.len() / 3));
            for block in [&input[..a], &input[a..b], &input[b..]] {
                tallied.lines(block, 1, ProcessingTime(7));
            }
            let (alone, tallied) = (finish(alone), finish(tallied));
            assert_eq!(tallied, alone, "lateness {lateness}, timeout {timeout:?}, ids {max_ids}");
            assert!(alone.1.late > 1_000 && alone.1.duplicates > 100 && alone.1.rejected > 0, "{:?}", alone.1);
        }
    }

    #[test]
    fn counts_per_minute_and_key_and_keeps_each_minutes_latest_time() {
        let mut t = Tally::new(3);
        for (ms, key) in [(60_000, 2), (61_000, 0), (119_999, 2), (125_000, 1), (60_500, 2)] {
            assert!(t.add(EventTime(ms), key));
        }
        let got: Vec<_> = t.drain().map(|(m, latest, k, n)| (m.0, latest.0, k, n)).collect();
        assert_eq!(got, vec![(1, 119_999, 0, 1), (1, 119_999, 2, 3), (2, 125_000, 1, 1)]);
        assert_eq!(t.drain().count(), 0);
    }

    #[test]
    fn a_full_tally_refuses_a_new_minute_and_takes_it_once_drained() {
        let mut t = Tally::new(1);
        for m in 0..MAX_MINUTES as i64 {
            assert!(t.add(EventTime(m * 60_000), 0));
        }
        assert!(!t.add(EventTime(-1), 0), "a ninth minute");
        assert!(t.add(EventTime(0), 0), "a minute it holds");
        assert_eq!(t.drain().map(|e| e.3).sum::<u64>(), MAX_MINUTES as u64 + 1);
        assert!(t.add(EventTime(-1), 0));
    }
}
