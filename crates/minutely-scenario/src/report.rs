//! What a run found, its checks (model, snapshot, latency, faults seen firing) and its text.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use crate::clock::ClockMode;
use crate::faults::Plan;
use crate::model::Diff;
pub use crate::replay::Provenance;
use crate::replay::{Replay, Wall};
use crate::spec::Scenario;
use crate::trace::{Latency, Second};

/// One expectation of a run: what was asked, what was measured, whether it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub expected: String,
    pub measured: String,
    pub passed: bool,
}

/// Something that happened to a run at a time (a reshard, a consumer restart, a worker killed
/// or added), in seconds since the producer took its first record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Marker {
    pub second: f64,
    pub what: String,
}

/// One minute's count over every key, by the model and in S3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MinuteCounts {
    pub minute: String,
    pub model: u64,
    pub s3: u64,
}

/// A shard's `MillisBehindLatest` as sampled during the run: (seconds since the producer took
/// its first record, ms).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShardLag {
    pub shard: String,
    pub points: Vec<(f64, i64)>,
}

/// One table of the scenario's file as TOML text (empty when the file or the table is not there).
fn table_text(s: &Scenario, name: &str) -> String {
    let Ok(text) = std::fs::read_to_string(&s.path) else { return String::new() };
    let Ok(file) = text.parse::<toml::Table>() else { return String::new() };
    match file.get(name) {
        Some(toml::Value::Table(t)) => toml::to_string(t).unwrap_or_default(),
        _ => String::new(),
    }
}

/// What a run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub description: String,
    pub backend: String,
    pub passed: bool,
    pub failures: Vec<String>,
    /// Every expectation checked, passed or not.
    pub checks: Vec<Check>,
    /// The scenario file's `[input]`, `[pipeline]` and `[faults]` tables, as TOML.
    pub input: String,
    pub pipeline: String,
    pub faults: String,
    /// Records put into the stream: events (with their duplicates) and malformed records.
    pub records_in: u64,
    /// Distinct events the model counts.
    pub events: u64,
    /// The sum of every count under `minutes/`.
    pub counted: u64,
    /// Counted in late objects.
    pub late: u64,
    pub rejected_by_producer: u64,
    /// Reject lines under `rejects/` in S3.
    pub rejected_by_consumer: u64,
    pub duplicates_dropped: u64,
    pub consumer_restarts: u64,
    /// With the `workers` faults: workers started, killed and added, and their leases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<crate::fleet::WorkersReport>,
    /// The reshards done while producing (`split after 1200 events`).
    pub reshards: Vec<String>,
    /// Entries the producer sent again (failed entries, throttled or failed calls).
    pub put_retries: u64,
    pub objects: u64,
    pub diff: Diff,
    pub latency: Latency,
    /// Per second of the run: records acknowledged, events read, counts written, entries retried;
    /// summed over `throughput_step` seconds each in a run longer than an hour.
    pub throughput: Vec<Second>,
    /// The seconds each entry of `throughput` sums (and of `lag`, the largest of).
    pub throughput_step: u32,
    /// Reshards, consumer restarts, workers killed or added, with their times.
    pub markers: Vec<Marker>,
    /// Per minute: the model's count and S3's, over every key.
    pub minutes: Vec<MinuteCounts>,
    /// Each shard's lag, sampled every second.
    pub lag: Vec<ShardLag>,
    pub produce_seconds: f64,
    pub run_seconds: f64,
    pub throughput_events_per_s: f64,
    /// Records the producer had sent when the run ended (all of them, unless it was cut short).
    pub records_sent: u64,
    /// What the sim saw and injected (`None` on LocalStack).
    pub sim: Option<minutely_sim::Stats>,
    /// Why the run was cut short (a signal, or its timeout), with where it was.
    pub interrupted: Option<String>,
    /// The signal that interrupted it, if one did.
    pub signal: Option<String>,
    /// With the user's producer: what it did and the stream's check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<crate::history::History>,
    /// What retention trimmed, and the events of it the consumer never read: taken out of the
    /// model, by minute, key and id (`retention.rs`). `None`: nothing trimmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trimmed: Option<crate::retention::Trimmed>,
    /// With workers on the sim: every write checked against the leases (`fence.rs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fence: Option<crate::fence::FenceCheck>,
    /// The clock, the seed, the build and the command that make this run again, and the digest
    /// of the sim's state a replay on virtual time must reproduce.
    pub replay: Replay,
    /// Everything the machine's clock measured, and when and where the run was made: the one
    /// part of the report two replays may differ in.
    pub wall: Wall,
    /// The S3 sums as snapshot text.
    #[serde(skip)]
    pub aggregates: String,
    /// The text summary ([`Report::render`]), as `minutely scenario` prints it.
    pub summary: String,
}

