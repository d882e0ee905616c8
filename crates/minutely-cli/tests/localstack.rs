//! `minutely localstack up | status | logs | down` with the host backend, as a user runs them.

use std::process::{Command, Output};

use minutely_localstack::host::processes_of;

fn minutely(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_minutely"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .env("MINUTELY_LOCALSTACK_BACKEND", "host")
        .output()
        .expect("minutely runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn up_status_logs_down_leave_nothing_running() {
    let name = format!("cli-test-{}", std::process::id());
    let up = minutely(&["localstack", "up", "--name", &name]);
    assert!(up.status.success(), "up failed: {}", text(&up.stderr));
    let stdout = text(&up.stdout);
    let endpoint = stdout.trim().strip_prefix("export AWS_ENDPOINT_URL=").unwrap_or_else(|| panic!("{stdout}"));
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    assert!(!processes_of(&name).is_empty());

    let status = minutely(&["localstack", "status", "--name", &name]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status = text(&status.stdout);
    assert!(
        status.contains(endpoint) && status.contains("kinesis: Running") && status.contains("s3: Running"),
        "{status}"
    );
    assert!(
        status.contains(&format!("  {name}: ")) && status.contains(&format!("named, at {endpoint}")),
        "listed: {status}"
    );

    let logs = minutely(&["localstack", "logs", "--name", &name, "--lines", "200"]);
    assert!(text(&logs.stdout).contains("Ready."), "the log shows the start");

    let down = minutely(&["localstack", "down", "--name", &name]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert_eq!(processes_of(&name), Vec::<i32>::new());
    let after = minutely(&["localstack", "status", "--name", &name]);
    assert_eq!(after.status.code(), Some(1));
    assert!(text(&after.stderr).contains("is running"), "{}", text(&after.stderr));
}

#[test]
fn a_start_that_does_not_finish_in_time_names_its_log_and_cleans_up() {
    let name = format!("cli-timeout-{}", std::process::id());
    let up = minutely(&["localstack", "up", "--name", &name, "--timeout", "1s"]);
    assert_eq!(up.status.code(), Some(1));
    let stderr = text(&up.stderr);
    assert!(stderr.contains("did not become ready within 1s") && stderr.contains("localstack.log"), "{stderr}");
    assert_eq!(processes_of(&name), Vec::<i32>::new(), "a failed start leaves nothing running");
}

#[test]
fn a_missing_python_says_what_to_install() {
    let cache = std::env::temp_dir().join(format!("minutely-nopython-{}", std::process::id()));
    let up =
        minutely(&["localstack", "up", "--cache-dir", cache.to_str().unwrap(), "--python", "/nonexistent/python3"]);
    let _ = std::fs::remove_dir_all(&cache);
    assert_eq!(up.status.code(), Some(1));
    let stderr = text(&up.stderr);
    assert!(
        stderr.contains("no usable Python found (tried /nonexistent/python3)") && stderr.contains("apt install"),
        "{stderr}"
    );
}

#[test]
fn the_endpoint_backend_needs_an_endpoint() {
    let out = minutely(&["localstack", "up", "--backend", "endpoint"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("set AWS_ENDPOINT_URL or pass --endpoint"), "{}", text(&out.stderr));
}

/// `status` lists every instance on the machine, with its owner; one whose owner is gone is
/// called an orphan. (A stand-in process carries the marker; `down --all` is not run here, as it
/// would stop the instances of tests running beside this one.)
#[test]
fn status_lists_instances_and_names_orphans() {
    let id = format!("p{}-{}", i32::MAX, std::process::id());
    let mut stand_in =
        std::process::Command::new("sleep").arg("300").env("MINUTELY_LOCALSTACK_INSTANCE", &id).spawn().unwrap();
    // Until the child has exec'd, its /proc environ is the test's own: wait for the marker
    // (`status` once ran before it and saw no instance).
    let environ = format!("/proc/{}/environ", stand_in.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read(&environ).is_ok_and(|e| e.windows(id.len()).any(|w| w == id.as_bytes())) {
        assert!(std::time::Instant::now() < deadline, "the stand-in never carried its marker");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let status = minutely(&["localstack", "status", "--name", "no-such-instance"]);
    let out = text(&status.stdout);
    let _ = stand_in.kill();
    let _ = stand_in.wait();
    assert!(out.contains(&format!("  {id}: 1 processes; owner pid {}, gone: an orphan", i32::MAX)), "{out}");
    assert_eq!(status.status.code(), Some(1), "the named instance does not run");
}

/// SIGTERM while `up` starts LocalStack: what was started is stopped, exit 143.
#[test]
fn a_signal_while_up_starts_stops_what_it_started() {
    let name = format!("cli-term-{}", std::process::id());
    let child = Command::new(env!("CARGO_BIN_EXE_minutely"))
        .args(["localstack", "up", "--name", &name])
        .env_remove("AWS_ENDPOINT_URL")
        .env("MINUTELY_LOCALSTACK_BACKEND", "host")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    while processes_of(&name).is_empty() {
        assert!(std::time::Instant::now() < deadline, "LocalStack was not started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    // Had it become ready first, `up` would have printed the export line and exited 0.
    if out.status.code() == Some(0) {
        let _ = minutely(&["localstack", "down", "--name", &name]);
        panic!("LocalStack was ready before the signal arrived; the test needs a slower start: {stderr}");
    }
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("SIGTERM: stopping the LocalStack being started"), "{stderr}");
    assert_eq!(processes_of(&name), Vec::<i32>::new(), "nothing of it left");
}
