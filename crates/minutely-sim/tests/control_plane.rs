//! The control plane as boto3 (a client this project did not write) calls it: retention, tags,
//! the stream mode, DescribeLimits, the fan-out consumer calls, and AWS's per-account rate on
//! DescribeStream, on a clock that stands still so that the count refused is exact
//! (`tests/python/control_plane.py`).

use std::path::Path;
use std::process::Command;

use minutely_sim::{Config, Sim};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_manages_a_stream_and_meets_the_control_planes_rate() {
    let clock = minutely_sim::Clock::manual(1_700_000_000_000);
    let sim = Sim::start(Config { clock, ..Config::default() }).await.unwrap();
    let options = minutely_localstack::Options::from_env().unwrap();
    let python = minutely_localstack::host::ensure_installed(&options).unwrap_or_else(|e| panic!("{e}")).python;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/control_plane.py");
    let endpoint = sim.endpoint();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.starts_with("ok"), "{said}");
    let refused = &sim.stats().limits.control_throttled;
    assert_eq!(refused.get("DescribeStream"), Some(&21), "{refused:?}");
}
