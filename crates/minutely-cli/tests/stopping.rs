//! However `minutely scenario` is stopped, no LocalStack process outlives it: SIGKILL (no
//! handler runs) and SIGTERM, sent while the scenario runs, with the real binary.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Live processes whose environment marks them as part of a LocalStack instance whose id
/// starts with `prefix` (unnamed instances are `p<owner pid>-<n>`).
fn marked(prefix: &str) -> Vec<i32> {
    let marker = format!("MINUTELY_LOCALSTACK_INSTANCE={prefix}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| minutely_localstack::host::alive(*pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|kv| kv.starts_with(marker.as_bytes())))
        })
        .collect()
}

fn killed_while_running_leaves_nothing(signal: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_minutely"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .args(["scenario", "smoke", "--backend", "host"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let prefix = format!("p{}-", child.id());
    // Until LocalStack runs (the first start on a machine installs it: minutes).
    let deadline = Instant::now() + Duration::from_secs(600);
    while marked(&prefix).is_empty() {
        assert!(child.try_wait().unwrap().is_none(), "the scenario ended before LocalStack ran");
        assert!(Instant::now() < deadline, "LocalStack did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert!(Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !marked(&prefix).is_empty() {
        assert!(Instant::now() < deadline, "{signal}: LocalStack processes left 10 s later: {:?}", marked(&prefix));
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_scenario_killed_with_sigkill_leaves_no_localstack_behind() {
    killed_while_running_leaves_nothing("-KILL");
}

#[test]
fn a_scenario_stopped_with_sigterm_leaves_no_localstack_behind() {
    killed_while_running_leaves_nothing("-TERM");
}
