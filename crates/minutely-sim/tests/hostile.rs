//! The sim against hostile and careless clients, over raw sockets: each defect found by probing
//! it (issue 30) reproduced here, and what it answers now. Each test starts its own sim.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use minutely_sim::{Bounds, Config, Sim};

/// A sim on its own runtime, so that the tests' blocking sockets never starve it.
struct Running {
    sim: Sim,
    _rt: tokio::runtime::Runtime,
}

impl Running {
    fn start(config: Config) -> Running {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let sim = rt.block_on(Sim::start(config)).unwrap();
        Running { sim, _rt: rt }
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.sim.addr()
    }

    /// One request on its own connection: status, head and body.
    fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Vec<u8>) {
        let mut s = TcpStream::connect(self.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
            self.addr(),
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let split = out.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP answer") + 4;
        let head = String::from_utf8_lossy(&out[..split]).into_owned();
        let status = head[9..12].parse().unwrap();
        (status, head, out[split..].to_vec())
    }

    fn kinesis(&self, op: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let target = format!("Kinesis_20131202.{op}");
        let headers = [("x-amz-target", target.as_str()), ("content-type", "application/x-amz-json-1.1")];
        let (status, _, body) = self.call("POST", "/", &headers, body.to_string().as_bytes());
        (status, serde_json::from_slice(&body).unwrap())
    }

    /// Creates a stream and waits out its CREATING time, as a client of AWS must.
    fn create_active(&self, name: &str, shards: u32) {
        let (status, e) = self.kinesis("CreateStream", serde_json::json!({"StreamName": name, "ShardCount": shards}));
        assert_eq!(status, 200, "{e}");
        self.wait_active(name);
    }

    fn wait_active(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, d) = self.kinesis("DescribeStreamSummary", serde_json::json!({"StreamName": name}));
            if d["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE" {
                return;
            }
            assert!(Instant::now() < deadline, "{name} is not ACTIVE: {d}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stats(&self) -> serde_json::Value {
        let (status, _, body) = self.call("GET", "/_sim/stats", &[], b"");
        assert_eq!(status, 200);
        serde_json::from_slice(&body).unwrap()
    }
}

fn no_limits() -> Config {
    Config { limits: false, ..Config::default() }
}

/// A reshard of thousands of shards held the one Kinesis lock for seconds (10,000 → 20,000
/// took 28 s) and both worker threads with it, so S3 and other streams stalled. Now it is one
/// pass over the shards: every call on another stream, and on S3, made while it runs answers
/// at once.
#[test]
fn a_large_reshard_stalls_no_other_call() {
    let sim = Running::start(no_limits());
    sim.create_active("big", 5000);
    sim.create_active("other", 1);
    assert_eq!(sim.call("PUT", "/bucket", &[], b"").0, 200);
    let sim = &sim;
    std::thread::scope(|scope| {
        let started = Instant::now();
        let reshard = scope.spawn(move || {
            let body =
                serde_json::json!({"StreamName": "big", "TargetShardCount": 10000, "ScalingType": "UNIFORM_SCALING"});
            let (status, answer) = sim.kinesis("UpdateShardCount", body);
            (status, answer, started.elapsed())
        });
        let mut slowest = Duration::ZERO;
        let mut calls = 0;
        while !reshard.is_finished() || calls < 20 {
            let t = Instant::now();
            let put = serde_json::json!({"StreamName": "other", "Data": "aGk=", "PartitionKey": "k"});
            assert_eq!(sim.kinesis("PutRecord", put).0, 200);
            assert_eq!(sim.call("GET", "/bucket?list-type=2", &[], b"").0, 200);
            assert_eq!(sim.call("GET", "/_sim/health", &[], b"").0, 200);
            slowest = slowest.max(t.elapsed());
            calls += 1;
        }
        let (status, answer, took) = reshard.join().unwrap();
        assert_eq!(status, 200, "{answer}");
        eprintln!("5,000 → 10,000 shards took {took:?}; the slowest of {calls} rounds of other calls {slowest:?}");
        // Far above the few milliseconds they take, far below the seconds they waited.
        assert!(took < Duration::from_secs(2), "the reshard took {took:?}");
        assert!(slowest < Duration::from_millis(500), "a call on another stream waited {slowest:?}");
    });
    let summary = sim.kinesis("DescribeStreamSummary", serde_json::json!({"StreamName": "big"})).1;
    assert_eq!(summary["StreamDescriptionSummary"]["OpenShardCount"], 10000);
    assert_eq!(summary["StreamDescriptionSummary"]["StreamStatus"], "UPDATING", "a reshard leaves it UPDATING");
    // AWS stops UpdateShardCount at 10,000 shards, and the account at 20,000 open shards.
    let (status, e) = sim.kinesis(
        "UpdateShardCount",
        serde_json::json!({"StreamName": "other", "TargetShardCount": 2, "ScalingType": "UNIFORM_SCALING"}),
    );
    assert_eq!(status, 200, "{e}");
    let (status, e) = sim.kinesis("CreateStream", serde_json::json!({"StreamName": "more", "ShardCount": 10000}));
    assert_eq!((status, e["__type"].as_str()), (400, Some("LimitExceededException")), "{e}");
}

/// An aws-chunked upload whose chunk size overflows the decoder's arithmetic panicked it and
/// closed the connection without an answer.
#[test]
fn an_overflowing_chunk_size_is_a_400() {
    let sim = Running::start(no_limits());
    assert_eq!(sim.call("PUT", "/bucket", &[], b"").0, 200);
    for size in ["ffffffffffffffff", "fffffffffffffffe"] {
        let body = format!("{size};chunk-signature=x\r\nhello\r\n0\r\n\r\n");
        let headers =
            [("content-encoding", "aws-chunked"), ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")];
        let (status, _, answer) = sim.call("PUT", "/bucket/key", &headers, body.as_bytes());
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains("<Code>IncompleteBody</Code>"), "{answer}");
    }
    assert_eq!(sim.call("GET", "/_sim/health", &[], b"").0, 200, "the sim still answers");
}

/// Connections were unbounded, with no timeout: a client sending a byte now and then, or
/// none, held its connection forever. Now one over the cap is answered 503 and closed, and a
/// connection whose request has not arrived whole within the idle timeout is closed.
#[test]
fn connections_are_capped_and_slow_or_idle_ones_closed() {
    let bounds = Bounds { max_connections: 3, idle_timeout: Duration::from_millis(700), ..Bounds::default() };
    let sim = Running::start(Config { bounds, ..no_limits() });
    let idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(sim.addr()).unwrap()).collect();
    // A slow client: one byte of its request line every 100 ms.
    let mut slow = TcpStream::connect(sim.addr()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut over = TcpStream::connect(sim.addr()).unwrap();
    over.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = String::new();
    over.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("--max-connections"), "{answer}");
    let started = Instant::now();
    let mut slow_closed = None;
    for b in b"GET /_sim/health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-padding: ".iter().cycle().take(100) {
        if slow.write_all(&[*b]).is_err() {
            slow_closed = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let slow_closed = slow_closed.expect("a client trickling its headers is cut off");
    assert!(slow_closed < Duration::from_secs(5), "cut off after {slow_closed:?}");
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // Ok(0): closed by the sim (a read timeout here is an error, and fails the test).
        assert_eq!(s.read(&mut [0; 16]).unwrap(), 0, "an idle connection is closed");
    }
    // The slots are free again.
    assert_eq!(sim.call("GET", "/_sim/health", &[], b"").0, 200);
    let c = &sim.stats()["connections"];
    assert!(c["refused"].as_u64() >= Some(1), "{c}");
    assert!(c["timed_out"].as_u64() >= Some(3), "{c}");
}

/// Every unknown operation name got its own stats entry: 2,000 calls with 32 KB names made
/// /_sim/stats 65 MB. They are counted under one name now.
#[test]
fn garbage_operation_names_do_not_grow_the_stats() {
    let sim = Running::start(no_limits());
    for i in 0..200 {
        let name = format!("{i}{}", "x".repeat(32 * 1024));
        let (status, e) = sim.kinesis(&name, serde_json::json!({}));
        assert_eq!((status, e["__type"].as_str()), (400, Some("UnknownOperationException")));
        assert!(e["message"].as_str().unwrap().len() < 1024, "the name is not echoed whole");
    }
    let (status, _, body) = sim.call("GET", "/_sim/stats", &[], b"");
    assert_eq!(status, 200);
    assert!(body.len() < 4096, "stats of {} bytes", body.len());
    let stats: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(stats["calls"]["UnknownOperation"], 200, "{stats}");
}

/// `AFTER_SEQUENCE_NUMBER` at position 2^64 − 1 wrapped to 0 and replayed the shard.
#[test]
fn after_the_last_position_nothing_is_replayed() {
    let sim = Running::start(no_limits());
    sim.create_active("s", 1);
    let (_, put) =
        sim.kinesis("PutRecord", serde_json::json!({"StreamName": "s", "Data": "aGk=", "PartitionKey": "k"}));
    let first = put["SequenceNumber"].as_str().unwrap();
    let last = format!("{}{:024}", &first[..32], u64::MAX);
    let (status, it) = sim.kinesis(
        "GetShardIterator",
        serde_json::json!({"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": last}),
    );
    assert_eq!(status, 200, "{it}");
    let (status, page) = sim.kinesis("GetRecords", serde_json::json!({"ShardIterator": it["ShardIterator"]}));
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["Records"].as_array().unwrap().len(), 0, "{page}");
}

