//! Many seeds of one scenario: `minutely scenario NAME --seeds 1..200`. Each seed is one run on
//! virtual time (its generated events, its faults' ranges drawn, every jitter), the runs spread
//! over the machine's cores, each on its own thread and runtime. The swarm stops taking seeds at
//! the first failure, names the lowest seed that failed with the one command that replays it,
//! and says what the runs covered: how many reached each interesting case (a reshard, a
//! handover, an expired iterator, an ambiguous put...), so that a scenario that never reached
//! the case it was written for says so.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;

use crate::clock::ClockMode;
use crate::report::Report;
use crate::run::{Progress, RunOptions};
use crate::spec::Scenario;

/// One seed's run, in a line.
#[derive(Clone, Debug, Serialize)]
pub struct SeedRun {
    pub seed: u64,
    pub passed: bool,
    pub failures: Vec<String>,
    /// Seconds of virtual time, and of wall time.
    pub virtual_seconds: f64,
    pub wall_seconds: f64,
    /// What it reached: each case and how many times; `aimed`, the cases its faults aim at
    /// (its "fault fired", "worker killed"... checks).
    pub reached: BTreeMap<String, u64>,
    pub aimed: BTreeMap<String, u64>,
    pub replay: String,
    /// The sim's state at the end ([`crate::Replay::state_sha256`]): its replay must agree.
    pub state_sha256: Option<String>,
}

/// A case and the runs that reached it.
#[derive(Clone, Debug, Serialize)]
pub struct Covered {
    pub case: String,
    /// One of the cases the scenario's faults aim at.
    pub aimed: bool,
    /// Runs that reached it at least once, of `runs`.
    pub runs_reached: u64,
    /// Times it happened over every run.
    pub times: u64,
}

/// What a swarm found.
#[derive(Clone, Debug, Serialize)]
pub struct SwarmReport {
    pub scenario: String,
    pub seeds: String,
    pub runs: u64,
    pub passed: u64,
    /// The lowest seed that failed, with its failures and the command that replays it.
    pub first_failure: Option<SeedRun>,
    pub covered: Vec<Covered>,
    pub wall_seconds: f64,
    /// Each run, by seed.
    pub each: Vec<SeedRun>,
}

/// The cases a run can reach, from its report: (name, times).
pub fn reached(r: &Report) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: u64| {
        m.insert(k.to_owned(), v);
    };
    put("reshards", r.reshards.len() as u64);
    put("consumer restarts", r.consumer_restarts);
    put("put retries", r.put_retries);
    put("duplicates dropped", r.duplicates_dropped);
    if let Some(w) = &r.workers {
        put("workers killed", w.killed);
        put("workers added", w.added);
        put("leases stolen", w.leases.stolen);
        put("leases handed over", w.leases.handed_over);
        put("leases lost", w.leases.lost);
    }
    if let Some(s) = &r.sim {
        put("entries throttled", s.limits.entries_throttled);
        put("entries failed (injected)", s.entries_failed_injected);
        put("ambiguous puts (answers lost)", s.answers_lost);
        put("iterators expired", s.iterators_expired);
        put("iterators aged out", s.iterators_aged_out);
        put("empty pages", s.empty_pages);
        put("calls failed (injected)", s.errors_injected.values().sum());
        put("on-demand splits", s.limits.on_demand_splits);
    }
    m
}

/// The cases the scenario's faults aim at, from the report's checks that they fired ("fault
/// fired: ...", "consumer killed and restarted", "worker killed", "worker added", a stall or a
/// pause): (case, times).
pub fn aimed(r: &Report) -> BTreeMap<String, u64> {
    let aims = |name: &str| {
        name.starts_with("fault fired: ")
            || [
                "consumer killed and restarted",
                "consumer stalled past its iterators",
                "worker killed",
                "worker added",
                "worker paused past its lease",
            ]
            .contains(&name)
    };
    r.checks
        .iter()
        .filter(|c| aims(&c.name))
        .map(|c| {
            let n = c.measured.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
            (c.name.trim_start_matches("fault fired: ").to_owned(), n)
        })
        .collect()
}

/// `1..200` (inclusive, as the issue and a person write it) or `7`.
pub fn parse_seeds(text: &str) -> Result<RangeInclusive<u64>, String> {
    let bad = || format!("{text:?}: seeds are FIRST..LAST (1..200) or one seed");
    match text.split_once("..") {
        Some((a, b)) => {
            let (a, b): (u64, u64) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
            if a > b {
                return Err(format!("{text:?}: the first seed is after the last"));
            }
            Ok(a..=b)
        }
        None => text.trim().parse().map(|n| n..=n).map_err(|_| bad()),
    }
}