impl Report {
    /// A report with nothing measured yet.
    pub(crate) fn empty(s: &Scenario, backend: &str) -> Report {
        Report {
            scenario: s.name.clone(),
            description: s.description.clone(),
            backend: backend.to_owned(),
            passed: false,
            failures: Vec::new(),
            checks: Vec::new(),
            input: table_text(s, "input"),
            pipeline: table_text(s, "pipeline"),
            // As drawn for this seed, when the file gives ranges.
            faults: match &s.faults_drawn {
                (drawn, true) => toml::to_string(drawn).unwrap_or_default(),
                (_, false) => table_text(s, "faults"),
            },
            records_in: 0,
            events: 0,
            counted: 0,
            late: 0,
            rejected_by_producer: 0,
            rejected_by_consumer: 0,
            duplicates_dropped: 0,
            consumer_restarts: 0,
            workers: None,
            reshards: Vec::new(),
            put_retries: 0,
            objects: 0,
            diff: Diff::default(),
            latency: Latency::default(),
            throughput: Vec::new(),
            throughput_step: 1,
            markers: Vec::new(),
            minutes: Vec::new(),
            lag: Vec::new(),
            produce_seconds: 0.0,
            run_seconds: 0.0,
            throughput_events_per_s: 0.0,
            records_sent: 0,
            sim: None,
            fence: None,
            trimmed: None,
            interrupted: None,
            replay: Replay::new(&s.name, backend, s.input.seed, ClockMode::Real),
            wall: Wall::default(),
            signal: None,
            history: None,
            aggregates: String::new(),
            summary: String::new(),
        }
    }

    /// The checks that need no backend: model, snapshot (of what S3 holds), latency
    /// thresholds, and that every injected fault fired. Each is kept in `checks` with what was
    /// expected and what was measured; each that failed adds its failure.
    pub(crate) fn check(&mut self, s: &Scenario, plan: &Plan, snapshots: &Path, update: bool) -> anyhow::Result<()> {
        let e = &s.expect;
        let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
        (self.latency.limit_p50_ms, self.latency.limit_p95_ms, self.latency.limit_p99_ms) =
            (ms(e.latency_p50), ms(e.latency_p95), ms(e.latency_p99));
        if e.zero_loss {
            let (short, over) = (self.diff.missing.len(), self.diff.extra.len());
            let failure = (!self.diff.is_empty())
                .then(|| format!("the S3 sums differ from the model: {short} (minute, key) short, {over} over"));
            let measured =
                format!("{} counted of {} events; {short} (minute, key) short, {over} over", self.counted, self.events);
            self.verdict("S3 sums equal the model", "every (minute, key) exactly".into(), measured, failure);
        }
        self.check_snapshot(s, snapshots, update)?;
        self.check_history(e);
        self.check_speed(e);
        self.check_faults_fired(e, plan, s.faults_drawn.1);
        self.check_fence();
        self.check_trimmed(e);
        self.passed = self.failures.is_empty();
        Ok(())
    }

