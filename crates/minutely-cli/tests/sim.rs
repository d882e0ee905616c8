//! `minutely sim` as a user runs it: the real binary in the foreground, `minutely produce`
//! pointed at it by the printed exports, SIGTERM and SIGINT stopping it with 143 and 130.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn minutely() -> Command {
    Command::new(env!("CARGO_BIN_EXE_minutely"))
}

/// Starts `minutely sim --port 0 ARGS` and returns it with its endpoint (from the export line).
fn start(args: &[&str]) -> (Child, String) {
    let mut child = minutely()
        .args(["sim", "--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let endpoint = line
        .trim()
        .strip_prefix("export AWS_ENDPOINT_URL=")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "loopback only: {endpoint}");
    (child, endpoint)
}

/// `minutely produce` of `count` random events into a new stream of `shards` on the sim: all
/// sent. Returns what it said.
fn produce(endpoint: &str, count: u32, shards: u32, stream: &str) -> String {
    let (count, shards, sink) = (count.to_string(), shards.to_string(), format!("kinesis:{stream}"));
    let out = minutely()
        .args(["produce", "--source", "random", "--count", &count, "--create-stream", &shards, "--sink", &sink])
        .env("AWS_ENDPOINT_URL", endpoint)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success() && stderr.contains(&format!("sent {count}")), "{stderr}");
    stderr
}

fn stop(mut child: Child, signal: &str) -> (i32, String) {
    assert!(Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    (status.code().unwrap_or(-1), stderr)
}

#[test]
fn produce_into_the_sim_then_sigterm() {
    let (child, endpoint) = start(&["--no-limits"]);
    produce(&endpoint, 3000, 2, "cli");
    let (code, stderr) = stop(child, "-TERM");
    assert_eq!(code, 143, "{stderr}");
    assert!(stderr.contains("stopped by SIGTERM; 3000 records"), "{stderr}");
}

#[test]
fn limits_throttle_a_producer_that_aws_would_throttle() {
    let (child, endpoint) = start(&[]);
    let stderr = produce(&endpoint, 4000, 1, "limited");
    let (code, sim_stderr) = stop(child, "-INT");
    assert_eq!(code, 130, "{sim_stderr}");
    // One shard takes 1,000 records a second: 4,000 sent at once meet throttling.
    let throttled: u64 = sim_stderr
        .split(" entries throttled")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(throttled > 0, "{sim_stderr}");
    assert!(!stderr.contains("retried 0,"), "the producer retried the throttled entries: {stderr}");
}

#[test]
fn bad_faults_are_refused_with_the_reason() {
    let out =
        minutely().args(["sim", "--port", "0", "--faults", r#"{"put_entry_failures":{"rate":1.5}}"#]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("put_entry_failures.rate = 1.5"), "{stderr}");
    let out = minutely().args(["sim", "--port", "0", "--faults", "/nonexistent/faults.toml"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/faults.toml"));
}

#[test]
fn produce_stops_on_sigterm_after_flushing_with_143() {
    let (sim, endpoint) = start(&["--no-limits"]);
    let mut producer = minutely()
        .args([
            "produce",
            "--source",
            "random",
            "--rate",
            "2000",
            "--count",
            "1000000",
            "--create-stream",
            "1",
            "--sink",
            "kinesis:paced",
        ])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(Command::new("kill").args(["-TERM", &producer.id().to_string()]).status().unwrap().success());
    let status = producer.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(producer.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("SIGTERM: stopping: flushing") && stderr.contains("stopped early"), "{stderr}");
    let sent: u64 =
        stderr.split("sent ").nth(1).and_then(|s| s.split(',').next()).and_then(|n| n.parse().ok()).unwrap();
    let (_, sim_stderr) = stop(sim, "-TERM");
    assert!(
        sim_stderr.contains(&format!("; {sent} records")),
        "what the producer counted as sent is what the sim stored: {sim_stderr}"
    );
}
