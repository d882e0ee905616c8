//! The fixtures under `fixtures/`: each a TSV file made from a seed, and its schema.

use std::fmt::Write as _;

use minutely_aggregate::EventTime;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::rows::{COUNTRIES, DEVICES, START, rfc3339_millis, row, zipfish};

/// One fixture: a TSV file and, if it needs one, its schema beside it.
#[derive(Debug)]
pub struct Fixture {
    pub name: &'static str,
    pub tsv: Vec<u8>,
    pub schema: Option<&'static str>,
}

/// Every fixture under `fixtures/`, in a fixed order.
pub fn fixtures() -> Vec<Fixture> {
    vec![
        Fixture { name: "clean", tsv: clean(1, 240), schema: Some("key = [\"country\"]\n") },
        Fixture {
            name: "composite-key",
            tsv: clean(2, 150),
            schema: Some("time = \"time\"\ntime_format = \"rfc3339\"\nkey = [\"country\", \"device\"]\n"),
        },
        Fixture { name: "no-key", tsv: clean(3, 90), schema: None },
        Fixture { name: "messy", tsv: messy(4), schema: Some("key = [\"country\"]\n") },
        Fixture { name: "out-of-order-late", tsv: out_of_order(5), schema: Some("key = [\"country\"]\n") },
        Fixture {
            name: "epoch-millis-headerless",
            tsv: numeric(6, 120, |t| t.0.to_string(), false),
            schema: Some(
                "header = false\ncolumns = [\"ts\", \"country\", \"device\", \"event_id\"]\ntime = \"ts\"\n\
                 time_format = \"epoch_millis\"\nkey = [\"country\"]\nid = \"event_id\"\n",
            ),
        },
        Fixture {
            name: "epoch-seconds",
            tsv: numeric(7, 120, |t| format!("{}.{:03}", t.0 / 1000, t.0 % 1000), true),
            schema: Some("key = [2]\n"),
        },
        Fixture {
            name: "compact-minutes",
            tsv: numeric(8, 100, |t| t.minute().to_string(), true),
            schema: Some("time_format = \"yyyymmddhhmm\"\nkey = [\"country\"]\n"),
        },
        Fixture { name: "zoned-times", tsv: zoned(9, 80), schema: Some("key = [\"device\"]\n") },
        Fixture { name: "header-only", tsv: b"time\tcountry\tdevice\tid\n".to_vec(), schema: None },
    ]
}

/// In-order rows over a few minutes, starting on the original design's minute.
fn clean(seed: u64, n: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut s = String::from("time\tcountry\tdevice\tid\n");
    let mut t = START.0;
    for i in 0..n {
        t += rng.random_range(0..2_000);
        row(&mut rng, EventTime(t), i, &mut s);
    }
    s.into_bytes()
}

/// A BOM, CRLF endings, blank and whitespace-only lines, missing and extra columns, unparsable
/// times, an impossible date, invalid UTF-8, and a truncated last line without newline.
fn messy(seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out: Vec<u8> = b"\xEF\xBB\xBFtime\tcountry\tdevice\tid\r\n".to_vec();
    let mut t = START.0;
    for i in 0..120u64 {
        t += rng.random_range(0..1_500);
        let mut line = String::new();
        row(&mut rng, EventTime(t), i, &mut line);
        let line = line.trim_end().to_owned();
        let bad: Vec<u8> = match i % 17 {
            3 => Vec::new(),                                                      // blank line
            5 => b"   \t ".to_vec(),                                              // whitespace only: 2 columns
            7 => line.rsplit_once('\t').unwrap().0.as_bytes().to_vec(),           // a missing column
            9 => format!("{line}\textra").into_bytes(),                           // an extra column
            11 => line.replacen("2016-08-21T", "2016-08-21 at ", 1).into_bytes(), // unparsable
            13 => line.replacen("2016-08-21", "2016-02-30", 1).into_bytes(),      // impossible date
            15 => {
                let mut b = line.clone().into_bytes();
                let tab = b.iter().position(|&c| c == b'\t').unwrap();
                b[tab + 1] = 0xC3; // a lone UTF-8 lead byte in the country
                b
            }
            _ => line.into_bytes(),
        };
        out.extend_from_slice(&bad);
        if i % 17 != 3 {
            out.extend_from_slice(b"\r\n");
        } else {
            out.extend_from_slice(b"\n\r\n");
        }
    }
    out.extend_from_slice(b"2016-08-21T17:01:5"); // cut off mid-write, no newline
    out
}

/// Mostly increasing times with jitter of up to 50 s, and every 25th row two to five minutes
/// behind the stream: late for any allowed lateness under two minutes.
fn out_of_order(seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut s = String::from("time\tcountry\tdevice\tid\n");
    let mut t = START.0;
    for i in 0..300u64 {
        t += rng.random_range(0..2_000);
        let jitter = if i % 25 == 24 { -rng.random_range(120_000..300_000) } else { -rng.random_range(0..50_000) };
        row(&mut rng, EventTime(t + jitter), i, &mut s);
    }
    s.into_bytes()
}

fn numeric(seed: u64, n: u64, fmt: impl Fn(EventTime) -> String, header: bool) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut s = String::new();
    if header {
        s.push_str("ts\tcountry\tdevice\n");
    }
    let mut t = START.0;
    for i in 0..n {
        t += rng.random_range(0..3_000);
        let country = COUNTRIES[zipfish(&mut rng, 4)];
        let device = DEVICES[rng.random_range(0..DEVICES.len())];
        let _ = write!(s, "{}\t{country}\t{device}", fmt(EventTime(t)));
        if !header {
            let _ = write!(s, "\t{seed}-{i}");
        }
        s.push('\n');
    }
    s.into_bytes()
}

/// The same instants written in several zones and shapes: `+02:00`, `-0530`, a space for `T`,
/// no seconds, nanosecond fractions.
fn zoned(seed: u64, n: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut s = String::from("timestamp\tdevice\n");
    let mut t = START.0;
    for _ in 0..n {
        t += rng.random_range(0..4_000);
        let utc = EventTime(t);
        let device = DEVICES[rng.random_range(0..DEVICES.len())];
        let shifted = |minutes: i64| {
            let mut x = String::new();
            rfc3339_millis(EventTime(utc.0 + minutes * 60_000), &mut x);
            x.truncate(x.len() - 1); // drop the Z
            x
        };
        let text = match rng.random_range(0..5) {
            0 => format!("{}+02:00", shifted(120)),
            1 => format!("{}-0530", shifted(-330)),
            2 => shifted(0).replace('T', " "),
            3 => format!("{}Z", &shifted(0)[..16]),
            _ => format!("{}123456Z", shifted(0)),
        };
        let _ = writeln!(s, "{text}\t{device}");
    }
    s.into_bytes()
}