/// Runs `s` once per seed of `seeds` on `jobs` threads, on virtual time; `on_run` is told of
/// each run as it ends. Refused (before anything runs) where the scenario cannot be on virtual
/// time.
pub fn swarm(
    s: &Scenario,
    seeds: RangeInclusive<u64>,
    jobs: usize,
    opts: &RunOptions,
    on_run: &(dyn Fn(&SeedRun) + Sync),
) -> anyhow::Result<SwarmReport> {
    let backend = opts.backend.unwrap_or(s.backend);
    if s.clock_on(backend, Some(ClockMode::Virtual)).is_err() || opts.clock == Some(ClockMode::Real) {
        anyhow::bail!(
            "scenario {}: --seeds runs on virtual time, on the sim and without the user's programs (--backend sim)",
            s.name
        );
    }
    let opts = RunOptions { clock: Some(ClockMode::Virtual), ..opts.clone() };
    let wall = std::time::Instant::now();
    let next = AtomicU64::new(*seeds.start());
    let failed = AtomicBool::new(false);
    let done: Mutex<Vec<SeedRun>> = Mutex::new(Vec::new());
    let error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                while !failed.load(Ordering::SeqCst) {
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    if seed > *seeds.end() {
                        break;
                    }
                    match one(s, seed, &opts) {
                        Ok(run) => {
                            on_run(&run);
                            if !run.passed {
                                failed.store(true, Ordering::SeqCst);
                            }
                            done.lock().expect("swarm lock").push(run);
                        }
                        Err(e) => {
                            failed.store(true, Ordering::SeqCst);
                            error.lock().expect("swarm lock").get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = error.into_inner().expect("swarm lock") {
        return Err(e);
    }
    let mut each = done.into_inner().expect("swarm lock");
    each.sort_by_key(|r| r.seed);
    Ok(summary(s, &seeds, each, wall.elapsed().as_secs_f64()))
}

/// One seed on its own runtime, on virtual time (`opts.clock` must allow it).
pub fn one(s: &Scenario, seed: u64, opts: &RunOptions) -> anyhow::Result<SeedRun> {
    let s = s.clone().with_seed(seed)?;
    let runtime = ClockMode::Virtual.runtime()?;
    let report = runtime.block_on(crate::run::run(&s, opts, &Progress::default()))?;
    Ok(SeedRun {
        seed,
        passed: report.passed,
        failures: report.failures.clone(),
        virtual_seconds: report.run_seconds,
        wall_seconds: report.wall.run_seconds,
        reached: reached(&report),
        aimed: aimed(&report),
        replay: report.replay.command.clone(),
        state_sha256: report.replay.state_sha256.clone(),
    })
}

fn summary(s: &Scenario, seeds: &RangeInclusive<u64>, each: Vec<SeedRun>, wall_seconds: f64) -> SwarmReport {
    let mut covered: BTreeMap<(bool, String), Covered> = BTreeMap::new();
    for run in &each {
        let cases = run.aimed.iter().map(|c| (true, c)).chain(run.reached.iter().map(|c| (false, c)));
        for (aimed, (case, n)) in cases {
            let c = covered.entry((!aimed, case.clone())).or_insert(Covered {
                case: case.clone(),
                aimed,
                runs_reached: 0,
                times: 0,
            });
            c.runs_reached += u64::from(*n > 0);
            c.times += n;
        }
    }
    SwarmReport {
        scenario: s.name.clone(),
        seeds: format!("{}..{}", seeds.start(), seeds.end()),
        runs: each.len() as u64,
        passed: each.iter().filter(|r| r.passed).count() as u64,
        first_failure: each.iter().find(|r| !r.passed).cloned(),
        covered: covered.into_values().collect(),
        wall_seconds,
        each,
    }
}

impl SwarmReport {
    /// The summary: the verdict, what was covered (and what never was), the failure and its
    /// replay.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let verdict = if self.first_failure.is_none() { "PASSED" } else { "FAILED" };
        o.push_str(&format!(
            "swarm {} seeds {}: {verdict}: {} runs, {} passed, in {:.1} s of wall time\n",
            self.scenario, self.seeds, self.runs, self.passed, self.wall_seconds
        ));
        for c in self.covered.iter().filter(|c| c.runs_reached > 0) {
            let aim = if c.aimed { "aimed at, " } else { "" };
            o.push_str(&format!(
                "  covered: {} in {} of {} runs ({aim}{} times)\n",
                c.case, c.runs_reached, self.runs, c.times
            ));
        }
        let never = |aimed: bool| -> Vec<&str> {
            self.covered.iter().filter(|c| c.runs_reached == 0 && c.aimed == aimed).map(|c| c.case.as_str()).collect()
        };
        if !never(true).is_empty() {
            o.push_str(&format!(
                "  NEVER REACHED, though the scenario's faults aim at it: {} (the swarm proves nothing about it)\n",
                never(true).join(", ")
            ));
        }
        if !never(false).is_empty() {
            o.push_str(&format!("  not reached either: {}\n", never(false).join(", ")));
        }
        if let Some(f) = &self.first_failure {
            o.push_str(&format!("  first failure: seed {}: {}\n", f.seed, f.failures.join("; ")));
            o.push_str(&format!("  replay: {}\n", f.replay));
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_a_range_or_one() {
        assert_eq!(parse_seeds("1..200"), Ok(1..=200));
        assert_eq!(parse_seeds("7"), Ok(7..=7));
        assert!(parse_seeds("9..3").unwrap_err().contains("after the last"));
        assert!(parse_seeds("a..3").unwrap_err().contains("FIRST..LAST"));
    }
}
