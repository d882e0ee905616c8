//! Several `minutely consume` processes sharing one stream, as a user runs them: the real
//! `minutely sim` (AWS's limits), 16 shards, three consumers; one is killed with SIGKILL, one
//! joins, one stops on Ctrl-C, while events keep coming. The lease files in S3 say who reads
//! what; the per-minute sums in S3 are exactly the events sent; no consumer ever met another's
//! checkpoint (the fence that would catch two readers of one shard).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;
const BUCKET: &str = "workers";

fn minutely() -> Command {
    Command::new(env!("CARGO_BIN_EXE_minutely"))
}

struct Sim {
    child: Child,
    endpoint: String,
    runtime: tokio::runtime::Runtime,
    s3: aws_sdk_s3::Client,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sim() -> Sim {
    let mut child =
        minutely().args(["sim", "--port", "0"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let endpoint = line.trim().strip_prefix("export AWS_ENDPOINT_URL=").unwrap().to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let s3 = runtime.block_on(minutely_aws::clients(&minutely_aws::Target::endpoint(&endpoint))).s3;
    runtime.block_on(s3.create_bucket().bucket(BUCKET).send()).unwrap();
    Sim { child, endpoint, runtime, s3 }
}

impl Sim {
    fn produce(&self, seed: u32, count: u32) {
        let (seed, count) = (seed.to_string(), count.to_string());
        let out = minutely()
            .args(["produce", "--source", "random", "--seed", &seed, "--count", &count])
            .args(["--create-stream", &SHARDS.to_string(), "--sink", "kinesis:shared"])
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.contains(&format!("sent {count}")), "{stderr}");
    }

    fn consumer(&self, id: &str, extra: &[&str]) -> Child {
        minutely()
            .args([
                "consume",
                "--source",
                "kinesis:shared",
                "--sink",
                &format!("s3://{BUCKET}/run"),
                "--key",
                "country",
            ])
            .args(["--worker-id", id, "--lease-duration", "4s", "--lease-renew", "1s", "--discover-every", "2s"])
            .args(["--idle-poll", "100ms", "--idle-timeout", "0s"])
            .args(extra)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Every object under `prefix`, by key.
    fn objects(&self, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        self.runtime.block_on(async {
            let mut out = BTreeMap::new();
            let list = self.s3.list_objects_v2().bucket(BUCKET).prefix(prefix).send().await.unwrap();
            for o in list.contents() {
                let key = o.key().unwrap().to_owned();
                let got = self.s3.get_object().bucket(BUCKET).key(&key).send().await.unwrap();
                out.insert(key, got.body.collect().await.unwrap().into_bytes().to_vec());
            }
            out
        })
    }

    /// The owner named in each lease file (`None`: free).
    fn owners(&self) -> BTreeMap<String, Option<String>> {
        self.objects("run/leases/shared/")
            .into_iter()
            .map(|(k, v)| {
                let lease: serde_json::Value = serde_json::from_slice(&v).unwrap();
                (k, lease["owner"].as_str().map(str::to_owned))
            })
            .collect()
    }

    fn held_by(&self, id: &str) -> usize {
        self.owners().values().filter(|o| o.as_deref() == Some(id)).count()
    }

    fn counted(&self) -> u64 {
        let mut n = 0;
        for body in self.objects("run/minutes/").values() {
            for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                n += serde_json::from_slice::<serde_json::Value>(line).unwrap()["count"].as_u64().unwrap();
            }
        }
        n
    }
}

/// Waits until `done` (checked every 250 ms), at most `limit`; returns how long it took.
fn until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
    start.elapsed()
}

fn signal(child: &Child, signal: &str) {
    assert!(Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
}

fn finish(mut child: Child) -> (i32, String) {
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    (status.code().unwrap_or(-1), stderr)
}

fn even(sim: &Sim, ids: &[&str]) -> bool {
    let loads: Vec<usize> = ids.iter().map(|id| sim.held_by(id)).collect();
    loads.iter().sum::<usize>() == SHARDS && loads.iter().max().unwrap() - loads.iter().min().unwrap() <= 1
}

#[test]
fn three_consumers_share_sixteen_shards_through_a_kill_a_join_and_a_ctrl_c() {
    let sim = sim();
    sim.produce(1, 6_000);
    let a = sim.consumer("a", &[]);
    let b = sim.consumer("b", &[]);
    let c = sim.consumer("c", &[]);
    until(Duration::from_secs(60), "a, b and c share the shards evenly", || even(&sim, &["a", "b", "c"]));

    // `consume --status` lists every shard with its owner, its checkpoint and its lag.
    let out = minutely()
        .args(["consume", "--source", "kinesis:shared", "--sink", &format!("s3://{BUCKET}/run"), "--status"])
        .env("AWS_ENDPOINT_URL", &sim.endpoint)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 1 + SHARDS, "{table}");
    assert!(lines[0].starts_with("SHARD") && lines[0].ends_with("BEHIND"), "{table}");
    for id in ["a", "b", "c"] {
        let owned = lines.iter().filter(|l| l.split_whitespace().nth(1) == Some(id)).count();
        assert_eq!(owned, sim.held_by(id), "{id} in {table}");
    }
    assert!(lines[1..].iter().all(|l| l.contains("expires in") && l.ends_with(" ms")), "{table}");

    // SIGKILL b: no release; its leases expire and a and c take them.
    signal(&b, "-KILL");
    let (code, _) = finish(b);
    assert_eq!(code, -1, "killed by a signal");
    sim.produce(2, 4_000);
    let took = until(Duration::from_secs(30), "b's shards taken", || sim.held_by("a") + sim.held_by("c") == SHARDS);
    eprintln!("b's shards taken {took:?} after its kill");
    until(Duration::from_secs(60), "a and c even", || even(&sim, &["a", "c"]));

    // d joins and gets its share by handovers.
    let d = sim.consumer("d", &[]);
    until(Duration::from_secs(60), "a, c and d even", || even(&sim, &["a", "c", "d"]));

    // Ctrl-C on c: it checkpoints and releases; a and d take its shards at their next rounds.
    signal(&c, "-INT");
    let (code, stderr) = finish(c);
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("leases of c: held 0") && !stderr.contains("released 0)"), "{stderr}");
    let took = until(Duration::from_secs(10), "c's shards taken", || sim.held_by("a") + sim.held_by("d") == SHARDS);
    assert!(took < Duration::from_secs(4), "released leases wait for no expiry: {took:?}");
    sim.produce(3, 4_000);

    // a and d stop; a last consumer closes every window (the others kept theirs in the
    // checkpoints) and exits when idle.
    let mut stderrs = Vec::new();
    for child in [a, d] {
        signal(&child, "-TERM");
        let (code, stderr) = finish(child);
        assert_eq!(code, 143, "{stderr}");
        stderrs.push(stderr);
    }
    let (code, stderr) = finish(sim.consumer("last", &["--exit-when-idle", "2s", "--on-stop", "close"]));
    assert_eq!(code, 0, "{stderr}");
    stderrs.push(stderr);
    for s in &stderrs {
        assert!(!s.contains("wrote the checkpoint") && !s.contains("another worker wrote"), "{s}");
    }
    assert_eq!(sim.counted(), 14_000, "every event counted once; {stderrs:?}");
    assert!(sim.owners().values().all(Option::is_none), "every lease released: {:?}", sim.owners());
}
