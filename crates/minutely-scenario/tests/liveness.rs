//! `scenarios/liveness.toml`: a storm that heals 40 s in, after which the run must settle within
//! `[expect] settle`. It does with 15 s; asked to settle within 1 s (less than the readers'
//! backoff and the windows' idle timeout), the run fails with what was still moving, not with a
//! timeout.

use std::path::Path;
use std::time::Duration;

use minutely_scenario::{Progress, Report, RunOptions, Scenario};

fn run(s: &Scenario, root: &Path) -> Report {
    let options = RunOptions::on_sim(root, &root.join("scenarios/snapshots")).unwrap();
    let runtime = options.runtime_for(s).unwrap();
    runtime.block_on(minutely_scenario::run(s, &options, &Progress::default())).unwrap()
}

#[test]
fn the_run_settles_after_the_heal_or_says_what_still_moves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut s = Scenario::load(&root.join("scenarios/liveness.toml")).unwrap();
    let report = run(&s, &root);
    assert!(report.passed, "{}", report.render());
    let healed = report.markers.iter().find(|m| m.what == "faults healed").expect("healed").second;
    assert!((39.9..=40.1).contains(&healed), "at 40 s of virtual time: {healed}");
    assert!(report.run_seconds <= healed.max(report.produce_seconds) + 15.0 + 5.0, "{}", report.run_seconds);

    s.expect.settle = Some(Duration::from_secs(1));
    let report = run(&s, &root);
    assert!(!report.passed);
    let unsettled =
        report.failures.iter().find(|f| f.starts_with("not settled within 1s of the faults healing (40s in)"));
    let unsettled = unsettled.unwrap_or_else(|| panic!("{:?}", report.failures));
    assert!(unsettled.contains("still moving: ") && unsettled.contains("windows open"), "{unsettled}");
    assert!(!report.failures.iter().any(|f| f.starts_with("timed out")), "{:?}", report.failures);
}