    /// The aggregates against the scenario's snapshot, if it has one.
    fn check_snapshot(&mut self, s: &Scenario, snapshots: &Path, update: bool) -> anyhow::Result<()> {
        if let Some(name) = s.snapshot_name() {
            let path = snapshots.join(format!("{name}.snap"));
            let (measured, failure) = match snapshot_matches(&path, &self.aggregates, update)? {
                SnapshotCheck::Matches => ("matches".to_owned(), None),
                SnapshotCheck::Written => ("written (--update-snapshots)".to_owned(), None),
                SnapshotCheck::Differs(new) => (
                    "differs".to_owned(),
                    Some(format!(
                        "the aggregates differ from snapshot {} (new one in {}; accept with --update-snapshots)",
                        path.display(),
                        new.display()
                    )),
                ),
                SnapshotCheck::Missing(new) => (
                    "missing".to_owned(),
                    Some(format!(
                        "no snapshot {} yet (written to {}; accept with --update-snapshots)",
                        path.display(),
                        new.display()
                    )),
                ),
            };
            self.verdict("aggregates equal the snapshot", path.display().to_string(), measured, failure);
        }
        Ok(())
    }

    /// Latency limits, the events-per-second floor, and that latency was measured at all.
    fn check_speed(&mut self, e: &crate::spec::Expect) {
        let t = self.latency.total.clone();
        for (name, limit, value) in
            [("p50", e.latency_p50, t.p50_ms), ("p95", e.latency_p95, t.p95_ms), ("p99", e.latency_p99, t.p99_ms)]
        {
            let Some(limit) = limit else { continue };
            let failure = (Duration::from_millis(value) > limit)
                .then(|| format!("latency {name} {value} ms is above the limit {limit:?}"));
            let expected = format!("at most {}", humantime::format_duration(limit));
            self.verdict(&format!("latency {name}, put to S3"), expected, format!("{value} ms"), failure);
        }
        if let Some(floor) = e.min_events_per_s {
            let measured = self.throughput_events_per_s;
            let failure = (measured < floor)
                .then(|| format!("{measured:.0} events/s put, below the floor of {floor:.0} (min_events_per_s)"));
            self.verdict("events put per second", format!("at least {floor:.0}"), format!("{measured:.0}"), failure);
        }
        // A user's producer keeps no timeline of its puts: nothing to follow.
        if self.events > 0 && self.history.is_none() {
            let failure =
                (t.count == 0).then(|| "no event could be followed from put to S3 (latency unmeasured)".to_owned());
            let measured = format!("{} events followed", t.count);
            self.verdict("latency measured", "events followed from put to S3".into(), measured, failure);
        }
    }

    /// With the user's programs: that each ran to its end and what their checks found
    /// ([`crate::history::History::checks`]).
    fn check_history(&mut self, e: &crate::spec::Expect) {
        let Some(h) = self.history.clone() else { return };
        for c in h.checks(e) {
            self.verdict(c.name, c.expected, c.measured, c.failure);
        }
    }

    /// With workers: no write of a shard's data came from a worker after another took its
    /// lease, or could have (`fence.rs`).
    fn check_fence(&mut self) {
        let Some(f) = self.fence.clone() else { return };
        let failure = (f.violations > 0).then(|| {
            format!(
                "fence: {} writes after another worker took the shard or could have: {}",
                f.violations,
                f.named.join("; ")
            )
        });
        let expected = "every write of a shard's data by its lease holder, within the lease".to_owned();
        let actual = format!(
            "{} data writes and {} lease writes checked, {} refused by a condition, {} violations",
            f.data_writes, f.lease_writes, f.refused, f.violations
        );
        self.verdict("fence held over every write", expected, actual, failure);
    }

    /// Events retention took are named by the consumer; with `trimmed = true`, some were.
    fn check_trimmed(&mut self, e: &crate::spec::Expect) {
        for (name, expected, measured, failure) in self.trimmed.clone().unwrap_or_default().checks(e.trimmed) {
            self.verdict(name, expected.into(), measured, failure);
        }
    }