/// A web page could change a developer's sim: a cross-site `text/plain` POST set its faults,
/// and any Host was served.
#[test]
fn the_admin_api_answers_no_web_page() {
    let sim = Running::start(no_limits());
    let faults = br#"{"put_entry_failures":{"rate":0.5}}"#;
    let (status, _, body) = sim.call("POST", "/_sim/faults", &[("content-type", "text/plain")], faults);
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let mut s = TcpStream::connect(sim.addr()).unwrap();
    write!(s, "POST /_sim/reset HTTP/1.1\r\nhost: rebound.example:4567\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 403") && answer.contains("loopback"), "{answer}");
    let (_, _, now) = sim.call("GET", "/_sim/faults", &[], b"");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&now).unwrap(), serde_json::json!({"seed": 0}), "unchanged");
    let (status, _, _) = sim.call("POST", "/_sim/faults", &[("content-type", "application/json")], faults);
    assert_eq!(status, 200);
    // A fault on an operation that does not exist never fired, silently; now it is refused.
    let typo = br#"{"calls":[{"operation":"PutRecordz","error_rate":1}]}"#;
    let (status, _, body) = sim.call("POST", "/_sim/faults", &[("content-type", "application/json")], typo);
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("PutRecordz") && body.contains("PutRecords"), "{body}");
}

