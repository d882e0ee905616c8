//! The kit's demonstration, checked exactly: `scenarios/own-producer-naive.toml` runs a boto3
//! producer (`examples/pipelines/naive_producer.py`, which never reads `FailedRecordCount`)
//! against the sim. Every entry the sim refused (failed by the dice or throttled by AWS's
//! per-shard limits) is never sent again, so the events the run names as lost must be exactly
//! as many as the sim's ledger says it refused, and the events it counted exactly those stored.
//! `scenarios/own-producer-unordered.toml`: a producer that breaks per-key order is named.

use std::path::Path;

use minutely_check::Anomaly;
use minutely_scenario::{Progress, Report, RunOptions, Scenario, ScenarioBackend};

/// Runs `scenarios/NAME.toml` on the sim with a Python that has boto3 first on the PATH.
fn run(name: &str) -> Report {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let s = Scenario::load(&root.join(format!("scenarios/{name}.toml"))).unwrap();
    let localstack = minutely_localstack::Options::from_env().unwrap();
    // A Python with boto3: the venv LocalStack's host backend installs.
    let python = minutely_localstack::host::ensure_installed(&localstack).unwrap().python;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let bin = python.parent().unwrap().to_owned();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&path))).unwrap();
    let options = RunOptions {
        root: root.clone(),
        snapshots: root.join("scenarios/snapshots"),
        update_snapshots: false,
        backend: Some(ScenarioBackend::Sim),
        localstack,
        interrupt: None,
        clock: None,
        program_env: vec![("PATH".into(), path.to_string_lossy().into_owned())],
    };
    let runtime = options.runtime_for(&s).unwrap();
    runtime.block_on(minutely_scenario::run(&s, &options, &Progress::default())).unwrap()
}

#[test]
fn the_naive_producers_loss_is_what_the_sim_refused() {
    let report = run("own-producer-naive");
    let history = report.history.as_ref().expect("the programs ran");
    let producer = history.producer.as_ref().expect("the producer ran");
    assert!(producer.succeeded(), "{producer:?}");
    let h = history.stream.as_ref().expect("the stream was checked");
    let ledger = h.ledger.clone().expect("the sim's ledger");
    let lost = &h.verdict.classes[&Anomaly::Lost];
    assert!(lost.count > 0);
    assert_eq!(lost.count, ledger.entries_failed_injected + ledger.entries_throttled, "{}", report.render());
    assert_eq!(ledger.entries_ambiguous, 0, "no answer was lost: nothing was stored twice");
    assert_eq!(h.verdict.stored, ledger.entries_stored);
    assert_eq!(report.counted, h.verdict.ok, "minutely's consumer counted every stored event once");
    assert_eq!(h.failed, [Anomaly::Lost]);
    assert!(!report.passed);
    // The witnesses name lost events by id, in input order.
    let ids: Vec<&str> = lost.witnesses.iter().map(|w| w.id.as_str()).collect();
    assert!(ids.iter().all(|id| id.starts_with("g26-")), "{ids:?}");
}

/// `scenarios/own-producer-unordered.toml`: the careful producer with 8 partition keys re-sends
/// refused entries after later ones of their key. It loses nothing; the events stored out of
/// their key's order are named, and only a re-sent event can be one: at most as many as the
/// entries the sim refused.
#[test]
fn a_producer_that_resends_after_later_entries_is_found_reordered() {
    let report = run("own-producer-unordered");
    let history = report.history.as_ref().expect("the programs ran");
    assert!(history.producer.as_ref().expect("the producer ran").succeeded());
    let h = history.stream.as_ref().expect("the stream was checked");
    let ledger = h.ledger.clone().expect("the sim's ledger");
    let reordered = &h.verdict.classes[&Anomaly::Reordered];
    assert!(reordered.count > 0, "{}", report.render());
    assert!(reordered.count <= ledger.entries_failed_injected + ledger.entries_throttled);
    assert_eq!(h.verdict.classes[&Anomaly::Lost].count, 0);
    assert_eq!(h.failed, [Anomaly::Reordered]);
    assert!(!report.passed);
}