    /// Every planned kill, join and injected fault happened (one that did not proves nothing),
    /// and the limits refused entries where the scenario expects it.
    fn check_faults_fired(&mut self, e: &crate::spec::Expect, plan: &Plan, drawn: bool) {
        if let Some(kill) = plan.kill_consumer {
            let failure = (self.consumer_restarts == 0 && !drawn).then(|| {
                format!(
                    "the consumer kill after {} objects {} never fired, so the run proves nothing about it",
                    kill.after_objects, kill.at
                )
            });
            let expected = format!("a kill after {} objects, {}", kill.after_objects, kill.at);
            self.verdict(
                "consumer killed and restarted",
                expected,
                format!("{} restarts", self.consumer_restarts),
                failure,
            );
        }
        if let (Some(stall), Some(sim)) = (plan.stall_consumer, &self.sim) {
            let n = sim.iterators_aged_out;
            let failure = (n == 0 && !drawn).then(|| {
                format!(
                    "the consumer's stall of {} after {} objects expired no iterator, so the run proves nothing about resuming",
                    humantime::format_duration(stall.duration),
                    stall.after_objects
                )
            });
            let expected = "GetRecords answered ExpiredIteratorException for an iterator's age".to_owned();
            self.verdict("consumer stalled past its iterators", expected, format!("{n} expired by age"), failure);
        }
        if let Some(f) = plan.fleet {
            let w = self.workers.clone().unwrap_or_default();
            if let Some(n) = f.kill_after_objects {
                let failure = (w.killed == 0 && !drawn).then(|| {
                    format!("the worker kill after {n} objects never fired, so the run proves nothing about it")
                });
                self.verdict("worker killed", format!("after {n} objects"), format!("{} killed", w.killed), failure);
            }
            if let Some(p) = f.pause {
                let failure = (w.leases.lost == 0 && !drawn).then(|| {
                    format!(
                        "worker-0's pause of {} lost it no lease, so the run proves nothing about a worker paused past its lease",
                        humantime::format_duration(p.duration)
                    )
                });
                let (expected, actual) =
                    ("another worker took a lease of the paused one".into(), format!("{} leases lost", w.leases.lost));
                self.verdict("worker paused past its lease", expected, actual, failure);
            }
            if let Some(n) = f.add_after_events {
                let failure = (w.added == 0 && !drawn)
                    .then(|| format!("no worker was added after {n} events: the run proves nothing about a join"));
                self.verdict("worker added", format!("after {n} events"), format!("{} added", w.added), failure);
            }
        }
        if let Some(stats) = self.sim.clone() {
            for (what, n) in plan.fired(&stats) {
                // A fault drawn from a range (a swarm's) may miss in one run: the swarm counts
                // the runs it reached instead.
                let failure = (n == 0 && !drawn)
                    .then(|| format!("no {what}: the fault never fired, so the run proves nothing about it"));
                let expected = if drawn { "at least once (drawn: counted by the swarm)" } else { "at least once" };
                self.verdict(&format!("fault fired: {what}"), expected.into(), n.to_string(), failure);
            }
            if e.scaled {
                let n = stats.limits.on_demand_splits;
                let failure = (n == 0).then(|| {
                    "expected the on-demand stream to scale (scaled = true), the sim split no shard".to_owned()
                });
                self.verdict("on-demand shards split by traffic", "at least one".into(), n.to_string(), failure);
            }
            if e.throttled {
                let n = stats.limits.entries_throttled;
                let failure = (n == 0)
                    .then(|| "expected throttled entries (throttled = true), the sim's limits refused none".to_owned());
                self.verdict("entries throttled by the limits", "at least one".into(), n.to_string(), failure);
            }
        }
    }

    /// Keeps one check, and its failure when it failed.
    fn verdict(&mut self, name: &str, expected: String, measured: String, failure: Option<String>) {
        self.checks.push(Check { name: name.to_owned(), expected, measured, passed: failure.is_none() });
        self.failures.extend(failure);
    }

