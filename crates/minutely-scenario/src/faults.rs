//! The scenario's fault model: every entry of `[faults]` is one [`Fault`], and a run turns the
//! list into one [`Plan`] for its backend, the only place where faults meet backends. A fault
//! the backend cannot do is refused with the backend's name and the reason, never ignored.
//! The sim's own faults (`throttle_probability`, `put_entry_failures`, `put_answers_lost`,
//! `calls`, `expire_iterators`) are the sim's [`minutely_sim::faults::FaultSet`] words, put into
//! the sim by the same `apply`: `minutely sim --faults` and `/_sim/faults` take the same lines.
//!
//! ```toml
//! [faults]
//! throttle_probability = 0.3            # whole PutRecords calls throttled (both backends)
//! restart_consumer_after_objects = 4    # = kill_consumer = { after_objects = 4 }
//! kill_consumer = { after_objects = 4, at = "after_checkpoint" }   # or "before_checkpoint"
//! stall_consumer = { after_objects = 4, for = "6m" }   # paused, then on: its iterators expire (sim)
//! pause_worker = { after_objects = 6, for = "30s" }    # with workers: the first one paused past its lease (sim)
//! split_shard_after_events = 800        # the first open shard split in two (both)
//! merge_shards_after_events = 1600      # two adjacent open shards merged (both)
//! shard_count = { after_events = 500, to = 4 }   # UpdateShardCount (both)
//! put_entry_failures = { rate = 0.05, error = "ProvisionedThroughputExceededException" }  # sim
//! put_answers_lost = { rate = 0.02, as = "error500" }    # applied, answer lost: "drop" too (sim)
//! calls = [{ operation = "s3:PutObject", error_rate = 0.2, error = "unavailable", latency_ms = 40 }]
//! expire_iterators = 0.05               # GetRecords answers ExpiredIteratorException (sim)
//! empty_pages = 0.3                     # GetRecords answers an empty page while records remain (sim)
//! aws_limits = true                     # AWS's per-shard limits (sim; its default is on)
//! workers = 3                           # consumers sharing the stream through leases (both)
//! kill_worker_after_objects = 20        # the first worker dies (no release) after 20 objects
//! add_worker_after_events = 3000        # one more worker joins after 3000 events were put
//! lease = "30s"                         # with workers: the leases' duration (renewed each quarter; default 8s)
//! window = { after_events = 1000, until_events = 3000 }   # the sim's faults only then (sim)
//! ```

use std::collections::BTreeMap;

use minutely_consumer::output::CrashPoint;
// The sim's faults are written in the sim's own words (`minutely sim --faults` reads the same).
pub use minutely_sim::faults::{AnswersLost, CallFault, EntryFailures};
use serde::Deserialize;

use crate::backend::ScenarioBackend;