/// Where S3 answered otherwise than AWS.
#[test]
fn s3_edges_answer_as_aws_does() {
    let sim = Running::start(no_limits());
    assert_eq!(sim.call("PUT", "/bucket", &[], b"").0, 200);
    assert_eq!(sim.call("PUT", "/bucket/k", &[], b"0123456789").0, 200);
    // A Range that is not one byte range is ignored: the whole object (it was 416).
    for range in ["garbage", "bytes=0-1,4-5", "bytes=5-2", "items=0-1"] {
        let (status, _, body) = sim.call("GET", "/bucket/k", &[("range", range)], b"");
        assert_eq!((status, body.as_slice()), (200, &b"0123456789"[..]), "{range}");
    }
    let (status, head, body) = sim.call("GET", "/bucket/k", &[("range", "bytes=2-4")], b"");
    assert_eq!((status, body.as_slice()), (206, &b"234"[..]), "{head}");
    assert_eq!(sim.call("GET", "/bucket/k", &[("range", "bytes=10-")], b"").0, 416);
    // max-keys=0: an empty page that is not truncated (it said truncated with no token).
    let (_, _, body) = sim.call("GET", "/bucket?list-type=2&max-keys=0", &[], b"");
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("<IsTruncated>false</IsTruncated>") && !body.contains("NextContinuationToken"), "{body}");
    // Keys above 1,024 bytes are refused.
    let (status, _, body) = sim.call("PUT", &format!("/bucket/{}", "k".repeat(1025)), &[], b"x");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("KeyTooLongError"));
    assert_eq!(sim.call("PUT", &format!("/bucket/{}", "k".repeat(1024)), &[], b"x").0, 200);
    // DeleteObjects: an empty body is malformed (it got 200), and an integrity header is required.
    let md5_of_nothing = "1B2M2Y8AsgTpgAmY7PhCfg==";
    let (status, _, body) = sim.call("POST", "/bucket?delete", &[("content-md5", md5_of_nothing)], b"");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("MalformedXML"));
    let delete = b"<Delete><Object><Key>k</Key></Object></Delete>";
    let (status, _, body) = sim.call("POST", "/bucket?delete", &[("content-type", "text/plain")], delete);
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("Content-MD5"));
    assert_eq!(sim.call("GET", "/bucket/k", &[], b"").0, 200, "nothing deleted");
}