    /// The summary as text.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let verdict = match (&self.signal, &self.interrupted, self.passed) {
            (Some(_), _, _) => "INTERRUPTED",
            (None, Some(_), _) => "TIMED OUT",
            (None, None, true) => "PASSED",
            (None, None, false) => "FAILED",
        };
        let clock = match self.replay.clock {
            ClockMode::Virtual => " of virtual time",
            ClockMode::Real => "",
        };
        o.push_str(&format!(
            "scenario {}: {verdict} ({}, {:.1} s{clock})\n",
            self.scenario, self.backend, self.run_seconds
        ));
        o.push_str(&format!(
            "  records in {} | events {} | counted {} (late {}) | rejected {} by the producer, {} by the consumer | duplicates dropped {}\n",
            self.records_in,
            self.events,
            self.counted,
            self.late,
            self.rejected_by_producer,
            self.rejected_by_consumer,
            self.duplicates_dropped
        ));
        let reshards = if self.reshards.is_empty() { "none".to_owned() } else { self.reshards.join(", ") };
        o.push_str(&format!(
            "  faults: put retries {}, consumer restarts {}, reshards: {reshards} | {} objects | produced in {:.2} s ({:.0} records/s)\n",
            self.put_retries, self.consumer_restarts, self.objects, self.produce_seconds, self.throughput_events_per_s
        ));
        if let Some(w) = &self.workers {
            let l = w.leases;
            o.push_str(&format!(
                "  workers: {} started, {} killed, {} added | leases taken {}, stolen {}, handed over {}, lost {}, released {}\n",
                w.started, w.killed, w.added, l.taken, l.stolen, l.handed_over, l.lost, l.released
            ));
        }
        if !self.throughput.is_empty() {
            let peak = |f: fn(&Second) -> u64| self.throughput.iter().map(f).max().unwrap_or(0);
            let (per, kept) = match self.throughput_step {
                1 => ("second".to_owned(), format!("{} s", self.throughput.len())),
                step => (format!("{step} s"), format!("{} steps of {step} s", self.throughput.len())),
            };
            o.push_str(&format!(
                "  per {per}, peak: {} records acknowledged, {} events read, {} counts written ({kept} in the report's throughput)\n",
                peak(|s| s.produced),
                peak(|s| s.read),
                peak(|s| s.written),
            ));
        }
        self.render_history(&mut o);
        if let Some(t) = &self.trimmed {
            t.render(&mut o);
        }
        self.render_sim(&mut o);
        self.render_latency(&mut o);
        o
    }

    /// A report as JSON without its `wall`: what two replays of a virtual run must agree on, byte
    /// for byte.
    pub fn replayed_part(&self) -> String {
        let mut json = serde_json::to_value(self).expect("a report serializes");
        if let Some(map) = json.as_object_mut() {
            map.remove("wall");
        }
        serde_json::to_string_pretty(&json).expect("a report serializes")
    }

    /// The wall-clock line ([`Wall::render`]), printed after the summary.
    pub fn render_wall(&self) -> String {
        self.wall.render(self.replay.clock, self.run_seconds)
    }

    /// The user's programs and what their checks found ([`crate::history::History::render`]).
    fn render_history(&self, o: &mut String) {
        if let Some(h) = &self.history {
            h.render(o);
        }
    }

    /// The sim's counters: what its limits refused and the faults it injected.
    fn render_sim(&self, o: &mut String) {
        if let Some(s) = &self.sim {
            let errors: u64 = s.errors_injected.values().sum();
            o.push_str(&format!(
                "  sim: {} entries throttled by the limits, {} GetRecords throttled, {} pages left empty as AWS may, {} on-demand splits | injected: {} entries failed, {} answers lost, {errors} calls failed, {} iterators expired ({} more by their age), {} pages left empty\n",
                s.limits.entries_throttled,
                s.limits.reads_throttled,
                s.empty_pages.saturating_sub(s.empty_pages_injected),
                s.limits.on_demand_splits,
                s.entries_failed_injected,
                s.answers_lost,
                s.iterators_expired,
                s.iterators_aged_out,
                s.empty_pages_injected
            ));
            for (what, by_shard) in [
                ("entries throttled", &s.limits.entries_throttled_by_shard),
                ("GetRecords throttled", &s.limits.reads_throttled_by_shard),
            ] {
                if by_shard.is_empty() {
                    continue;
                }
                let mut top: Vec<_> = by_shard.iter().collect();
                top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                let shown: Vec<String> =
                    top.iter().take(4).map(|(k, n)| format!("{} {n}", k.rsplit('/').next().unwrap_or(k))).collect();
                let more = if top.len() > 4 { format!(" (+{} shards)", top.len() - 4) } else { String::new() };
                o.push_str(&format!("    {what} per shard: {}{more}\n", shown.join(", ")));
            }
        }
    }

    /// Latency per stage, the differing minutes and the failures.
    fn render_latency(&self, o: &mut String) {
        let l = &self.latency;
        // A user's producer keeps no timeline: nothing was followed, no table of zeros.
        let measured = if self.history.is_some() && l.total.count == 0 {
            &[][..]
        } else {
            &[
                ("put to S3", &l.total),
                ("  put acknowledged", &l.put_acknowledged),
                ("  read by consumer", &l.read_by_consumer),
                ("  window closed", &l.window_closed),
                ("  written to S3", &l.written_to_s3),
            ][..]
        };
        if !measured.is_empty() {
            o.push_str("  latency (ms)           p50     p95     p99     max\n");
        }
        for (name, p) in measured {
            o.push_str(&format!("  {name:<20} {:>7} {:>7} {:>7} {:>7}\n", p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms));
        }
        for (minute, key, e, f) in self.diff.missing.iter().take(10) {
            o.push_str(&format!("  missing: {minute} {key:?}: expected {e}, found {f}\n"));
        }
        for (minute, key, e, f) in self.diff.extra.iter().take(10) {
            o.push_str(&format!("  extra:   {minute} {key:?}: expected {e}, found {f}\n"));
        }
        for f in &self.failures {
            o.push_str(&format!("  failed: {f}\n"));
        }
    }
}