/// One fault of a scenario.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// This fraction of PutRecord(s) calls fail as a whole with
    /// `ProvisionedThroughputExceededException` (LocalStack's `KINESIS_ERROR_PROBABILITY`).
    ThrottleProbability(f64),
    /// The consumer dies after this many object writes, before their checkpoint.
    RestartConsumerAfterObjects(u64),
    /// The consumer dies at a chosen point and a new one takes over.
    KillConsumer(KillConsumer),
    /// The consumer stalls after some object writes (every call waits), then goes on.
    StallConsumer(StallConsumer),
    /// The first open shard is split in two after this many events were put.
    SplitShardAfterEvents(u64),
    /// The first two adjacent open shards are merged after this many events were put.
    MergeShardsAfterEvents(u64),
    /// UpdateShardCount (uniform scaling) after some events.
    ShardCount(ShardCount),
    /// Single PutRecords entries fail; the rest of the call is stored.
    PutEntryFailures(EntryFailures),
    /// PutRecords calls are applied but their answer is lost: the producer sends them again.
    PutAnswersLost(AnswersLost),
    /// Whole-call errors and latency per operation.
    Calls(Vec<CallFault>),
    /// This fraction of GetRecords calls answer `ExpiredIteratorException`.
    ExpireIterators(f64),
    /// This fraction of GetRecords calls with records to give answer an empty page.
    EmptyPages(f64),
    /// AWS's per-shard limits on or off.
    AwsLimits(bool),
    /// This many consumers share the stream through leases (`minutely_consumer::leasing`).
    Workers(usize),
    /// The first worker is killed once it has written this many objects: its output freezes,
    /// then its task is dropped (no release: as SIGKILL); the others take its shards when its
    /// leases expire.
    KillWorkerAfterObjects(u64),
    /// One more worker joins once this many events were put.
    AddWorkerAfterEvents(u64),
    /// With workers: how long a lease lasts unrenewed (renewed every quarter of it).
    Lease(#[serde(with = "crate::durations")] std::time::Duration),
    /// The first worker pauses after some object writes (every call through its output
    /// waits), then goes on: past its leases, the others take its shards.
    PauseWorker(StallConsumer),
    /// The sim's faults are on only from `after_events` events put until `until_events` (or the
    /// end of the run); the page shades the window.
    Window(Window),
    /// The sim's faults stop this long into the run (stream time): the liveness phase, where
    /// the run must settle within `[expect] settle`.
    HealAfter(#[serde(with = "crate::durations")] std::time::Duration),
}

/// The scenario's leases: shorter than the CLI's 10 s / 3 s, so that a killed worker's shards
/// move within seconds, and long enough for a busy LocalStack on two cores, where a round of
/// lease reads and writes can take a second or more (with 3 s / 1 s, renewals came late and
/// leases lapsed there: safe, counts exact, but the kill never fired).
pub const LEASES: minutely_consumer::lease::Timing =
    minutely_consumer::lease::Timing { duration_ms: 8_000, renew_ms: 2_000 };

/// `window = { after_events = 1000, until_events = 3000 }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub after_events: u64,
    pub until_events: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillConsumer {
    pub after_objects: u64,
    #[serde(default)]
    pub at: CrashPoint,
}

/// `stall_consumer = { after_objects = 4, for = "6m" }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StallConsumer {
    pub after_objects: u64,
    #[serde(rename = "for", with = "crate::durations")]
    pub duration: std::time::Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardCount {
    pub after_events: u64,
    pub to: i32,
}

impl Fault {
    /// The `[faults]` key it is written with.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::ThrottleProbability(_) => "throttle_probability",
            Fault::RestartConsumerAfterObjects(_) => "restart_consumer_after_objects",
            Fault::KillConsumer(_) => "kill_consumer",
            Fault::StallConsumer(_) => "stall_consumer",
            Fault::SplitShardAfterEvents(_) => "split_shard_after_events",
            Fault::MergeShardsAfterEvents(_) => "merge_shards_after_events",
            Fault::ShardCount(_) => "shard_count",
            Fault::PutEntryFailures(_) => "put_entry_failures",
            Fault::PutAnswersLost(_) => "put_answers_lost",
            Fault::Calls(_) => "calls",
            Fault::ExpireIterators(_) => "expire_iterators",
            Fault::EmptyPages(_) => "empty_pages",
            Fault::AwsLimits(_) => "aws_limits",
            Fault::Workers(_) => "workers",
            Fault::KillWorkerAfterObjects(_) => "kill_worker_after_objects",
            Fault::AddWorkerAfterEvents(_) => "add_worker_after_events",
            Fault::Lease(_) => "lease",
            Fault::PauseWorker(_) => "pause_worker",
            Fault::Window(_) => "window",
            Fault::HealAfter(_) => "heal_after",
        }
    }

    /// Reads the `[faults]` table: each key is one fault.
    pub fn parse_table(table: &toml::Table) -> Result<Vec<Fault>, String> {
        table
            .iter()
            .map(|(k, v)| {
                let one = toml::Table::from_iter([(k.clone(), v.clone())]);
                let fault = Fault::deserialize(toml::Value::Table(one)).map_err(|e| format!("[faults] {k}: {e}"))?;
                fault.check().map_err(|e| format!("[faults] {k}: {e}"))?;
                Ok(fault)
            })
            .collect()
    }

    fn check(&self) -> Result<(), String> {
        let fraction = |f: f64| {
            if (0.0..=1.0).contains(&f) { Ok(()) } else { Err(format!("{f} is not a fraction between 0 and 1")) }
        };
        match self {
            Fault::ThrottleProbability(p) | Fault::ExpireIterators(p) | Fault::EmptyPages(p) => fraction(*p),
            Fault::PutEntryFailures(f) => fraction(f.rate),
            Fault::PutAnswersLost(f) => fraction(f.rate),
            Fault::Calls(calls) => calls.iter().try_for_each(|c| fraction(c.error_rate)),
            Fault::ShardCount(c) if c.to < 1 => Err(format!("to = {}: at least 1 shard", c.to)),
            Fault::RestartConsumerAfterObjects(0) => Err("after 0 objects: at least 1".into()),
            Fault::KillConsumer(k) if k.after_objects == 0 => Err("after_objects = 0: at least 1".into()),
            Fault::StallConsumer(k) | Fault::PauseWorker(k) if k.after_objects == 0 => {
                Err("after_objects = 0: at least 1".into())
            }
            Fault::Workers(0) => Err("0 workers: at least 1".into()),
            Fault::KillWorkerAfterObjects(0) => Err("after 0 objects: at least 1".into()),
            Fault::Lease(d) if d.as_millis() < 400 => Err(format!("{d:?}: a lease lasts 400ms at least")),
            Fault::Window(Window { after_events, until_events: Some(until) }) if until <= after_events => {
                Err(format!("until_events = {until} is not after after_events = {after_events}"))
            }
            _ => Ok(()),
        }
    }

    /// Why `backend` cannot do this fault, if it cannot.
    fn refused_by(&self, backend: ScenarioBackend) -> Option<String> {
        let ScenarioBackend::LocalStack(ls) = backend else { return None };
        let no = |what: &str| Some(format!("LocalStack {what}; run it with --backend sim"));
        match self {
            Fault::ThrottleProbability(_) if ls == minutely_localstack::Backend::Endpoint => Some(
                "KINESIS_ERROR_PROBABILITY is set when LocalStack starts: the endpoint backend uses one already running"
                    .into(),
            ),
            Fault::PutEntryFailures(_) => no("cannot fail single PutRecords entries"),
            Fault::PutAnswersLost(_) => no("cannot apply a call and lose its answer"),
            Fault::Calls(_) => no("has no per-operation errors or latency"),
            Fault::ExpireIterators(_) => no("cannot expire iterators on demand (they live 5 minutes)"),
            Fault::EmptyPages(_) => no("answers no empty page while records remain"),
            Fault::AwsLimits(true) => no("enforces no per-shard limits"),
            Fault::Window(_) | Fault::HealAfter(_) => {
                no("takes its faults when it starts: it cannot switch them on and off")
            }
            Fault::StallConsumer(_) | Fault::PauseWorker(_) => no(
                "would hold the run for the whole stall on its real clock (a 6-minute stall is 6 minutes of CI)",
            ),
            _ => None,
        }
    }
}

