//! The time formats recorded files use, parsed from bytes without allocating.

use std::fmt;
use std::str::FromStr;

use minutely_aggregate::EventTime;
use minutely_aggregate::time::{days_from_civil, days_in_month};
use serde::{Deserialize, Serialize};

/// How a time column is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TimeFormat {
    /// Decide from the first data row that has a recognisable time, then hold to it.
    Auto,
    /// RFC 3339 / ISO 8601: `2016-08-21T17:00:12.345Z`, with `T` or a space, with or without
    /// seconds, fraction (up to 9 digits, truncated to milliseconds) and zone (`Z`, `+02:00`,
    /// `+0200`, `+02`; none means UTC).
    Rfc3339,
    /// Seconds since the Unix epoch, optionally with a fraction: `1471798812`, `1471798812.345`.
    EpochSeconds,
    /// Milliseconds since the Unix epoch: `1471798812345`.
    EpochMillis,
    /// Microseconds since the Unix epoch: `1471798812345678` (truncated to milliseconds).
    EpochMicros,
    /// Nanoseconds since the Unix epoch: `1471798812345678901` (truncated to milliseconds).
    EpochNanos,
    /// `YYYYMMDDHHMMSS`, UTC.
    Compact14,
    /// `YYYYMMDDHHMM`, UTC: the minute label itself.
    Compact12,
}

impl TimeFormat {
    pub const NAMES: &'static str =
        "auto, rfc3339, epoch_seconds, epoch_millis, epoch_micros, epoch_nanos, yyyymmddhhmmss, yyyymmddhhmm";

    pub fn name(self) -> &'static str {
        match self {
            TimeFormat::Auto => "auto",
            TimeFormat::Rfc3339 => "rfc3339",
            TimeFormat::EpochSeconds => "epoch_seconds",
            TimeFormat::EpochMillis => "epoch_millis",
            TimeFormat::EpochMicros => "epoch_micros",
            TimeFormat::EpochNanos => "epoch_nanos",
            TimeFormat::Compact14 => "yyyymmddhhmmss",
            TimeFormat::Compact12 => "yyyymmddhhmm",
        }
    }

    /// Guesses the format of one value. `None` when it looks like none of them.
    ///
    /// All digits: 12 is `YYYYMMDDHHMM`, 14 is `YYYYMMDDHHMMSS`, 13 is epoch milliseconds, 16
    /// microseconds, 19 nanoseconds, 9 to 11 (with an optional fraction) is epoch seconds. A
    /// value with `-` after four digits is RFC 3339.
    pub fn detect(value: &[u8]) -> Option<TimeFormat> {
        Self::candidate(value).filter(|f| f.parse(value).is_ok())
    }

    /// The one format `value` can be in, from its shape, before it is parsed.
    fn candidate(value: &[u8]) -> Option<TimeFormat> {
        let candidate = match value {
            [a, b, c, d, b'-', ..] if [a, b, c, d].iter().all(|x| x.is_ascii_digit()) => TimeFormat::Rfc3339,
            v if v.iter().all(u8::is_ascii_digit) => match v.len() {
                12 => TimeFormat::Compact12,
                13 => TimeFormat::EpochMillis,
                14 => TimeFormat::Compact14,
                16 => TimeFormat::EpochMicros,
                19 => TimeFormat::EpochNanos,
                9..=11 => TimeFormat::EpochSeconds,
                _ => return None,
            },
            v => {
                let int = v.iter().position(|&b| b == b'.')?;
                if (9..=11).contains(&int) && v[..int].iter().all(u8::is_ascii_digit) {
                    TimeFormat::EpochSeconds
                } else {
                    return None;
                }
            }
        };
        Some(candidate)
    }

    /// Parses `value` in this format. [`TimeFormat::Auto`] detects the format of this one value.
    #[inline]
    pub fn parse(self, value: &[u8]) -> Result<EventTime, TimeError> {
        let r = match self {
            // Parsed once, in the format its shape says (not detected, then parsed again).
            TimeFormat::Auto => match TimeFormat::candidate(value).map(|f| f.parse(value)) {
                Some(Ok(time)) => return Ok(time),
                _ => Err("not a time in any known format"),
            },
            TimeFormat::Rfc3339 => parse_rfc3339(value, &mut None),
            TimeFormat::EpochSeconds => parse_epoch_seconds(value),
            TimeFormat::EpochMillis => parse_int(value).ok_or("not an integer number of milliseconds").map(EventTime),
            TimeFormat::EpochMicros => parse_int(value)
                .ok_or("not an integer number of microseconds")
                .map(|us| EventTime(us.div_euclid(1_000))),
            TimeFormat::EpochNanos => parse_int(value)
                .ok_or("not an integer number of nanoseconds")
                .map(|ns| EventTime(ns.div_euclid(1_000_000))),
            TimeFormat::Compact14 => parse_compact(value, true),
            TimeFormat::Compact12 => parse_compact(value, false),
        };
        r.map_err(|problem| TimeError { format: self, problem })
    }
}

