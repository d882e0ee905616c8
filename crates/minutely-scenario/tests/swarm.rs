//! The swarm finds a failure planted in one range of a scenario's faults, stops taking seeds
//! there, and the command it prints replays that failure exactly: the same failure, the same
//! sim state at the end. Two plants: a fault range that slows S3 past the latency limit, and a
//! bug planted in the consumer (a worker that flushes its windows when it loses its lease).
//!
//! The plant: S3 writes slowed by a latency drawn per seed from 0 to 1.2 s (the writes of a
//! minute queue behind each other), against a p99 limit of 10 s on the whole path. Seeds that draw a short latency pass; the first seed whose
//! draw pushes the path past the limit must be found, and nothing below it may have failed.

use std::path::Path;

use minutely_consumer::kinesis::Planted;
use minutely_scenario::swarm::{one, swarm};
use minutely_scenario::{ClockMode, RunOptions, Scenario};

const PLANTED: &str = r#"
description = "smoke, with S3 writes slowed by a latency drawn per seed"
backend = "sim"

[input]
seed = 1
count = 1500
span = "3m"
rate = 1000.0
dims = ["country=12:zipf:1.1", "device=3"]
jitter = "5s"

[pipeline]
shards = 2
key = ["country"]
idle_timeout = "3s"

[faults]
calls = [{ operation = "s3:PutObject", latency_ms = [0, 1200] }]

[expect]
snapshot = false
latency_p99 = "10s"
timeout = "5m"
"#;

/// Runs the seed that `replay` (a printed command) names alone, on virtual time: it must fail
/// as the swarm's run did, with the same sim state at the end.
fn replays(s: &Scenario, first: &minutely_scenario::swarm::SeedRun, options: RunOptions) {
    let seed: u64 = first.replay.rsplit_once("--seed ").unwrap().1.trim().parse().unwrap();
    assert_eq!(seed, first.seed);
    assert!(first.replay.contains("--clock virtual") && first.replay.contains("--backend sim"), "{}", first.replay);
    let replay_options = RunOptions { clock: Some(ClockMode::Virtual), ..options };
    let again = one(s, seed, &replay_options).unwrap();
    assert!(!again.passed);
    assert_eq!(again.failures, first.failures);
    assert_eq!(again.state_sha256, first.state_sha256);
    assert!(again.state_sha256.is_some());
}

#[test]
fn a_worker_that_flushes_on_lease_loss_is_found_and_its_printed_command_replays_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut s = Scenario::load(&root.join("scenarios/lease-pause.toml")).unwrap();
    let options = RunOptions::on_sim(&root, &root.join("scenarios/snapshots")).unwrap();
    // Unplanted, the first seeds pass (CI runs 200 of them).
    let clean = swarm(&s, 1..=6, 2, &options, &|_| {}).unwrap();
    assert!(clean.first_failure.is_none(), "{}", clean.render());
    s.planted = Some(Planted::FlushOnLeaseLoss);
    let found = swarm(&s, 1..=60, 2, &options, &|_| {}).unwrap();
    println!("{}", found.render());
    let first = found.first_failure.clone().expect("the planted bug is found within 60 seeds");
    assert!(first.failures.iter().any(|f| f.starts_with("fence: ")), "the fence check names it: {:?}", first.failures);
    assert!(found.each.iter().filter(|r| r.seed < first.seed).all(|r| r.passed), "it is the first");
    replays(&s, &first, options);
}

#[test]
fn a_planted_failure_is_found_and_its_printed_command_replays_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("target/tests-swarm");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("planted.toml");
    std::fs::write(&path, PLANTED).unwrap();
    let s = Scenario::load(&path).unwrap();
    let options = RunOptions::on_sim(&root, &dir).unwrap();
    let found = swarm(&s, 1..=60, 2, &options, &|_| {}).unwrap();
    println!("{}", found.render());
    let first = found.first_failure.clone().expect("the planted failure is found within 60 seeds");
    assert!(first.failures.iter().any(|f| f.starts_with("latency p99")), "{:?}", first.failures);
    assert!(found.each.iter().filter(|r| r.seed < first.seed).all(|r| r.passed), "it is the first");
    assert!(found.each.iter().any(|r| r.passed), "some draws pass: the failure is the draw's, not the scenario's");
    // Seeds 1 to 20 draw latencies the path absorbs (measured: seed 21 is the first to fail).
    assert!(first.seed > 5, "many draws pass before the plant is hit: {}", first.seed);
    assert!(found.runs < 60, "the swarm stopped taking seeds at the failure: {} runs", found.runs);

    // The printed command, as a person would run it: its seed, on virtual time.
    replays(&s, &first, options);
}
