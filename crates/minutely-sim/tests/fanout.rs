//! Enhanced fan-out against a client this project did not write: boto3's `subscribe_to_shard`
//! (an AWS event stream over a chunked HTTP/1.1 body), driven by `examples/pipelines/
//! efo_reader.py`. The stream is split half way, so the reader follows a shard's end into its
//! children; the `subscriptions_cut` fault cuts subscriptions, so it subscribes again from its
//! last continuation. Every record must be read exactly once. Then the Node SDK v3's default
//! client (HTTP/2 with prior knowledge), `tests/node/efo.mjs`, installed pinned into the cache.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use minutely_aws::{Target, clients};
use minutely_sim::faults::FaultSet;
use minutely_sim::{Config, Sim};

mod common;

/// Puts `ids` (the data is the id), again and again for the entries the limits refused.
async fn put(k: &aws_sdk_kinesis::Client, ids: impl Iterator<Item = String>) {
    let ids: Vec<String> = ids.collect();
    for chunk in ids.chunks(500) {
        let mut todo: Vec<&String> = chunk.iter().collect();
        while !todo.is_empty() {
            let entries = todo
                .iter()
                .map(|id| {
                    PutRecordsRequestEntry::builder().data(Blob::new(id.as_bytes())).partition_key(*id).build().unwrap()
                })
                .collect();
            let out = k.put_records().stream_name("fan").set_records(Some(entries)).send().await.unwrap();
            todo = todo
                .into_iter()
                .zip(out.records())
                .filter(|(_, r)| r.error_code().is_some())
                .map(|(id, _)| id)
                .collect();
            if !todo.is_empty() {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_reads_every_record_once_through_cuts_and_a_split() {
    let sim = Sim::start(Config::default()).await.unwrap();
    let k = clients(&Target::endpoint(sim.endpoint())).await.kinesis;
    minutely_aws::kinesis::ensure_stream(&k, "fan", 2, Duration::from_secs(30)).await.unwrap();
    put(&k, (0..2000).map(|i| format!("r-{i}"))).await;
    let split = k.split_shard().stream_name("fan").shard_to_split("shardId-000000000000");
    split.new_starting_hash_key((1u128 << 126).to_string()).send().await.unwrap();
    minutely_aws::kinesis::wait_active(&k, "fan", Duration::from_secs(30)).await.unwrap();
    put(&k, (2000..3000).map(|i| format!("r-{i}"))).await;
    let faults = FaultSet { seed: 7, subscriptions_cut: Some(0.5), ..FaultSet::default() };
    sim.set_faults(faults.into()).unwrap();

    let reader = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pipelines/efo_reader.py");
    let out = common::boto3(&reader, &["fan"], sim.endpoint()).await;
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "efo_reader.py failed: {summary}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let read: Vec<&str> = stdout.lines().map(|l| l.rsplit('\t').next().unwrap()).collect();
    let distinct: BTreeSet<&str> = read.iter().copied().collect();
    let all: Vec<String> = (0..3000).map(|i| format!("r-{i}")).collect();
    assert_eq!(distinct, all.iter().map(String::as_str).collect(), "every record read: {summary}");
    assert_eq!(read.len(), 3000, "none read twice: {summary}");
    let summary: serde_json::Value = serde_json::from_str(summary.lines().last().unwrap()).unwrap();
    assert_eq!(summary["shards"], 4, "the two shards, and the split one's children");
    let stats = sim.stats();
    assert!(
        stats.subscriptions_cut > 0 && summary["broken"].as_u64() == Some(stats.subscriptions_cut),
        "{summary} {stats:?}"
    );
}

/// The Node SDK v3's Kinesis client, pinned, installed once into the cache (renamed into place
/// whole, so that two tests never see half an install).
fn node_sdk() -> PathBuf {
    const VERSION: &str = "3.1143.0";
    let options = minutely_localstack::Options::from_env().unwrap();
    let home = options.cache_dir.join(format!("node-client-kinesis-{VERSION}"));
    if !home.join("node_modules/@aws-sdk/client-kinesis").exists() {
        let staging = options.cache_dir.join(format!("node-client-kinesis-{VERSION}.{}", std::process::id()));
        std::fs::create_dir_all(&staging).unwrap();
        let out = Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&staging)
            .arg(format!("@aws-sdk/client-kinesis@{VERSION}"))
            .output()
            .unwrap_or_else(|e| panic!("npm (Node.js 20 or later) is needed for this test: {e}"));
        assert!(out.status.success(), "npm install: {}", String::from_utf8_lossy(&out.stderr));
        if std::fs::rename(&staging, &home).is_err() {
            let _ = std::fs::remove_dir_all(&staging); // another test installed it first
        }
    }
    home
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_sdk_reads_every_record_over_http2() {
    let sim = Sim::start(Config::default()).await.unwrap();
    let k = clients(&Target::endpoint(sim.endpoint())).await.kinesis;
    minutely_aws::kinesis::ensure_stream(&k, "fan", 2, Duration::from_secs(30)).await.unwrap();
    put(&k, (0..1000).map(|i| format!("n-{i}"))).await;
    let home = tokio::task::spawn_blocking(node_sdk).await.unwrap();
    let script = home.join("efo.mjs");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/efo.mjs"), &script).unwrap();
    let endpoint = sim.endpoint();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node").arg(script).arg("fan").env("AWS_ENDPOINT_URL", endpoint).output().unwrap()
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "efo.mjs failed: {err}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut read: Vec<&str> = stdout.lines().collect();
    read.sort_unstable();
    let mut all: Vec<String> = (0..1000).map(|i| format!("n-{i}")).collect();
    all.sort_unstable();
    assert_eq!(read, all, "every record once: {err}");
    assert!(sim.stats().subscription_events >= 2, "one event a shard at least");
}
