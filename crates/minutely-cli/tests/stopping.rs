//! However `minutely scenario` is stopped, it ends promptly and no LocalStack process outlives
//! it: SIGINT and SIGTERM stop the run within 5 s with a partial report (exit 130 / 143),
//! SIGKILL leaves the cleaning to LocalStack's watchdog, and the scenario's timeout bounds the
//! whole run. With the real binary and a host LocalStack; and on the sim's virtual time,
//! where a signal stops the run as it does on the machine's clock.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Live processes whose environment marks them as part of a LocalStack instance whose id
/// starts with `prefix` (unnamed instances are `p<owner pid>-<n>`).
fn marked(prefix: &str) -> Vec<i32> {
    let instances = minutely_localstack::host::instances();
    instances.into_iter().filter(|f| f.id.starts_with(prefix)).flat_map(|f| f.pids).collect()
}

/// A scenario on a host LocalStack that produces for minutes (100,000 events at 200/s), in a
/// folder of its own.
fn slow_scenario(name: &str, timeout: &str) -> PathBuf {
    slow_scenario_on(name, timeout, "host", SLOW_EVENTS)
}

/// Events of [`slow_scenario`].
const SLOW_EVENTS: u64 = 100_000;

/// [`slow_scenario`] on `backend` with `count` events at 200/s.
fn slow_scenario_on(name: &str, timeout: &str, backend: &str, count: u64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("minutely-stopping-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.toml"));
    let toml = format!(
        "description = \"slow\"\nbackend = \"{backend}\"\n[input]\nseed = 1\ncount = {count}\nspan = \"10m\"\nrate = 200.0\n\
         dims = [\"country=3\"]\n[pipeline]\nshards = 1\nkey = [\"country\"]\n[expect]\nsnapshot = false\ntimeout = \"{timeout}\"\n"
    );
    std::fs::write(&path, toml).unwrap();
    path
}

/// One scenario at a time: four LocalStacks starting at once on two cores measure each other.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Starts `minutely scenario FILE --report REPORT` and waits until it produces (its progress
/// line, every ten seconds off a terminal, says so). Returns it, its instance id prefix, and
/// its stderr lines so far and to come.
fn start_producing(scenario: &Path, report: &Path) -> (Child, String, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_minutely"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .arg("scenario")
        .arg(scenario)
        .arg("--report")
        .arg(report)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let prefix = format!("p{}-", child.id());
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The first start on a machine installs LocalStack: minutes.
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("not producing: {seen:?}"));
        let producing = line.contains("producing and consuming: produced");
        seen.push(line);
        if producing {
            break;
        }
    }
    let (tx, rest) = std::sync::mpsc::channel();
    for line in seen {
        let _ = tx.send(line);
    }
    std::thread::spawn(move || {
        for line in rx {
            let _ = tx.send(line);
        }
    });
    (child, prefix, rest)
}

fn nothing_left_within_10s(prefix: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !marked(prefix).is_empty() {
        assert!(Instant::now() < deadline, "{what}: LocalStack processes left 10 s later: {:?}", marked(prefix));
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn signal(child: &Child, signal: &str) {
    assert!(Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
}

fn stopped_gracefully(sig: &str, code: i32, name: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let scenario = slow_scenario(name, "10m");
    let report_path = scenario.with_extension("json");
    let (child, prefix, stderr_lines) = start_producing(&scenario, &report_path);
    let sent_at = Instant::now();
    signal(&child, sig);
    let out = child.wait_with_output().unwrap();
    let took = sent_at.elapsed();
    let stderr: String = stderr_lines.try_iter().collect::<Vec<_>>().join("\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(code), "{stdout}\n{stderr}");
    assert!(took < Duration::from_secs(5), "stopped {took:?} after {sig}: {stderr}");
    assert!(stdout.contains(&format!("scenario {name}: INTERRUPTED")), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    let reason = report["interrupted"].as_str().unwrap();
    let signal_name = if code == 130 { "SIGINT" } else { "SIGTERM" };
    assert!(reason.starts_with(&format!("interrupted by {signal_name} while producing and consuming: ")), "{reason}");
    let sent = report["records_sent"].as_u64().unwrap();
    assert!(sent > 0 && sent < 100_000, "a partial count of what was sent: {report}");
    assert!(reason.contains(&format!("{sent} of {SLOW_EVENTS} records sent")), "{reason}");
    nothing_left_within_10s(&prefix, sig);
    let _ = std::fs::remove_dir_all(scenario.parent().unwrap());
}

/// On virtual time (the sim, in the run's process), SIGTERM stops the run as promptly, with a
/// partial report that says so; its clock had gone far past the wall's.
#[test]
fn sigterm_stops_a_virtual_run_within_5s_with_a_partial_report() {
    let count = 5_000_000;
    let scenario = slow_scenario_on("slow-virtual", "30h", "sim", count);
    let report_path = scenario.with_extension("json");
    let (child, _, stderr_lines) = start_producing(&scenario, &report_path);
    let sent_at = Instant::now();
    signal(&child, "-TERM");
    let out = child.wait_with_output().unwrap();
    let took = sent_at.elapsed();
    let stderr: String = stderr_lines.try_iter().collect::<Vec<_>>().join("\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(143), "{stdout}\n{stderr}");
    assert!(took < Duration::from_secs(5), "stopped {took:?} after SIGTERM: {stderr}");
    assert!(
        stdout.contains("scenario slow-virtual: INTERRUPTED (sim, ") && stdout.contains("of virtual time"),
        "{stdout}"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    let reason = report["interrupted"].as_str().unwrap();
    assert!(reason.starts_with("interrupted by SIGTERM while producing and consuming: "), "{reason}");
    let sent = report["records_sent"].as_u64().unwrap();
    assert!(sent > 0 && sent < count, "a partial count of what was sent: {reason}");
    assert_eq!(report["replay"]["clock"], "virtual", "{report}");
    let _ = std::fs::remove_dir_all(scenario.parent().unwrap());
}

#[test]
fn sigint_stops_a_scenario_within_5s_with_a_partial_report() {
    stopped_gracefully("-INT", 130, "slow-int");
}

#[test]
fn sigterm_stops_a_scenario_within_5s_with_a_partial_report() {
    stopped_gracefully("-TERM", 143, "slow-term");
}

#[test]
fn a_scenario_killed_with_sigkill_leaves_no_localstack_behind() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let scenario = slow_scenario("slow-kill", "10m");
    let (mut child, prefix, _) = start_producing(&scenario, &scenario.with_extension("json"));
    signal(&child, "-KILL");
    let _ = child.wait();
    nothing_left_within_10s(&prefix, "SIGKILL");
    let _ = std::fs::remove_dir_all(scenario.parent().unwrap());
}

#[test]
fn the_timeout_bounds_the_whole_run() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let scenario = slow_scenario("slow-timeout", "25s");
    let report_path = scenario.with_extension("json");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_minutely"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .arg("scenario")
        .arg(&scenario)
        .arg("--report")
        .arg(&report_path)
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The first LocalStack start on a machine installs it; that can take longer than the
    // timeout, and the run is then cut while starting: both are bounded the same way.
    assert!(took < Duration::from_secs(35), "ended {took:?} after it started, timeout 25 s: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    let reason = report["interrupted"].as_str().unwrap();
    assert!(reason.starts_with("timed out after 25s while "), "{reason}");
    assert!(stderr.contains("timed out after 25s"), "{stderr}");
    let _ = std::fs::remove_dir_all(scenario.parent().unwrap());
}