/// A change of the stream's shards while the producer runs (carried out by `minutely-aws`).
pub use minutely_aws::kinesis::Reshard;

/// Every fault of a run, sorted by where it applies.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The sim's faults (unused on LocalStack).
    pub sim: minutely_sim::Faults,
    /// The sim's per-shard limits.
    pub sim_limits: bool,
    /// Settings LocalStack must start with.
    pub localstack_env: Vec<(String, String)>,
    /// Kill the consumer (and start another).
    pub kill_consumer: Option<KillConsumer>,
    /// Stall the consumer, then let it go on.
    pub stall_consumer: Option<StallConsumer>,
    /// Reshards, by the count of events put before them.
    pub reshards: Vec<(u64, Reshard)>,
    /// Several consumers sharing the stream through leases, with their kill and join.
    pub fleet: Option<Fleet>,
    /// The sim's faults only in this window of events put (off before it).
    pub window: Option<Window>,
    /// The sim's faults end this long into the run.
    pub heal_after: Option<std::time::Duration>,
}

/// Consumers sharing the stream through leases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fleet {
    /// Workers started at the beginning.
    pub workers: usize,
    /// The first worker dies once it has written this many objects.
    pub kill_after_objects: Option<u64>,
    /// One more worker joins once this many events were put.
    pub add_after_events: Option<u64>,
    /// The first worker pauses after some objects, for a while.
    pub pause: Option<StallConsumer>,
    /// A bug planted in every worker (tests only: [`crate::Scenario::planted`]).
    pub planted: Option<minutely_consumer::kinesis::Planted>,
    /// How long a lease lasts (default: [`LEASES`]'s).
    pub lease: Option<std::time::Duration>,
}

