//! Event time, minutes, and the proleptic Gregorian calendar arithmetic behind minute labels.
//!
//! Everything here is integer arithmetic on UTC milliseconds: no time zone database, no clock.

use std::fmt;
use std::str::FromStr;

pub(crate) const MS_PER_MINUTE: i64 = 60_000;

/// The time an event says it happened: milliseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventTime(pub i64);

impl EventTime {
    /// Builds an event time from a UTC calendar date and time of day.
    ///
    /// Returns `None` when a field is out of range (month 13, February 30, hour 24...).
    pub fn from_utc(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
        millis: u32,
    ) -> Option<EventTime> {
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
            || millis > 999
        {
            return None;
        }
        // A leap second (:60) is folded into the next second, as chrono and most parsers do.
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
        Some(EventTime(secs * 1000 + i64::from(millis)))
    }

    /// The minute this event belongs to.
    pub fn minute(self) -> Minute {
        Minute(self.0.div_euclid(MS_PER_MINUTE))
    }

    pub fn millis(self) -> i64 {
        self.0
    }
}

/// A minute of UTC time, counted from the Unix epoch; the unit of every window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Minute(pub i64);

impl Minute {
    /// The first millisecond of this minute.
    pub fn start(self) -> EventTime {
        EventTime(self.0 * MS_PER_MINUTE)
    }

    /// The first millisecond after this minute.
    pub fn end(self) -> EventTime {
        EventTime((self.0 + 1) * MS_PER_MINUTE)
    }

    pub fn next(self) -> Minute {
        Minute(self.0 + 1)
    }

    /// The minute label `YYYYMMDDHHMM` (UTC), as in the original design's `("usa", "201608211700")`.
    pub fn label(self) -> MinuteLabel {
        let days = self.0.div_euclid(1440);
        let in_day = self.0.rem_euclid(1440);
        let (year, month, day) = civil_from_days(days);
        MinuteLabel { year, month, day, hour: (in_day / 60) as u32, minute: (in_day % 60) as u32 }
    }
}

impl fmt::Display for Minute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.label().fmt(f)
    }
}

/// The calendar fields of a minute, displayed as `YYYYMMDDHHMM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinuteLabel {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
}

impl fmt::Display for MinuteLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}{:02}{:02}{:02}{:02}", self.year, self.month, self.day, self.hour, self.minute)
    }
}

/// Why a minute label did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadMinuteLabel(pub String);

impl fmt::Display for BadMinuteLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a minute label of the form YYYYMMDDHHMM", self.0)
    }
}

impl std::error::Error for BadMinuteLabel {}

impl FromStr for Minute {
    type Err = BadMinuteLabel;

    fn from_str(s: &str) -> Result<Minute, BadMinuteLabel> {
        let bad = || BadMinuteLabel(s.to_owned());
        if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().map_err(|_| bad());
        let t = EventTime::from_utc(i64::from(n(0..4)?), n(4..6)?, n(6..8)?, n(8..10)?, n(10..12)?, 0, 0)
            .ok_or_else(bad)?;
        Ok(t.minute())
    }
}

pub fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike, Utc};
    use proptest::prelude::*;

    #[test]
    fn label_of_the_original_design_example() {
        let t = EventTime::from_utc(2016, 8, 21, 17, 0, 59, 999).unwrap();
        assert_eq!(t.minute().to_string(), "201608211700");
        assert_eq!("201608211700".parse::<Minute>().unwrap(), t.minute());
    }

    #[test]
    fn minutes_before_the_epoch_floor_towards_minus_infinity() {
        let t = EventTime(-1);
        assert_eq!(t.minute(), Minute(-1));
        assert_eq!(t.minute().to_string(), "196912312359");
    }

    #[test]
    fn out_of_range_fields_are_refused() {
        assert!(EventTime::from_utc(2016, 2, 30, 0, 0, 0, 0).is_none());
        assert!(EventTime::from_utc(2015, 2, 29, 0, 0, 0, 0).is_none());
        assert!(EventTime::from_utc(2016, 2, 29, 0, 0, 0, 0).is_some());
        assert!(EventTime::from_utc(2016, 13, 1, 0, 0, 0, 0).is_none());
        assert!(EventTime::from_utc(2016, 1, 1, 24, 0, 0, 0).is_none());
        assert!("201613011200".parse::<Minute>().is_err());
        assert!("20160101120".parse::<Minute>().is_err());
    }

    proptest! {
        /// Our calendar arithmetic agrees with chrono's for every millisecond in years 1..9999.
        #[test]
        fn calendar_matches_chrono(ms in -62_135_596_800_000i64..253_402_300_799_999i64) {
            let c = Utc.timestamp_millis_opt(ms).unwrap();
            let ours = EventTime::from_utc(
                i64::from(c.year()), c.month(), c.day(), c.hour(), c.minute(), c.second(),
                c.timestamp_subsec_millis(),
            ).unwrap();
            prop_assert_eq!(ours, EventTime(ms));
            prop_assert_eq!(EventTime(ms).minute().to_string(), c.format("%Y%m%d%H%M").to_string());
            let back: Minute = EventTime(ms).minute().to_string().parse().unwrap();
            prop_assert_eq!(back, EventTime(ms).minute());
        }
    }
}
