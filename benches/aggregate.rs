//! Criterion benchmarks of the aggregation core and the TSV decoder.
//!
//! `cargo bench -p minutely-benches` (or `just bench`). Inputs are generated in memory by the
//! same deterministic generator as the fixtures, so runs on different machines compare.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use minutely_aggregate::{EventTime, ProcessingTime, WindowConfig, Windows};
use minutely_event::batch::{self, BatchOptions};
use minutely_event::{Schema, TimeFormat, TimeParser};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One million pre-decoded events over about three hours, 12 keys, up to 20 s out of order, and
/// one in a hundred two to five minutes late.
fn decoded_events(n: usize) -> Vec<(EventTime, u32)> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    (0..n)
        .map(|i| {
            let base = minutely_fixtures::START.0 + i as i64 * 10;
            let jitter = if i % 100 == 99 { rng.random_range(120_000..300_000) } else { rng.random_range(0..20_000) };
            (EventTime(base - jitter), rng.random_range(0..12))
        })
        .collect()
}

fn windows(c: &mut Criterion) {
    let events = decoded_events(1_000_000);
    let mut g = c.benchmark_group("windows");
    g.throughput(Throughput::Elements(events.len() as u64));
    for lateness in [0u64, 30_000] {
        g.bench_with_input(
            BenchmarkId::new("record_and_drain", format!("lateness_{lateness}ms")),
            &events,
            |b, events| {
                b.iter(|| {
                    let mut w =
                        Windows::new(WindowConfig { allowed_lateness_ms: lateness, idle_timeout_ms: Some(5_000) });
                    let mut total = 0u64;
                    for (i, &(t, k)) in events.iter().enumerate() {
                        w.record(t, k, ProcessingTime(i as u64 / 1000));
                        total += w.drain_ready().map(|c| c.count).sum::<u64>();
                    }
                    w.close_all();
                    total += w.drain_ready().map(|c| c.count).sum::<u64>();
                    assert_eq!(total, events.len() as u64);
                    black_box(total)
                })
            },
        );
    }
    g.finish();
}

fn tsv(c: &mut Criterion) {
    let lines = 500_000u64;
    let mut buffer = Vec::new();
    minutely_fixtures::write_big(lines, 42, &mut buffer).unwrap();
    let schema = Schema { key: Some(vec!["country".parse().unwrap()]), ..Schema::default() };
    let mut g = c.benchmark_group("tsv");
    g.throughput(Throughput::Bytes(buffer.len() as u64));
    g.sample_size(30);
    for threads in [1, 2] {
        g.bench_with_input(BenchmarkId::new("parse_and_count", format!("{threads}_threads")), &buffer, |b, buffer| {
            b.iter(|| {
                let r =
                    batch::count(&buffer[..], &schema, BatchOptions { threads, ..BatchOptions::default() }).unwrap();
                assert_eq!(r.stats.accepted, lines);
                black_box(r.counts.len())
            })
        });
    }
    g.finish();

    let times: Vec<String> = (0..100_000i64)
        .map(|i| {
            let mut s = String::new();
            minutely_fixtures::rfc3339_millis(EventTime(minutely_fixtures::START.0 + i * 997), &mut s);
            s
        })
        .collect();
    let mut g = c.benchmark_group("time");
    g.throughput(Throughput::Elements(times.len() as u64));
    g.bench_function("rfc3339_millis_with_day_cache", |b| {
        b.iter(|| {
            let mut p = TimeParser::new(TimeFormat::Rfc3339);
            times.iter().map(|t| p.parse(t.as_bytes()).unwrap().0).fold(0i64, i64::wrapping_add)
        })
    });
    g.bench_function("rfc3339_millis_without_cache", |b| {
        b.iter(|| {
            times.iter().map(|t| TimeFormat::Rfc3339.parse(t.as_bytes()).unwrap().0).fold(0i64, i64::wrapping_add)
        })
    });
    g.finish();
}

/// The same 500,000 rows as `tsv/parse_and_count`, as CSV (with its header) and as JSON lines,
/// counted by `minutely aggregate`'s record reader (one thread).
fn records(c: &mut Criterion) {
    let lines = 500_000u64;
    let mut tsv = Vec::new();
    minutely_fixtures::write_big(lines, 42, &mut tsv).unwrap();
    let text = String::from_utf8(tsv).unwrap();
    let csv = text.replace('\t', ",");
    let mut json = String::with_capacity(text.len() * 2);
    for row in text.lines().skip(1) {
        let f: Vec<&str> = row.split('\t').collect();
        json.push_str(&format!(
            "{{\"time\":\"{}\",\"geo\":{{\"country\":\"{}\"}},\"device\":\"{}\",\"id\":\"{}\"}}\n",
            f[0], f[1], f[2], f[3]
        ));
    }
    let csv_schema = Schema::from_toml("format = \"csv\"\nkey = [\"country\"]").unwrap();
    let json_schema =
        Schema::from_toml("format = \"json\"\ntime = \"time\"\nkey = [\"/geo/country\"]\nid = \"id\"").unwrap();
    let mut g = c.benchmark_group("records");
    g.throughput(Throughput::Elements(lines));
    g.sample_size(10);
    for (name, input, schema) in [("csv_count", &csv, &csv_schema), ("json_lines_count", &json, &json_schema)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = minutely_event::records::count(input.as_bytes(), schema).unwrap();
                assert_eq!(r.stats.accepted, lines);
                black_box(r.counts.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, windows, tsv, records);
criterion_main!(benches);