/// Where Kinesis answered otherwise than AWS.
#[test]
fn kinesis_edges_answer_as_aws_does() {
    let sim = Running::start(no_limits());
    for limit in [0, 10_001, 1_000_000] {
        let (status, e) = sim.kinesis("ListStreams", serde_json::json!({"Limit": limit}));
        assert_eq!((status, e["__type"].as_str()), (400, Some("ValidationException")), "Limit {limit}: {e}");
    }
    assert_eq!(sim.kinesis("ListStreams", serde_json::json!({"Limit": 10_000})).0, 200);
    // A GET with X-Amz-Target was served as the call.
    let headers = [("x-amz-target", "Kinesis_20131202.ListStreams"), ("content-type", "application/x-amz-json-1.1")];
    let (status, _, body) = sim.call("GET", "/", &headers, b"{}");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("POST"), "{}", String::from_utf8_lossy(&body));
    // A too large ShardCount names the limit, not "must be ≥ 1".
    let (status, e) = sim.kinesis("CreateStream", serde_json::json!({"StreamName": "s", "ShardCount": 100_000}));
    assert_eq!((status, e["__type"].as_str()), (400, Some("LimitExceededException")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("20000"), "{e}");
}

/// A thousand connections each sending a 256 MiB object would have the sim hold 256 GiB. Now
/// the bodies being read share a budget, and a call that does not fit is answered 503 before
/// its body is read.
#[test]
fn bodies_in_flight_share_a_budget() {
    let bounds = Bounds { bodies_in_flight: 1_000_000, ..Bounds::default() };
    let sim = Running::start(Config { bounds, ..no_limits() });
    assert_eq!(sim.call("PUT", "/bucket", &[], b"").0, 200);
    // A slow upload holds 800,000 bytes of the budget while its body trickles in.
    let mut slow = TcpStream::connect(sim.addr()).unwrap();
    write!(slow, "PUT /bucket/slow HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 800000\r\n\r\nfirst bytes").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (status, _, body) = sim.call("PUT", "/bucket/other", &[("content-length", "300000")], &vec![b'x'; 300_000]);
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("SlowDown"), "{body}");
    let put = serde_json::json!({"StreamName": "s", "Records": [{"Data": "x".repeat(300_000), "PartitionKey": "k"}]});
    let (status, e) = sim.kinesis("PutRecords", put);
    assert_eq!((status, e["__type"].as_str()), (503, Some("ServiceUnavailable")), "{e}");
    // Small calls still fit, and the budget comes back when the slow upload ends.
    assert_eq!(sim.call("PUT", "/bucket/small", &[], b"tiny").0, 200);
    drop(slow);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sim.call("PUT", "/bucket/other", &[], &vec![b'x'; 300_000]).0, 200);
}

