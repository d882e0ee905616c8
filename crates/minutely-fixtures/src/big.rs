//! The large benchmark file, written in pieces.

use std::fmt::Write as _;

use minutely_aggregate::EventTime;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::rows::{COUNTRIES, DEVICES, START, rfc3339_millis, zipfish};

/// The benchmark file: `time  country  device  id`, RFC 3339 times with milliseconds, about 42
/// bytes a line, times mostly increasing with a few seconds of jitter over about a day.
pub fn write_big(lines: u64, seed: u64, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut buf = String::with_capacity(1 << 20);
    buf.push_str("time\tcountry\tdevice\tid\n");
    let span_ms = 86_400_000i64;
    for i in 0..lines {
        let base = START.0 + (i as i64 * span_ms) / lines.max(1) as i64;
        let t = EventTime(base + rng.random_range(-5_000..5_000));
        rfc3339_millis(t, &mut buf);
        let country = COUNTRIES[zipfish(&mut rng, COUNTRIES.len())];
        let device = DEVICES[rng.random_range(0..DEVICES.len())];
        let _ = writeln!(buf, "\t{country}\t{device}\t{i:08x}");
        if buf.len() > (1 << 20) - 64 {
            out.write_all(buf.as_bytes())?;
            buf.clear();
        }
    }
    out.write_all(buf.as_bytes())
}
