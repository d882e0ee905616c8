//! `scenarios/fault-window.toml`: the sim's faults switched on after 2,000 events put and off
//! after 4,000. The run's markers say when, every injected failure (and so every retry) falls
//! inside the window, and the counts are exact.

use std::path::Path;

use minutely_scenario::{Progress, RunOptions, Scenario};

#[test]
fn faults_fire_only_inside_their_window() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let s = Scenario::load(&root.join("scenarios/fault-window.toml")).unwrap();
    let options = RunOptions::on_sim(&root, &root.join("scenarios/snapshots")).unwrap();
    let runtime = options.runtime_for(&s).unwrap();
    let report = runtime.block_on(minutely_scenario::run(&s, &options, &Progress::default())).unwrap();
    assert!(report.passed, "{}", report.render());
    let at = |what: &str| report.markers.iter().find(|m| m.what == what).map(|m| m.second);
    let (on, off) = (at("faults on").expect("opened"), at("faults off").expect("closed"));
    // 2,000 events at 1,000/s: the window opens about two seconds in and lasts about two.
    assert!(on > 1.0 && off > on + 1.0, "on {on}, off {off}");
    let sim = report.sim.as_ref().expect("on the sim");
    assert!(sim.entries_failed_injected > 0, "the faults fired");
    // Retries are what the failures cause: none before the window opens, none long after it.
    for s in report.throughput.iter().filter(|s| s.retried > 0) {
        let second = s.second as f64;
        assert!(second + 1.0 >= on && second <= off + 2.0, "a retry at {second} s, outside [{on}, {off}]");
    }
    assert_eq!(report.counted, report.events, "exact despite the faults");
}