/// A client speaking HTTP/2 with prior knowledge (the Node SDK v3's default) got no answer and
/// the sim said nothing. Now the same port serves it: curl, built with nghttp2, as the client.
#[test]
fn http2_with_prior_knowledge_is_served() {
    let sim = Running::start(no_limits());
    let curl =
        |args: &[&str]| std::process::Command::new("curl").args(["-s", "--http2-prior-knowledge"]).args(args).output();
    let endpoint = format!("http://{}", sim.addr());
    let Ok(health) = curl(&["-w", "\n%{http_version}", &format!("{endpoint}/_sim/health")]) else {
        eprintln!("SKIPPED: no curl");
        return;
    };
    let out = String::from_utf8_lossy(&health.stdout);
    if out.contains("--http2-prior-knowledge") || !health.status.success() {
        eprintln!("SKIPPED: this curl has no HTTP/2 ({out})");
        return;
    }
    assert!(out.contains("running") && out.ends_with("\n2"), "{out}");
    let call = curl(&[
        "-H",
        "x-amz-target: Kinesis_20131202.CreateStream",
        "-H",
        "content-type: application/x-amz-json-1.1",
        "-d",
        r#"{"StreamName":"h2","ShardCount":1}"#,
        &endpoint,
    ])
    .unwrap();
    assert!(call.status.success(), "{call:?}");
    let summary = sim.kinesis("DescribeStreamSummary", serde_json::json!({"StreamName": "h2"})).1;
    assert_eq!(summary["StreamDescriptionSummary"]["OpenShardCount"], 1, "created over HTTP/2");
    // HTTP/1.1 still answers on the same port.
    assert_eq!(sim.call("GET", "/_sim/health", &[], b"").0, 200);
}

/// A client that asks for HTTP/2's upgrade (`Upgrade: h2c`, as `curl --http2` does on http://)
/// is answered over HTTP/1.1, as RFC 7540 §3.2 allows (RFC 9113 deprecates the upgrade), and its
/// connection serves the next request: no 101, no hang.
#[test]
fn an_h2c_upgrade_is_answered_over_http_1_1() {
    let sim = Running::start(no_limits());
    let mut c = TcpStream::connect(sim.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let upgrade = "GET /_sim/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n\
                   Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
    let plain = "GET /_sim/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    c.write_all(format!("{upgrade}{plain}").as_bytes()).unwrap();
    let mut said = String::new();
    c.read_to_string(&mut said).unwrap();
    assert_eq!(said.matches("HTTP/1.1 200 OK").count(), 2, "{said}");
    assert!(!said.contains(" 101 "), "{said}");
    // curl, a client this project did not write, where it is installed: HTTP/1.1 comes back.
    let endpoint = format!("http://{}/_sim/health", sim.addr());
    if let Ok(out) =
        std::process::Command::new("curl").args(["-s", "--http2", "-w", "\n%{http_version}", &endpoint]).output()
    {
        let out = String::from_utf8_lossy(&out.stdout);
        assert!(out.contains("running") && out.ends_with("\n1.1"), "{out}");
    }
}

/// A client that is not speaking HTTP (most often https against the sim's http endpoint) got a
/// closed connection and the sim said nothing. It is counted now, and said on stderr with the
/// first bytes it sent and the likely cause; the sim serves on.
#[test]
fn a_connection_that_is_not_http_is_counted_and_said() {
    let sim = Running::start(no_limits());
    // The first bytes of a TLS ClientHello, then garbage of the same kind.
    let mut tls = TcpStream::connect(sim.addr()).unwrap();
    tls.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, b'\r', b'\n', b'\r', b'\n'])
        .unwrap();
    tls.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    assert_eq!(sim.stats()["connections"]["unparsable"], 1);
    assert_eq!(sim.call("GET", "/_sim/health", &[], b"").0, 200);
}