impl Fleet {
    fn one() -> Fleet {
        Fleet { workers: 1, ..Fleet::default() }
    }

    /// The leases' timing: `lease`, renewed every quarter of it, or [`LEASES`].
    pub fn timing(&self) -> minutely_consumer::lease::Timing {
        match self.lease {
            Some(d) => {
                let ms = d.as_millis() as u64;
                minutely_consumer::lease::Timing { duration_ms: ms, renew_ms: ms / 4 }
            }
            None => LEASES,
        }
    }
}

impl Plan {
    /// The plan of `faults` on `backend`, or the first fault it cannot do, named.
    pub fn new(faults: &[Fault], backend: ScenarioBackend, seed: u64) -> Result<Plan, String> {
        let mut plan = Plan { sim_limits: true, ..Plan::default() };
        plan.sim.seed = seed;
        for f in faults {
            if let Some(why) = f.refused_by(backend) {
                return Err(format!("[faults] {} is refused by the {backend} backend: {why}", f.name()));
            }
            match f {
                Fault::ThrottleProbability(p) => {
                    plan.localstack_env.push(("KINESIS_ERROR_PROBABILITY".into(), p.to_string()));
                    plan.sim.throttle_puts(*p);
                }
                Fault::RestartConsumerAfterObjects(n) => {
                    plan.kill_consumer = Some(KillConsumer { after_objects: *n, at: CrashPoint::BeforeCheckpoint })
                }
                Fault::KillConsumer(k) => plan.kill_consumer = Some(*k),
                Fault::StallConsumer(k) => plan.stall_consumer = Some(*k),
                Fault::SplitShardAfterEvents(n) => plan.reshards.push((*n, Reshard::Split)),
                Fault::MergeShardsAfterEvents(n) => plan.reshards.push((*n, Reshard::Merge)),
                Fault::ShardCount(c) => plan.reshards.push((c.after_events, Reshard::ShardCount(c.to))),
                Fault::PutEntryFailures(e) => e.apply(&mut plan.sim),
                Fault::PutAnswersLost(l) => l.apply(&mut plan.sim),
                Fault::Calls(calls) => calls.iter().for_each(|c| c.apply(&mut plan.sim)),
                Fault::ExpireIterators(p) => plan.sim.expire_iterators(*p),
                Fault::EmptyPages(p) => plan.sim.get_records.empty_page_rate = *p,
                Fault::AwsLimits(on) => plan.sim_limits = *on,
                Fault::Workers(n) => plan.fleet.get_or_insert_with(Fleet::one).workers = *n,
                Fault::KillWorkerAfterObjects(n) => {
                    plan.fleet.get_or_insert_with(Fleet::one).kill_after_objects = Some(*n)
                }
                Fault::AddWorkerAfterEvents(n) => plan.fleet.get_or_insert_with(Fleet::one).add_after_events = Some(*n),
                Fault::Lease(d) => plan.fleet.get_or_insert_with(Fleet::one).lease = Some(*d),
                Fault::PauseWorker(p) => plan.fleet.get_or_insert_with(Fleet::one).pause = Some(*p),
                Fault::Window(w) => plan.window = Some(*w),
                Fault::HealAfter(d) => plan.heal_after = Some(*d),
            }
        }
        if plan.stall_consumer.is_some() && (plan.kill_consumer.is_some() || plan.fleet.is_some()) {
            return Err("[faults] stall_consumer is for one consumer, without kill_consumer or workers".into());
        }
        if let Some(f) = plan.fleet {
            if plan.kill_consumer.is_some() {
                return Err(
                    "[faults] kill_consumer is for one consumer: with workers, use kill_worker_after_objects".into()
                );
            }
            if f.pause.is_some() && (f.kill_after_objects.is_some() || f.workers < 2) {
                return Err("[faults] pause_worker pauses the first of workers = 2 or more, without kill_worker_after_objects (both are about the first worker)".into());
            }
            if f.kill_after_objects.is_some() && f.workers < 2 && f.add_after_events.is_none() {
                return Err("[faults] kill_worker_after_objects needs another worker to take over: workers = 2 or more, or add_worker_after_events".into());
            }
        }
        plan.sim.validate()?;
        if plan.heal_after.is_some() && plan.window.is_some() {
            return Err("[faults] heal_after and window both switch the sim's faults off: give one".into());
        }
        if plan.heal_after.is_some() && plan.sim == plan.calm() {
            return Err("[faults] heal_after ends the sim's faults: give one (put_entry_failures, put_answers_lost, calls, expire_iterators, empty_pages, throttle_probability)".into());
        }
        if plan.window.is_some() && plan.sim == plan.calm() {
            return Err("[faults] window switches the sim's faults on and off: give one (put_entry_failures, put_answers_lost, calls, expire_iterators, empty_pages, throttle_probability)".into());
        }
        plan.reshards.sort_by_key(|(n, _)| *n);
        Ok(plan)
    }

