//! Soak: minutes of mixed traffic against one sim in its own process, as hostile and careless
//! clients would send it, then the exactly-once check of every acknowledged record.
//!
//! Traffic, all at once: 4 producers (PutRecords with ids, resending what failed), 2 readers
//! following every shard, a reshard every minute (4 ↔ 8 shards), S3 puts, gets, lists and
//! deletes, garbage (unknown 32 KB operation names, bad bodies, overflowing chunk sizes,
//! cross-site admin posts, broken HTTP), 300 idle connections and a client trickling a byte a
//! second; with the sim's seeded faults (2% of entries failed, 0.5% of puts' answers lost).
//! Every 30 s it prints the sim's resident memory beside what it stores, its connections and
//! the answers by status. At the end every shard is read from its start and compared with
//! what the producers were told: lost, duplicated (explained by the sim's ledger or not),
//! unexpected. Exit 1 on anything lost, unexplained, unexpected, or a panic.
//!
//! `cargo run --release -p minutely-sim --example soak [MINUTES]` (default 10).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ScalingType, ShardIteratorType};
use minutely_aws::{Clients, Target, clients};

const STREAM: &str = "soak";
const FAULTS: &str =
    r#"{"seed": 11, "put_entry_failures": {"rate": 0.02}, "put_answers_lost": {"rate": 0.005, "as": "drop"}}"#;

/// Answers by what they were, counted.
#[derive(Default)]
struct Tally(Mutex<BTreeMap<String, u64>>);

impl Tally {
    fn add(&self, what: impl Into<String>) {
        *self.0.lock().unwrap().entry(what.into()).or_default() += 1;
    }
}

fn serve() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let faults = serde_json::from_str(FAULTS).unwrap();
        let sim = minutely_sim::Sim::start(minutely_sim::Config { faults, ..Default::default() }).await.unwrap();
        println!("{}", sim.endpoint());
        // Until the parent closes our stdin.
        let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await;
    });
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// One raw request on its own connection; the status, or what went wrong.
fn raw(addr: &str, request: &[u8]) -> String {
    let Ok(mut s) = TcpStream::connect(addr) else { return "connect failed".into() };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    if s.write_all(request).is_err() {
        return "write failed".into();
    }
    let mut head = [0u8; 12];
    match s.read_exact(&mut head) {
        Ok(()) => String::from_utf8_lossy(&head[9..12]).into_owned(),
        Err(_) => "closed".into(),
    }
}

