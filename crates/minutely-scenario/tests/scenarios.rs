//! Every `scenarios/*.toml` is a test case: run through a LocalStack the run starts (or the
//! endpoint in `AWS_ENDPOINT_URL`), checked against the counting model, its snapshot
//! (`scenarios/snapshots/<name>.snap`) and its latency limits. One after the other: each
//! scenario provisions its own LocalStack, and two at once would measure each other.

use std::path::Path;

use minutely_scenario::{Progress, RunOptions, Scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("scenarios");
    let scenarios = Scenario::all(&dir).unwrap();
    assert!(scenarios.len() >= 8, "the shipped scenarios are found: {}", scenarios.len());
    let options = RunOptions {
        root: root.clone(),
        snapshots: dir.join("snapshots"),
        update_snapshots: false,
        backend: None,
        localstack: minutely_localstack::Options::from_env().unwrap(),
        interrupt: None,
    };
    let mut failed = Vec::new();
    let mut aggregates = Vec::new();
    for s in &scenarios {
        let report = minutely_scenario::run(s, &options, &Progress::default()).await;
        match report {
            Ok(r) => {
                println!("{}", r.render());
                if let Some(name) = s.snapshot_name() {
                    aggregates.push((s, name, r.aggregates.clone()));
                }
                if !r.passed {
                    failed.push(format!("{}: {}", s.name, r.failures.join("; ")));
                }
            }
            Err(e) => failed.push(format!("{}: {e:#}", s.name)),
        }
    }
    assert!(failed.is_empty(), "failed scenarios:\n{}", failed.join("\n"));
    // The runner compared the aggregates with the snapshots already; this makes a mismatch
    // reviewable with `cargo insta review` too.
    for (s, name, text) in aggregates {
        insta::with_settings!({
            snapshot_path => dir.join("snapshots"),
            prepend_module_to_snapshot => false,
            input_file => &s.path,
        }, {
            insta::assert_snapshot!(name, text);
        });
    }
}