impl fmt::Display for TimeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TimeFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "auto" => TimeFormat::Auto,
            "rfc3339" | "iso8601" | "iso" => TimeFormat::Rfc3339,
            "epoch_seconds" | "epoch_s" | "epoch" | "unix" => TimeFormat::EpochSeconds,
            "epoch_millis" | "epoch_ms" | "unix_ms" => TimeFormat::EpochMillis,
            "epoch_micros" | "epoch_us" | "unix_us" => TimeFormat::EpochMicros,
            "epoch_nanos" | "epoch_ns" | "unix_ns" => TimeFormat::EpochNanos,
            "yyyymmddhhmmss" | "compact14" => TimeFormat::Compact14,
            "yyyymmddhhmm" | "compact12" => TimeFormat::Compact12,
            _ => {
                return Err(format!("unknown time format {s:?}; known formats: {}", TimeFormat::NAMES));
            }
        })
    }
}

impl TryFrom<String> for TimeFormat {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<TimeFormat> for String {
    fn from(f: TimeFormat) -> String {
        f.name().to_owned()
    }
}

/// A value that is not a time in the expected format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeError {
    pub format: TimeFormat,
    pub problem: &'static str,
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (expected {})", self.problem, self.format)
    }
}

impl std::error::Error for TimeError {}

/// `N` decimal digits at `at` (at most 9, so that they fit).
#[inline]
fn digits<const N: usize>(s: &[u8], at: usize) -> Option<u32> {
    const { assert!(N <= 9) };
    decimal(s.get(at..at + N)?).map(|n| n as u32)
}

/// Decimal digits and nothing else, at most 18 of them (so that they fit an `i64`).
#[inline]
fn decimal(d: &[u8]) -> Option<i64> {
    let mut n: i64 = 0;
    for &b in d {
        let v = b.wrapping_sub(b'0');
        if v > 9 {
            return None;
        }
        n = n * 10 + i64::from(v);
    }
    Some(n)
}

/// A parser for one format that remembers the last calendar date it saw, so that a file of
/// RFC 3339 times pays for date arithmetic once a day rather than once a line.
#[derive(Clone, Debug)]
pub struct TimeParser {
    format: TimeFormat,
    day: Option<([u8; 10], i64)>,
}

impl TimeParser {
    pub fn new(format: TimeFormat) -> TimeParser {
        TimeParser { format, day: None }
    }

    pub fn format(&self) -> TimeFormat {
        self.format
    }

    #[inline]
    pub fn parse(&mut self, value: &[u8]) -> Result<EventTime, TimeError> {
        match self.format {
            TimeFormat::Rfc3339 => {
                parse_rfc3339(value, &mut self.day).map_err(|problem| TimeError { format: self.format, problem })
            }
            other => other.parse(value),
        }
    }
}

const RFC3339_SHAPE: &str = "not an RFC 3339 time like 2016-08-21T17:00:12.345Z";

/// Days since the epoch of the `YYYY-MM-DD` at the start of `s`, from `cache` when it holds the
/// same ten bytes.
#[inline]
fn rfc3339_days(s: &[u8], cache: &mut Option<([u8; 10], i64)>) -> Result<i64, &'static str> {
    let date: &[u8; 10] = s.get(..10).and_then(|d| d.try_into().ok()).ok_or(RFC3339_SHAPE)?;
    if let Some((cached, days)) = cache
        && cached == date
    {
        return Ok(*days);
    }
    if date[4] != b'-' || date[7] != b'-' {
        return Err(RFC3339_SHAPE);
    }
    let (Some(year), Some(month), Some(day)) = (digits::<4>(date, 0), digits::<2>(date, 5), digits::<2>(date, 8))
    else {
        return Err(RFC3339_SHAPE);
    };
    let year = i64::from(year);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err("date or time field out of range");
    }
    let days = days_from_civil(year, month, day);
    *cache = Some((*date, days));
    Ok(days)
}