enum SnapshotCheck {
    Matches,
    Written,
    Differs(PathBuf),
    Missing(PathBuf),
}

/// The snapshot, in insta's `.snap` format (so `cargo insta review` works on it too).
fn snapshot_matches(path: &Path, text: &str, update: bool) -> anyhow::Result<SnapshotCheck> {
    let file = format!("---\nsource: crates/minutely-scenario/src/lib.rs\nexpression: aggregates\n---\n{text}");
    // A scenario file outside `scenarios/` gets a `snapshots/` folder beside it.
    let write = |to: &Path| -> anyhow::Result<()> {
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(to, &file).with_context(|| format!("cannot write {}", to.display()))
    };
    if update {
        write(path)?;
        return Ok(SnapshotCheck::Written);
    }
    let new = path.with_extension("snap.new");
    let Ok(old) = std::fs::read_to_string(path) else {
        write(&new)?;
        return Ok(SnapshotCheck::Missing(new));
    };
    if snapshot_body(&old).trim_end() == text.trim_end() {
        let _ = std::fs::remove_file(&new);
        Ok(SnapshotCheck::Matches)
    } else {
        write(&new)?;
        Ok(SnapshotCheck::Differs(new))
    }
}

/// The content of a `.snap` file: what follows its metadata block.
pub fn snapshot_body(file: &str) -> &str {
    let Some(rest) = file.strip_prefix("---\n") else { return file };
    match rest.find("\n---\n") {
        Some(i) => &rest[i + 5..],
        None => file,
    }
}