    /// The sim's settings for this plan: whether AWS's limits are on, and its faults (none yet
    /// when they wait for their window).
    pub fn sim_config(&self) -> minutely_sim::Config {
        let faults = if self.window.is_some() { self.calm() } else { self.sim.clone() };
        minutely_sim::Config { limits: self.sim_limits, faults, ..minutely_sim::Config::default() }
    }

    /// No faults, with the plan's seed.
    pub fn calm(&self) -> minutely_sim::Faults {
        minutely_sim::Faults { seed: self.sim.seed, ..Default::default() }
    }

    /// What the sim must show for each injected fault to have happened at least once (a fault
    /// that never fired proves nothing): (what, how many times it happened).
    pub fn fired(&self, stats: &minutely_sim::Stats) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let f = &self.sim;
        if f.put_records.entry_failure_rate > 0.0 {
            out.push(("PutRecords entries failed by put_entry_failures".into(), stats.entries_failed_injected));
        }
        if f.put_records.answer_lost_rate > 0.0 {
            out.push(("PutRecords answers lost by put_answers_lost".into(), stats.answers_lost));
        }
        if f.get_records.expire_iterator_rate > 0.0 {
            out.push(("iterators expired by expire_iterators".into(), stats.iterators_expired));
        }
        if f.get_records.empty_page_rate > 0.0 {
            out.push(("GetRecords pages left empty by empty_pages".into(), stats.empty_pages_injected));
        }
        // An operation the run never called (PutRecord, when the producer uses PutRecords)
        // had no chance to fail.
        for (op, c) in &f.operations {
            if c.error_rate > 0.0 && of_operation(&stats.calls, op) > 0 {
                out.push((format!("{op} calls failed"), of_operation(&stats.errors_injected, op)));
            }
        }
        out
    }
}