fn garbage(addr: &str, n: u64) -> (&'static str, Vec<u8>) {
    let host = format!("host: {addr}\r\nconnection: close\r\n");
    let post = |target: String, ct: &str, body: &[u8]| {
        let mut r = format!(
            "POST / HTTP/1.1\r\n{host}x-amz-target: {target}\r\ncontent-type: {ct}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    };
    match n % 6 {
        0 => (
            "unknown 32 KB operation",
            post(format!("Kinesis_20131202.{n}{}", "x".repeat(32 * 1024)), "application/x-amz-json-1.1", b"{}"),
        ),
        1 => (
            "PutRecords of bytes",
            post("Kinesis_20131202.PutRecords".into(), "application/x-amz-cbor-1.1", &n.to_le_bytes().repeat(50)),
        ),
        2 => {
            let body = b"ffffffffffffffff;chunk-signature=x\r\nhello\r\n0\r\n\r\n";
            let mut r = format!(
                "PUT /soak/chunked HTTP/1.1\r\n{host}content-encoding: aws-chunked\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body);
            ("overflowing chunk size", r)
        }
        3 => (
            "cross-site admin post",
            format!("POST /_sim/reset HTTP/1.1\r\n{host}content-type: text/plain\r\ncontent-length: 0\r\n\r\n")
                .into_bytes(),
        ),
        4 => ("broken HTTP", b"GARBAGE \x00\xff\r\n\r\n".to_vec()),
        _ => ("bad range", format!("GET /soak/k0 HTTP/1.1\r\n{host}range: bytes=9-2,zz\r\n\r\n").into_bytes()),
    }
}

async fn produce(c: Clients, w: usize, until: Instant, acked: Arc<Mutex<HashMap<String, u32>>>, tally: Arc<Tally>) {
    let mut pending: Vec<String> = Vec::new();
    let mut next = 0u64;
    while Instant::now() < until || !pending.is_empty() {
        while pending.len() < 100 && Instant::now() < until {
            pending.push(format!("p{w}-{next}"));
            next += 1;
        }
        let entries = pending
            .iter()
            .map(|id| {
                PutRecordsRequestEntry::builder().data(Blob::new(id.as_bytes())).partition_key(id).build().unwrap()
            })
            .collect();
        match c.kinesis.put_records().stream_name(STREAM).set_records(Some(entries)).send().await {
            Ok(out) => {
                let mut again = Vec::new();
                for (id, r) in pending.drain(..).zip(out.records()) {
                    match r.error_code() {
                        None => {
                            *acked.lock().unwrap().entry(id).or_default() += 1;
                            tally.add("PutRecords entry stored");
                        }
                        Some(code) => {
                            tally.add(format!("PutRecords entry {code}"));
                            again.push(id);
                        }
                    }
                }
                pending = again;
            }
            Err(e) => tally.add(format!("PutRecords call {}", e.code().unwrap_or("dropped or transport error"))),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn read(c: Clients, until: Instant, tally: Arc<Tally>) {
    let mut iterators: HashMap<String, String> = HashMap::new();
    while Instant::now() < until {
        let Ok(shards) = c.kinesis.list_shards().stream_name(STREAM).send().await else { continue };
        for shard in shards.shards() {
            let id = shard.shard_id().to_owned();
            if !iterators.contains_key(&id) {
                let it = c
                    .kinesis
                    .get_shard_iterator()
                    .stream_name(STREAM)
                    .shard_id(&id)
                    .shard_iterator_type(ShardIteratorType::Latest)
                    .send()
                    .await;
                match it.ok().and_then(|o| o.shard_iterator().map(str::to_owned)) {
                    Some(it) => iterators.insert(id.clone(), it),
                    None => continue,
                };
            }
            match c.kinesis.get_records().shard_iterator(&iterators[&id]).send().await {
                Ok(page) => {
                    for _ in page.records() {
                        tally.add("GetRecords record read");
                    }
                    match page.next_shard_iterator() {
                        Some(next) => iterators.insert(id, next.to_owned()),
                        None => iterators.remove(&id),
                    };
                }
                Err(e) => tally.add(format!("GetRecords {}", e.code().unwrap_or("transport error"))),
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn s3_traffic(c: Clients, until: Instant, tally: Arc<Tally>) {
    let mut n = 0u64;
    while Instant::now() < until {
        let key = format!("k{n}");
        let body = aws_sdk_s3::primitives::ByteStream::from(vec![b'x'; 1024]);
        let outcome = match c.s3.put_object().bucket("soak").key(&key).body(body).send().await {
            Ok(_) => "S3 put ok".to_owned(),
            Err(e) => format!("S3 put {}", e.code().unwrap_or("transport error")),
        };
        tally.add(outcome);
        if c.s3.get_object().bucket("soak").key(&key).send().await.is_ok() {
            tally.add("S3 get ok");
        }
        if c.s3.list_objects_v2().bucket("soak").max_keys(10).send().await.is_ok() {
            tally.add("S3 list ok");
        }
        if n % 2 == 1 && c.s3.delete_object().bucket("soak").key(&key).send().await.is_ok() {
            tally.add("S3 delete ok");
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Garbage, 300 idle connections and a client trickling a byte a second, until `until`.
fn hostile(addr: &str, until: Instant, tally: &Tally) {
    let idle: Vec<TcpStream> = (0..300).filter_map(|_| TcpStream::connect(addr).ok()).collect();
    let mut trickle = TcpStream::connect(addr).ok();
    let mut n = 0u64;
    while Instant::now() < until {
        let (what, request) = garbage(addr, n);
        tally.add(format!("garbage {what}: {}", raw(addr, &request)));
        if n.is_multiple_of(50) {
            // A byte a second of a request that never ends; reopened when cut off.
            if trickle.as_mut().is_none_or(|t| t.write_all(b"G").is_err()) {
                tally.add("trickling client cut off");
                trickle = TcpStream::connect(addr).ok();
            }
        }
        n += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(idle);
}

/// Every record of every shard, from its start: id → copies, with their places.
async fn read_all(c: &Clients) -> HashMap<String, Vec<(String, String)>> {
    let mut stored: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let shards = c.kinesis.list_shards().stream_name(STREAM).max_results(10_000).send().await.unwrap();
    for shard in shards.shards() {
        let id = shard.shard_id();
        let mut it = c
            .kinesis
            .get_shard_iterator()
            .stream_name(STREAM)
            .shard_id(id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator()
            .map(str::to_owned);
        while let Some(current) = it {
            let page = match c.kinesis.get_records().shard_iterator(&current).send().await {
                Ok(p) => p,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(250)).await; // the read limit
                    it = Some(current);
                    continue;
                }
            };
            for r in page.records() {
                let key = String::from_utf8_lossy(r.data().as_ref()).into_owned();
                stored.entry(key).or_default().push((id.to_owned(), r.sequence_number().to_owned()));
            }
            let at_tip = page.records().is_empty() && page.millis_behind_latest() == Some(0);
            it = if at_tip && shard.sequence_number_range().and_then(|r| r.ending_sequence_number()).is_none() {
                None
            } else {
                page.next_shard_iterator().map(str::to_owned)
            };
        }
    }
    stored
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--serve") {
        return serve();
    }
    tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap().block_on(soak());
}

async fn soak() {
    let minutes: f64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--serve")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let endpoint = line.trim().to_owned();
    let addr = endpoint.trim_start_matches("http://").to_owned();
    let pid = child.id();
    let c = clients(&Target::endpoint(endpoint.clone())).await;
    minutely_aws::kinesis::ensure_stream(&c.kinesis, STREAM, 4, Duration::from_secs(30)).await.unwrap();
    c.s3.create_bucket().bucket("soak").send().await.unwrap();
    println!("soak: {minutes} min against the sim at {endpoint} (pid {pid}), faults {FAULTS}");

    let started = Instant::now();
    let until = started + Duration::from_secs_f64(minutes * 60.0);
    let acked = Arc::new(Mutex::new(HashMap::new()));
    let tally = Arc::new(Tally::default());
    let mut tasks = Vec::new();
    for w in 0..4 {
        tasks.push(tokio::spawn(produce(c.clone(), w, until, acked.clone(), tally.clone())));
    }
    for _ in 0..2 {
        tasks.push(tokio::spawn(read(c.clone(), until, tally.clone())));
    }
    tasks.push(tokio::spawn(s3_traffic(c.clone(), until, tally.clone())));
    let reshards = {
        let (c, tally) = (c.clone(), tally.clone());
        tokio::spawn(async move {
            let mut target = 8;
            while Instant::now() + Duration::from_secs(60) < until {
                tokio::time::sleep(Duration::from_secs(60)).await;
                let r = c
                    .kinesis
                    .update_shard_count()
                    .stream_name(STREAM)
                    .target_shard_count(target)
                    .scaling_type(ScalingType::UniformScaling)
                    .send()
                    .await;
                tally.add(format!("UpdateShardCount to {target}: {}", if r.is_ok() { "ok" } else { "refused" }));
                target = if target == 8 { 4 } else { 8 };
            }
        })
    };
    let garbage_thread = {
        let (addr, tally) = (addr.clone(), tally.clone());
        std::thread::spawn(move || hostile(&addr, until, &tally))
    };
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let stats = |agent: &ureq::Agent| -> serde_json::Value {
        let mut r = agent.get(format!("{endpoint}/_sim/stats")).call().unwrap();
        serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap()
    };
    println!(
        "{:>6} {:>9} {:>11} {:>10} {:>38} {:>7}",
        "min", "RSS MiB", "records", "stored MiB", "connections opened/closed/refused/timed out", "panics"
    );
    let mut samples = Vec::new();
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(30).min(until.saturating_duration_since(Instant::now()))).await;
        let s = stats(&agent);
        let rss = rss_mib(pid);
        let stored =
            s["record_bytes_stored"].as_f64().unwrap_or(0.0) + s["object_bytes_stored"].as_f64().unwrap_or(0.0);
        let cn = &s["connections"];
        println!(
            "{:>6.1} {:>9.1} {:>11} {:>10.1} {:>38} {:>7}",
            started.elapsed().as_secs_f64() / 60.0,
            rss,
            s["records_stored"],
            stored / 1048576.0,
            format!("{}/{}/{}/{}", cn["opened"], cn["closed"], cn["refused"], cn["timed_out"]),
            s["panics"]
        );
        samples.push((rss, stored / 1048576.0));
    }
    for t in tasks {
        t.await.unwrap();
    }
    reshards.abort();
    garbage_thread.join().unwrap();

    println!("\nanswers by what they were:");
    for (what, n) in tally.0.lock().unwrap().iter() {
        println!("  {n:>10}  {what}");
    }
    let stored = read_all(&c).await;
    let mut r = agent.get(format!("{endpoint}/_sim/streams/{STREAM}/ledger")).call().unwrap();
    let ledger: minutely_sim::Ledger = serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap();
    let ambiguous: HashSet<(String, String)> =
        ledger.ambiguous.iter().map(|p| (p.shard.clone(), p.sequence.clone())).collect();
    let acked = acked.lock().unwrap();
    let lost = acked.keys().filter(|id| !stored.contains_key(*id)).count();
    let unexpected = stored.keys().filter(|id| !acked.contains_key(*id)).count();
    let (mut explained, mut unexplained) = (0, 0);
    for copies in stored.values().filter(|c| c.len() > 1) {
        let in_doubt = copies.iter().filter(|p| ambiguous.contains(*p)).count();
        explained += (copies.len() - 1).min(in_doubt);
        unexplained += (copies.len() - 1).saturating_sub(in_doubt);
    }
    let panics = stats(&agent)["panics"].as_u64().unwrap_or(0);
    let (first, last) = (samples.first().copied().unwrap_or_default(), samples.last().copied().unwrap_or_default());
    println!(
        "\nacknowledged {} records, stored {} distinct: lost {lost}, duplicated {} ({explained} explained by lost answers, {unexplained} unexplained), unexpected {unexpected}; panics {panics}",
        acked.len(),
        stored.len(),
        explained + unexplained
    );
    println!(
        "RSS {:.1} → {:.1} MiB while the stored bytes went {:.1} → {:.1} MiB: {:.2} MiB of RSS per MiB stored",
        first.0,
        last.0,
        first.1,
        last.1,
        (last.0 - first.0) / (last.1 - first.1).max(0.001)
    );
    // Garbage alone for two minutes: what the sim holds must not grow. The 300 idle
    // connections are cut at the idle timeout (60 s); a second minute shows what stays.
    let quiet = Tally::default();
    let garbage_until = Instant::now() + Duration::from_secs(120);
    let mut rss = vec![rss_mib(pid)];
    std::thread::scope(|scope| {
        scope.spawn(|| hostile(&addr, garbage_until, &quiet));
        while Instant::now() < garbage_until {
            std::thread::sleep(Duration::from_secs(15));
            rss.push(rss_mib(pid));
        }
    });
    let sent: u64 = quiet.0.lock().unwrap().values().sum();
    let rss: Vec<String> = rss.iter().map(|r| format!("{r:.1}")).collect();
    println!(
        "garbage alone for 120 s ({sent} requests, 300 idle connections, a trickling client): RSS every 15 s {} MiB",
        rss.join(" → ")
    );
    drop(child.stdin.take());
    let _ = child.wait();
    if lost + unexplained + unexpected > 0 || panics > 0 {
        std::process::exit(1);
    }
}
