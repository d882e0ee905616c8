//! The control plane as botocore (boto3's client layer; a client this project did not write)
//! calls it: retention, tags, the stream mode, on-demand scaling and warm throughput, records up to 10 MiB, encryption and KMS's
//! errors, DescribeLimits, the fan-out consumer calls, the CREATING state, and AWS's per-account rate on
//! DescribeStream, on a clock that stands still so that the count refused is exact
//! (`tests/python/control_plane.py`).

use std::path::Path;

use minutely_sim::{Config, Sim};

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_manages_a_stream_and_meets_the_control_planes_rate() {
    let clock = minutely_sim::Clock::manual(1_700_000_000_000);
    let sim = Sim::start(Config { clock, ..Config::default() }).await.unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/control_plane.py");
    let out = common::botocore(&script, &[], sim.endpoint()).await;
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.starts_with("ok"), "{said}");
    let refused = &sim.stats().limits.control_throttled;
    assert_eq!(refused.get("DescribeStream"), Some(&20), "{refused:?}");
}