/// The count of `op`, or of every operation of its service for `kinesis:*` / `s3:*`.
fn of_operation(counts: &BTreeMap<String, u64>, op: &str) -> u64 {
    match op {
        "s3:*" => counts.iter().filter(|(k, _)| k.starts_with("s3:")).map(|(_, n)| n).sum(),
        "kinesis:*" => counts.iter().filter(|(k, _)| !k.starts_with("s3:")).map(|(_, n)| n).sum(),
        _ => counts.get(op).copied().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use minutely_localstack::Backend;
    use minutely_sim::faults::{EntryError, ErrorKind, LostAnswer};

    use super::*;

    fn parse(text: &str) -> Result<Vec<Fault>, String> {
        Fault::parse_table(&text.parse::<toml::Table>().unwrap())
    }

    #[test]
    fn a_window_starts_the_sim_calm_needs_a_fault_and_is_the_sims_alone() {
        let lines = "put_entry_failures = { rate = 0.2 }\nwindow = { after_events = 10, until_events = 20 }";
        let plan = Plan::new(&parse(lines).unwrap(), ScenarioBackend::Sim, 4).unwrap();
        assert_eq!(plan.window, Some(Window { after_events: 10, until_events: Some(20) }));
        assert_eq!(
            plan.sim_config().faults,
            minutely_sim::Faults { seed: 4, ..Default::default() },
            "off until the window"
        );
        assert_eq!(plan.sim.put_records.entry_failure_rate, 0.2, "what the window switches on");
        let alone = Plan::new(&parse("window = { after_events = 10 }").unwrap(), ScenarioBackend::Sim, 4);
        assert!(alone.unwrap_err().contains("give one"));
        assert!(
            parse("put_entry_failures = { rate = 0.2 }\nwindow = { after_events = 10, until_events = 5 }")
                .unwrap_err()
                .contains("not after")
        );
        // A throttle LocalStack can do, but not in a window.
        let throttled = parse("throttle_probability = 0.2\nwindow = { after_events = 10 }").unwrap();
        let ls = Plan::new(&throttled, ScenarioBackend::LocalStack(Backend::Host), 4).unwrap_err();
        assert!(ls.contains("window is refused by the host backend"), "{ls}");
    }

    #[test]
    fn the_sims_faults_read_the_same_in_a_scenario_and_in_the_sim_api() {
        let lines = r#"
            throttle_probability = 0.3
            put_entry_failures = { rate = 0.05, error = "InternalFailure" }
            put_answers_lost = { rate = 0.02, as = "drop" }
            calls = [{ operation = "s3:PutObject", error_rate = 0.2, error = "unavailable", latency_ms = 40 }]
            expire_iterators = 0.05
        "#;
        let plan = Plan::new(&parse(lines).unwrap(), ScenarioBackend::Sim, 9).unwrap();
        let mut sim: minutely_sim::Faults = toml::from_str(lines).unwrap();
        sim.seed = 9;
        assert_eq!(plan.sim, sim, "`minutely sim --faults` and `[faults]` give the sim the same faults");
        let json: minutely_sim::Faults = serde_json::from_value(serde_json::to_value(&sim).unwrap()).unwrap();
        assert_eq!(json, sim, "what GET /_sim/faults says can be POSTed back");
    }

    #[test]
    fn a_stall_parses_with_its_duration_and_is_for_one_consumer() {
        let faults = parse(r#"stall_consumer = { after_objects = 4, for = "6m" }"#).unwrap();
        let plan = Plan::new(&faults, ScenarioBackend::Sim, 1).unwrap();
        let stall = plan.stall_consumer.unwrap();
        assert_eq!((stall.after_objects, stall.duration), (4, std::time::Duration::from_secs(360)));
        let with_kill =
            parse("stall_consumer = { after_objects = 4, for = \"6m\" }\nrestart_consumer_after_objects = 2");
        let err = Plan::new(&with_kill.unwrap(), ScenarioBackend::Sim, 1).unwrap_err();
        assert!(err.contains("stall_consumer is for one consumer"), "{err}");
        assert!(
            parse(r#"stall_consumer = { after_objects = 4, for = "soon" }"#).unwrap_err().contains("stall_consumer")
        );
    }

    #[test]
    fn every_fault_parses_from_its_key() {
        let faults = parse(
            r#"
            throttle_probability = 0.3
            kill_consumer = { after_objects = 4, at = "after_checkpoint" }
            split_shard_after_events = 800
            merge_shards_after_events = 1600
            shard_count = { after_events = 500, to = 4 }
            put_entry_failures = { rate = 0.05, error = "InternalFailure" }
            put_answers_lost = { rate = 0.02, as = "drop" }
            calls = [{ operation = "s3:PutObject", error_rate = 0.2, error = "unavailable", latency_ms = 40 }]
            expire_iterators = 0.05
            aws_limits = false
            "#,
        )
        .unwrap();
        assert_eq!(faults.len(), 10);
        let plan = Plan::new(&faults, ScenarioBackend::Sim, 7).unwrap();
        assert_eq!(plan.sim.seed, 7);
        assert!(!plan.sim_limits);
        assert_eq!(plan.sim.put_records.entry_error, EntryError::InternalFailure);
        assert_eq!(plan.sim.put_records.answer_lost_as, LostAnswer::Drop);
        assert_eq!(plan.sim.operation("s3:PutObject").unwrap().error, ErrorKind::Unavailable);
        assert_eq!(plan.sim.operation("PutRecords").unwrap().error, ErrorKind::Throttle);
        assert_eq!(plan.kill_consumer.unwrap().at, CrashPoint::AfterCheckpoint);
        let reshards: Vec<_> = plan.reshards.iter().map(|(n, _)| *n).collect();
        assert_eq!(reshards, [500, 800, 1600], "in the order the producer meets them");
        let called = minutely_sim::Stats {
            calls: [("PutRecords", 3), ("s3:PutObject", 2)].map(|(op, n)| (op.to_owned(), n)).into(),
            ..Default::default()
        };
        let fired = plan.fired(&called);
        assert_eq!(fired.len(), 5, "each rated fault called must be seen firing: {fired:?}");
        assert!(fired.iter().all(|(_, n)| *n == 0));
    }

    #[test]
    fn the_old_keys_keep_their_meaning() {
        let faults = parse("restart_consumer_after_objects = 4\nthrottle_probability = 0.3").unwrap();
        let plan = Plan::new(&faults, ScenarioBackend::LocalStack(Backend::Host), 1).unwrap();
        assert_eq!(plan.kill_consumer, Some(KillConsumer { after_objects: 4, at: CrashPoint::BeforeCheckpoint }));
        assert_eq!(plan.localstack_env, [("KINESIS_ERROR_PROBABILITY".to_owned(), "0.3".to_owned())]);
    }

    #[test]
    fn a_fault_a_backend_cannot_do_is_refused_by_name() {
        let host = ScenarioBackend::LocalStack(Backend::Host);
        for (text, words) in [
            ("put_entry_failures = { rate = 0.1 }", "put_entry_failures is refused by the host backend"),
            ("put_answers_lost = { rate = 0.1 }", "put_answers_lost"),
            ("calls = [{ operation = \"GetRecords\", error_rate = 0.1, error = \"throttle\" }]", "calls"),
            ("expire_iterators = 0.1", "expire_iterators"),
            ("aws_limits = true", "no per-shard limits"),
        ] {
            let e = Plan::new(&parse(text).unwrap(), host, 1).unwrap_err();
            assert!(e.contains(words) && e.contains("--backend sim"), "{text}: {e}");
            Plan::new(&parse(text).unwrap(), ScenarioBackend::Sim, 1).unwrap();
        }
        let endpoint = ScenarioBackend::LocalStack(Backend::Endpoint);
        let e = Plan::new(&parse("throttle_probability = 0.1").unwrap(), endpoint, 1).unwrap_err();
        assert!(e.contains("endpoint backend"), "{e}");
        assert!(Plan::new(&parse("aws_limits = false").unwrap(), host, 1).is_ok(), "nothing to turn off");
    }

    #[test]
    fn bad_faults_say_which_and_why() {
        for (text, words) in [
            ("throttle_probability = 1.5", "[faults] throttle_probability: 1.5 is not a fraction"),
            ("shard_count = { after_events = 5, to = 0 }", "at least 1 shard"),
            ("kill_consumer = { after_objects = 2, at = \"later\" }", "[faults] kill_consumer: unknown variant"),
            ("split_shard = 3", "[faults] split_shard: unknown variant"),
            ("put_entry_failures = { rate = 0.1, errors = \"x\" }", "unknown field"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(words), "{text}: {e}");
        }
    }

    #[test]
    fn workers_make_a_fleet_and_a_kill_needs_someone_to_take_over() {
        let faults = parse("workers = 3\nkill_worker_after_objects = 4\nadd_worker_after_events = 600").unwrap();
        let plan = Plan::new(&faults, ScenarioBackend::Sim, 1).unwrap();
        assert_eq!(
            plan.fleet,
            Some(Fleet { workers: 3, kill_after_objects: Some(4), add_after_events: Some(600), ..Fleet::default() })
        );
        let alone = parse("kill_worker_after_objects = 4").unwrap();
        let err = Plan::new(&alone, ScenarioBackend::Sim, 1).unwrap_err();
        assert!(err.contains("needs another worker to take over"), "{err}");
        let joined = parse("kill_worker_after_objects = 4\nadd_worker_after_events = 10").unwrap();
        assert_eq!(Plan::new(&joined, ScenarioBackend::Sim, 1).unwrap().fleet.unwrap().workers, 1);
        let both = parse("workers = 2\nrestart_consumer_after_objects = 4").unwrap();
        assert!(Plan::new(&both, ScenarioBackend::Sim, 1).unwrap_err().contains("use kill_worker_after_objects"));
        assert!(parse("workers = 0").unwrap_err().contains("at least 1"));
        // Both backends keep leases in S3 with conditional writes.
        let ls = ScenarioBackend::LocalStack(Backend::Host);
        assert!(Plan::new(&faults, ls, 1).is_ok());
    }
}
