//! What every generated file is made of: the dimension values, the start, RFC 3339 times, a
//! skewed pick and one row.

use std::fmt::Write as _;

use minutely_aggregate::{EventTime, time::civil_from_days};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub const COUNTRIES: &[&str] = &["usa", "deu", "fra", "gbr", "jpn", "bra", "ind", "can", "mex", "esp", "ita", "kor"];
pub const DEVICES: &[&str] = &["ios", "and", "web"];

/// 2016-08-21T17:00:00Z, the minute of the original design's example key.
pub const START: EventTime = EventTime(1_471_798_800_000);

/// Formats an event time as RFC 3339 with milliseconds: `2016-08-21T17:00:12.345Z`.
pub fn rfc3339_millis(t: EventTime, out: &mut String) {
    let ms = t.0;
    let (days, in_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    let _ = write!(out, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z");
}

/// A skewed pick: index 0 about twice as likely as index 1, and so on down a harmonic curve.
pub(crate) fn zipfish(rng: &mut ChaCha8Rng, n: usize) -> usize {
    let total: f64 = (1..=n).map(|k| 1.0 / k as f64).sum();
    let mut x = rng.random::<f64>() * total;
    for k in 1..=n {
        x -= 1.0 / k as f64;
        if x <= 0.0 {
            return k - 1;
        }
    }
    n - 1
}

/// One row: `time  country  device  id`.
pub(crate) fn row(rng: &mut ChaCha8Rng, t: EventTime, i: u64, out: &mut String) {
    rfc3339_millis(t, out);
    let country = COUNTRIES[zipfish(rng, 5)];
    let device = DEVICES[rng.random_range(0..DEVICES.len())];
    let _ = writeln!(out, "\t{country}\t{device}\te{i:05}");
}