#[inline]
fn parse_rfc3339(s: &[u8], day_cache: &mut Option<([u8; 10], i64)>) -> Result<EventTime, &'static str> {
    if s.len() < 16 || !matches!(s[10], b'T' | b't' | b' ') || s[13] != b':' {
        return Err(RFC3339_SHAPE);
    }
    let days = rfc3339_days(s, day_cache)?;
    // The shape machines write most, `2016-08-21T17:00:12.345Z`, without the general walk.
    if let [.., b':', s0, s1, b'.', f0, f1, f2, b'Z'] = *s
        && s.len() == 24
        && let (Some(hour), Some(minute), Some(second), Some(millis)) =
            (digits::<2>(s, 11), digits::<2>(s, 14), digits::<2>(&[s0, s1], 0), digits::<3>(&[f0, f1, f2], 0))
    {
        if hour > 23 || minute > 59 || second > 60 {
            return Err("date or time field out of range");
        }
        let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
        return Ok(EventTime(secs * 1000 + i64::from(millis)));
    }
    let (Some(hour), Some(minute)) = (digits::<2>(s, 11), digits::<2>(s, 14)) else {
        return Err(RFC3339_SHAPE);
    };
    let mut pos = 16;
    let mut second = 0;
    let mut millis = 0;
    if s.get(pos) == Some(&b':') {
        second = digits::<2>(s, pos + 1).ok_or(RFC3339_SHAPE)?;
        pos += 3;
        if matches!(s.get(pos), Some(b'.' | b',')) {
            pos += 1;
            let start = pos;
            while pos < s.len() && s[pos].is_ascii_digit() {
                if pos - start < 3 {
                    millis = millis * 10 + u32::from(s[pos] - b'0');
                }
                pos += 1;
            }
            let n = pos - start;
            if n == 0 || n > 9 {
                return Err("a fraction of a second needs 1 to 9 digits");
            }
            for _ in n..3 {
                millis *= 10;
            }
        }
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err("date or time field out of range");
    }
    let offset_minutes: i64 = match &s[pos..] {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest.len() {
                2 => (digits::<2>(rest, 0), Some(0)),
                4 => (digits::<2>(rest, 0), digits::<2>(rest, 2)),
                5 if rest[2] == b':' => (digits::<2>(rest, 0), digits::<2>(rest, 3)),
                _ => (None, None),
            };
            let (Some(h), Some(m)) = (h, m) else {
                return Err("zone offset is not +HH:MM, +HHMM or +HH");
            };
            if h > 23 || m > 59 {
                return Err("zone offset out of range");
            }
            let off = i64::from(h * 60 + m);
            if *sign == b'-' { -off } else { off }
        }
        _ => return Err(RFC3339_SHAPE),
    };
    // A leap second (:60) folds into the next second, as in EventTime::from_utc.
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_minutes * 60;
    Ok(EventTime(secs * 1000 + i64::from(millis)))
}

#[inline]
/// An optionally negative decimal integer that fits an `i64` (epoch nanoseconds have 19 digits).
fn parse_int(s: &[u8]) -> Option<i64> {
    let (neg, d) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    let n = match d.len() {
        0 => return None,
        1..=18 => decimal(d)?,
        19 => decimal(&d[..18])?.checked_mul(10)?.checked_add(decimal(&d[18..])?)?,
        _ => return None,
    };
    Some(if neg { -n } else { n })
}

fn parse_epoch_seconds(s: &[u8]) -> Result<EventTime, &'static str> {
    const BAD: &str = "not a number of seconds like 1471798812 or 1471798812.345";
    let (int, frac) = match memchr::memchr(b'.', s) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &[][..]),
    };
    let secs = parse_int(int).filter(|v| v.unsigned_abs() < 9_000_000_000_000_000).ok_or(BAD)?;
    if frac.len() > 9 || !frac.iter().all(u8::is_ascii_digit) {
        return Err(BAD);
    }
    let mut millis = 0i64;
    for i in 0..3 {
        millis = millis * 10 + frac.get(i).map_or(0, |b| i64::from(b - b'0'));
    }
    let negative = int.first() == Some(&b'-');
    Ok(EventTime(secs * 1000 + if negative { -millis } else { millis }))
}

fn parse_compact(s: &[u8], with_seconds: bool) -> Result<EventTime, &'static str> {
    let want = if with_seconds { 14 } else { 12 };
    if s.len() != want {
        return Err(if with_seconds { "not 14 digits YYYYMMDDHHMMSS" } else { "not 12 digits YYYYMMDDHHMM" });
    }
    let shape = "not all digits";
    let second = if with_seconds { digits::<2>(s, 12).ok_or(shape)? } else { 0 };
    EventTime::from_utc(
        i64::from(digits::<4>(s, 0).ok_or(shape)?),
        digits::<2>(s, 4).ok_or(shape)?,
        digits::<2>(s, 6).ok_or(shape)?,
        digits::<2>(s, 8).ok_or(shape)?,
        digits::<2>(s, 10).ok_or(shape)?,
        second,
        0,
    )
    .ok_or("date or time field out of range")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, FixedOffset, TimeZone, Utc};
    use proptest::prelude::*;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn rfc3339_variants() {
        let f = TimeFormat::Rfc3339;
        let p = |s: &str| f.parse(s.as_bytes()).map(|t| t.0);
        assert_eq!(p("2016-08-21T17:00:12.345Z"), Ok(ms("2016-08-21T17:00:12.345Z")));
        assert_eq!(p("2016-08-21 17:00:12"), Ok(ms("2016-08-21T17:00:12Z")));
        assert_eq!(p("2016-08-21T17:00"), Ok(ms("2016-08-21T17:00:00Z")));
        assert_eq!(p("2016-08-21T17:00:12.3+02:00"), Ok(ms("2016-08-21T17:00:12.3+02:00")));
        assert_eq!(p("2016-08-21T17:00:12,123456789-0530"), Ok(ms("2016-08-21T17:00:12.123-05:30")));
        assert_eq!(p("2016-08-21T17:00:12+01"), Ok(ms("2016-08-21T17:00:12+01:00")));
        assert!(p("2016-08-21T17:00:12.").is_err());
        assert!(p("2016-08-21T17:00:12.1234567890Z").is_err());
        assert!(p("2016-02-30T17:00:12Z").is_err());
        assert!(p("2016-08-21T17:00:12 Z").is_err());
        assert!(p("2016-08-21").is_err());
        assert!(p("2016-08-21T17:00:12+2400").is_err());
    }

    #[test]
    fn the_day_cache_never_changes_a_result() {
        let mut p = TimeParser::new(TimeFormat::Rfc3339);
        for v in [
            "2016-08-21T17:00:12Z",
            "2016-08-21T23:59:59.999Z",
            "2016-08-21T24:00:00Z",
            "2016-08-21 00:00",
            "2016-08-22T00:00:00+01:00",
            "2016-02-30T00:00:00Z",
            "2016-08-21T17:00:12Z",
        ] {
            assert_eq!(p.parse(v.as_bytes()), TimeFormat::Rfc3339.parse(v.as_bytes()), "{v}");
        }
    }

    #[test]
    fn numeric_formats() {
        let t = ms("2016-08-21T17:00:12.345Z");
        assert_eq!(TimeFormat::EpochMillis.parse(b"1471798812345"), Ok(EventTime(t)));
        assert_eq!(TimeFormat::EpochSeconds.parse(b"1471798812.345"), Ok(EventTime(t)));
        assert_eq!(TimeFormat::EpochSeconds.parse(b"1471798812"), Ok(EventTime(t - 345)));
        assert_eq!(TimeFormat::EpochSeconds.parse(b"-1.5"), Ok(EventTime(-1500)));
        assert_eq!(TimeFormat::Compact14.parse(b"20160821170012"), Ok(EventTime(t - 345)));
        assert_eq!(TimeFormat::Compact12.parse(b"201608211700"), Ok(EventTime(t - 12_345)));
        assert!(TimeFormat::Compact12.parse(b"201608211760").is_err());
        assert!(TimeFormat::EpochMillis.parse(b"12a").is_err());
        assert!(TimeFormat::EpochMillis.parse(b"").is_err());
        assert!(TimeFormat::EpochSeconds.parse(b"99999999999999999999").is_err());
        assert_eq!(TimeFormat::EpochMicros.parse(b"1471798812345678"), Ok(EventTime(t)));
        assert_eq!(TimeFormat::EpochNanos.parse(b"1471798812345678901"), Ok(EventTime(t)));
        assert_eq!(TimeFormat::EpochNanos.parse(b"9223372036854775807"), Ok(EventTime(9_223_372_036_854)));
        assert!(TimeFormat::EpochNanos.parse(b"9223372036854775808").is_err(), "beyond i64");
        // Truncation is towards the past, before the epoch too.
        assert_eq!(TimeFormat::EpochMicros.parse(b"-1"), Ok(EventTime(-1)));
        assert_eq!(TimeFormat::EpochNanos.parse(b"-1000001"), Ok(EventTime(-2)));
    }

    #[test]
    fn detection() {
        let d = |s: &str| TimeFormat::detect(s.as_bytes());
        assert_eq!(d("2016-08-21T17:00:12.345Z"), Some(TimeFormat::Rfc3339));
        assert_eq!(d("1471798812345"), Some(TimeFormat::EpochMillis));
        assert_eq!(d("1471798812"), Some(TimeFormat::EpochSeconds));
        assert_eq!(d("1471798812.5"), Some(TimeFormat::EpochSeconds));
        assert_eq!(d("20160821170012"), Some(TimeFormat::Compact14));
        assert_eq!(d("201608211700"), Some(TimeFormat::Compact12));
        assert_eq!(d("1471798812345678"), Some(TimeFormat::EpochMicros));
        assert_eq!(d("1471798812345678901"), Some(TimeFormat::EpochNanos));
        assert_eq!(d("201613211700"), None);
        assert_eq!(d("usa"), None);
        assert_eq!(d(""), None);
    }

    proptest! {
        /// Every way we print a time parses back to the same millisecond (chrono as the oracle).
        #[test]
        fn parses_what_chrono_prints(ms in 0i64..253_402_300_799_999, off_min in -(23*60+59)..(23*60+59i32)) {
            let utc = Utc.timestamp_millis_opt(ms).unwrap();
            let zoned = utc.with_timezone(&FixedOffset::east_opt(off_min * 60).unwrap());
            let cases = [
                (TimeFormat::Rfc3339, utc.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(), ms),
                (TimeFormat::Rfc3339, zoned.format("%Y-%m-%dT%H:%M:%S%.9f%:z").to_string(), ms),
                (TimeFormat::Rfc3339, zoned.format("%Y-%m-%d %H:%M:%S%.6f%z").to_string(), ms),
                (TimeFormat::Rfc3339, utc.format("%Y-%m-%d %H:%M:%S").to_string(), ms - ms % 1000),
                (TimeFormat::EpochMillis, ms.to_string(), ms),
                (TimeFormat::EpochMicros, (ms * 1_000 + 999).to_string(), ms),
                (TimeFormat::EpochSeconds, format!("{}.{:03}", ms / 1000, ms % 1000), ms),
                (TimeFormat::Compact14, utc.format("%Y%m%d%H%M%S").to_string(), ms - ms % 1000),
                (TimeFormat::Compact12, utc.format("%Y%m%d%H%M").to_string(), ms - ms % 60_000),
            ];
            // Nanoseconds since the epoch fit an i64 until 2262.
            let nanos = (ms < 9_223_372_036_854).then(|| (TimeFormat::EpochNanos, (ms * 1_000_000 + 999_999).to_string(), ms));
            for (format, text, want) in cases.into_iter().chain(nanos) {
                prop_assert_eq!(format.parse(text.as_bytes()), Ok(EventTime(want)), "{} as {}", text, format);
                // Digits-only values are ambiguous by length; the dated shapes must auto-detect.
                if matches!(format, TimeFormat::Rfc3339 | TimeFormat::Compact14 | TimeFormat::Compact12) {
                    prop_assert_eq!(TimeFormat::Auto.parse(text.as_bytes()), Ok(EventTime(want)), "auto on {}", text);
                }
            }
        }
    }
}
