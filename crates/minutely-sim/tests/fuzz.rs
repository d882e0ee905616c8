//! Fuzzing the sim's request path: seeded mutation of a corpus kept in `tests/fuzz/TARGET/`,
//! every input sent through [`Sim::call`], the same code a socket reaches (routing, the Kinesis
//! JSON and CBOR decoders, S3's router, aws-chunked bodies, XML bodies, sequence numbers and
//! iterators, the admin API).
//!
//! Not coverage-guided: cargo-fuzz needs a nightly toolchain, which these machines cannot
//! fetch. Instead each target mutates its corpus (bit flips, boundary numbers, JSON and HTTP
//! tokens, splices, cuts) and keeps every input that drew an answer not seen before (status and
//! error code), so that later mutations start from it.
//!
//! What is checked of every answer: the sim did not panic (it answers a panic with a 500 and
//! counts it), answered within 5 s, answered with a status it documents (no 500 without an
//! injected fault), and an error is AWS-shaped (Kinesis: `__type` and `message`; S3: an XML
//! `<Error>` with a `<Code>`; the admin API: JSON with `error`).
//!
//! `cargo test -p minutely-sim --test fuzz` runs each target for a bounded number of inputs;
//! `MINUTELY_FUZZ_SECONDS=N` runs each for N seconds instead (CI), `MINUTELY_FUZZ_SEED` picks
//! the seed. A failing input is written to `target/fuzz-failures/` with the command that
//! replays it; copied into `tests/fuzz/TARGET/`, it is replayed by every later run.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use md5::{Digest, Md5};
use minutely_sim::{Config, Sim};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How one target turns an input into requests.
struct Target {
    name: &'static str,
    requests: fn(&[u8]) -> Vec<http::Request<Bytes>>,
}

const TARGETS: &[Target] = &[
    Target { name: "kinesis_json", requests: kinesis_json },
    Target { name: "kinesis_cbor", requests: kinesis_cbor },
    Target { name: "s3_requests", requests: s3_requests },
    Target { name: "aws_chunked", requests: aws_chunked },
    Target { name: "xml_bodies", requests: xml_bodies },
    Target { name: "iterators", requests: iterators },
    Target { name: "admin", requests: admin },
];

fn request(method: &str, uri: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Option<http::Request<Bytes>> {
    let mut b = http::Request::builder().method(method).uri(uri).header("host", "127.0.0.1:4567");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body.into()).ok()
}

fn kinesis_call(op: &str, content_type: &str, body: impl Into<Bytes>) -> Option<http::Request<Bytes>> {
    let target = format!("Kinesis_20131202.{op}");
    request("POST", "/", &[("x-amz-target", &target), ("content-type", content_type)], body)
}

/// `OPERATION\nJSON BODY`.
fn kinesis_json(input: &[u8]) -> Vec<http::Request<Bytes>> {
    let (op, body) = split_line(input);
    kinesis_call(&String::from_utf8_lossy(op), "application/x-amz-json-1.1", body.to_vec()).into_iter().collect()
}

/// `OPERATION\nCBOR BODY`.
fn kinesis_cbor(input: &[u8]) -> Vec<http::Request<Bytes>> {
    let (op, body) = split_line(input);
    kinesis_call(&String::from_utf8_lossy(op), "application/x-amz-cbor-1.1", body.to_vec()).into_iter().collect()
}

/// `METHOD PATH?QUERY\nname: value\n...\n\nBODY`, as a client could send it.
fn s3_requests(input: &[u8]) -> Vec<http::Request<Bytes>> {
    let split = input.windows(2).position(|w| w == b"\n\n").unwrap_or(input.len());
    let head = String::from_utf8_lossy(&input[..split]);
    let body = input.get(split + 2..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let Some((method, uri)) = lines.next().and_then(|l| l.split_once(' ')) else { return Vec::new() };
    let headers: Vec<(&str, &str)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim(), v.trim())).collect();
    request(method, uri, &headers, body).into_iter().collect()
}

/// An aws-chunked PutObject body.
fn aws_chunked(input: &[u8]) -> Vec<http::Request<Bytes>> {
    let headers = [("content-encoding", "aws-chunked"), ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")];
    request("PUT", "/bkt/chunked", &headers, input.to_vec()).into_iter().collect()
}

/// A DeleteObjects body, with its Content-MD5 right so that the parser reads it.
fn xml_bodies(input: &[u8]) -> Vec<http::Request<Bytes>> {
    let md5 = STANDARD.encode(Md5::digest(input));
    request("POST", "/bkt?delete", &[("content-md5", &md5)], input.to_vec()).into_iter().collect()
}

/// `ITERATOR TEXT\nTYPE\nSEQUENCE NUMBER\nSHARD ID`: GetRecords with the text as an iterator
/// (encoded as the sim encodes its own), and GetShardIterator with the other lines.
fn iterators(input: &[u8]) -> Vec<http::Request<Bytes>> {
    let text = String::from_utf8_lossy(input);
    let mut lines = text.split('\n');
    let iterator = URL_SAFE_NO_PAD.encode(lines.next().unwrap_or_default());
    let (kind, sequence, shard) = (lines.next(), lines.next(), lines.next());
    let get = serde_json::json!({"ShardIterator": iterator, "Limit": 3});
    let at = serde_json::json!({"StreamName": "s", "ShardId": shard, "ShardIteratorType": kind, "StartingSequenceNumber": sequence});
    [
        kinesis_call("GetRecords", "application/x-amz-json-1.1", get.to_string()),
        kinesis_call("GetShardIterator", "application/x-amz-json-1.1", at.to_string()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `METHOD /_sim/PATH\nJSON BODY`.
fn admin(input: &[u8]) -> Vec<http::Request<Bytes>> {
    let (line, body) = split_line(input);
    let line = String::from_utf8_lossy(line);
    let Some((method, path)) = line.split_once(' ') else { return Vec::new() };
    request(method, path, &[("content-type", "application/json")], body.to_vec()).into_iter().collect()
}

fn split_line(input: &[u8]) -> (&[u8], &[u8]) {
    match input.iter().position(|b| *b == b'\n') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (input, &[]),
    }
}

/// What the sim answered, in a word: status and error code.
fn outcome(response: &http::Response<Bytes>) -> Result<String, String> {
    let status = response.status().as_u16();
    let body = String::from_utf8_lossy(response.body());
    let ct = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    // 501: what the sim documents it does not serve (S3's ListObjects v1; a HEAD's answer has
    // no body); any other 5xx, with no fault set, is a failure of the sim.
    if status >= 500 && !(status == 501 && (body.is_empty() || body.contains("<Code>NotImplemented</Code>"))) {
        return Err(format!("status {status} with no fault injected: {body}"));
    }
    if !(200..=501).contains(&status) {
        return Err(format!("status {status}"));
    }
    if status < 400 {
        return Ok(status.to_string());
    }
    let code = if ct.contains("amz-json") {
        let v: serde_json::Value =
            serde_json::from_slice(response.body()).map_err(|e| format!("{status}: not JSON ({e}): {body}"))?;
        match (v["__type"].as_str(), v["message"].as_str()) {
            (Some(t), Some(_)) => t.to_owned(),
            _ => return Err(format!("{status}: a Kinesis error without __type and message: {body}")),
        }
    } else if ct.contains("amz-cbor") {
        let v: serde_json::Value =
            ciborium::from_reader(&response.body()[..]).map_err(|e| format!("{status}: not CBOR ({e})"))?;
        match (v["__type"].as_str(), v["message"].as_str()) {
            (Some(t), Some(_)) => t.to_owned(),
            _ => return Err(format!("{status}: a CBOR error without __type and message: {v}")),
        }
    } else if ct == "application/json" {
        let v: serde_json::Value =
            serde_json::from_slice(response.body()).map_err(|e| format!("{status}: not JSON ({e}): {body}"))?;
        v["error"]
            .as_str()
            .map(|_| "admin".to_owned())
            .ok_or_else(|| format!("{status}: an admin error without `error`: {body}"))?
    } else {
        match body.split_once("<Code>").and_then(|(_, rest)| rest.split_once("</Code>")) {
            Some((code, _)) if body.contains("<Error>") => code.to_owned(),
            _ if body.is_empty() => "empty".to_owned(), // HEAD answers have no body
            _ => return Err(format!("{status}: an S3 error without <Error><Code>: {body}")),
        }
    };
    Ok(format!("{status} {code}"))
}

/// A fresh sim state: a stream `s` of two shards with a few records (its CREATING time
/// passed on the sim's manual clock), a bucket `bkt` with an object, no faults.
async fn prepare(sim: &Sim) {
    let reset = request("POST", "/_sim/reset", &[("x-minutely-sim", "1")], "").unwrap();
    assert_eq!(sim.call(reset).await.unwrap().status(), 200);
    let json = "application/x-amz-json-1.1";
    let calls = [
        // The clock back where every run starts (a fuzzed request may have moved it anywhere).
        request(
            "POST",
            "/_sim/clock",
            &[("x-minutely-sim", "1"), ("content-type", "application/json")],
            r#"{"set_ms":1700000000000}"#,
        ),
        kinesis_call("CreateStream", json, r#"{"StreamName":"s","ShardCount":2}"#),
        request(
            "POST",
            "/_sim/clock",
            &[("x-minutely-sim", "1"), ("content-type", "application/json")],
            r#"{"advance_ms":1000}"#,
        ),
        kinesis_call(
            "PutRecords",
            json,
            r#"{"StreamName":"s","Records":[{"Data":"YQ==","PartitionKey":"a"},{"Data":"Yg==","PartitionKey":"b"},{"Data":"Yw==","PartitionKey":"c"}]}"#,
        ),
        request("PUT", "/bkt", &[], ""),
        request("PUT", "/bkt/key", &[], "0123456789"),
    ];
    for call in calls.into_iter().flatten() {
        assert_eq!(sim.call(call).await.unwrap().status(), 200);
    }
}

/// Byte strings that break parsers: boundaries of the integers the sim reads, JSON, HTTP and
/// CBOR structure.
const TOKENS: &[&[u8]] = &[
    b"18446744073709551615",
    b"18446744073709551616",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"340282366920938463463374607431768211455",
    b"340282366920938463463374607431768211456",
    b"4294967295",
    b"ffffffffffffffff",
    b"-1",
    b"0",
    b"1e309",
    b"null",
    b"[]",
    b"{}",
    b"\"\"",
    b"\\u0000",
    b"\\ud800",
    b"\r\n",
    b"\n\n",
    b";chunk-signature=",
    b"x-amz-checksum-crc32:",
    b"bytes=",
    b"&#x110000;",
    b"]]>",
    b"<Delete>",
    b"%",
    b"%ff",
    b"?",
    b"=",
    b"|",
    b"shardId-999999999999",
    b"49999999999999999999999999999999999999999999999999999999",
    b"\xff\xfe",
    b"\xbf\xff",
    b"\x9f",
    b"\x1b\xff\xff\xff\xff\xff\xff\xff\xff",
];

fn mutate(rng: &mut StdRng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    for _ in 0..rng.random_range(1..=6) {
        let at = rng.random_range(0..=input.len());
        match rng.random_range(0..8) {
            0 if !input.is_empty() => {
                let i = rng.random_range(0..input.len());
                input[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !input.is_empty() => {
                let i = rng.random_range(0..input.len());
                input[i] = *b"\0\xff\"{}[],:\\\r\n-9 ;=&<>/".get(rng.random_range(0..24)).unwrap_or(&0);
            }
            2 => {
                let token = TOKENS[rng.random_range(0..TOKENS.len())];
                input.splice(at..at, token.iter().copied());
            }
            3 if !input.is_empty() => {
                // Replace a run of digits with a boundary number.
                let token = TOKENS[rng.random_range(0..10)];
                let start = rng.random_range(0..input.len());
                let end = (start..input.len()).find(|&i| !input[i].is_ascii_digit()).unwrap_or(input.len());
                input.splice(start..end.max(start + 1).min(input.len()), token.iter().copied());
            }
            4 if !input.is_empty() => {
                let end = rng.random_range(at..=input.len().min(at + 16));
                input.drain(at.min(end)..end);
            }
            5 if !input.is_empty() => {
                let start = rng.random_range(0..input.len());
                let end = rng.random_range(start..=input.len().min(start + 32));
                let copy = input[start..end].to_vec();
                input.splice(at..at, copy);
            }
            6 if !corpus.is_empty() => {
                let other = &corpus[rng.random_range(0..corpus.len())];
                let start = rng.random_range(0..=other.len());
                input.truncate(at);
                input.extend_from_slice(&other[start..]);
            }
            _ => input.truncate(at),
        }
    }
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz").join(target)
}

fn load_corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir(target))
        .unwrap_or_else(|e| panic!("the corpus of {target}: {e}"))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.into_iter().map(|p| (p.display().to_string(), std::fs::read(&p).unwrap())).collect()
}

/// Sends `input`'s requests; the first broken promise, if any.
async fn run_one(sim: &Sim, target: &Target, input: &[u8], seen: &mut HashSet<String>) -> Result<bool, String> {
    let mut new = false;
    for req in (target.requests)(input) {
        let what = format!("{} {}", req.method(), req.uri());
        let answer = tokio::time::timeout(Duration::from_secs(5), sim.call(req))
            .await
            .map_err(|_| format!("{what}: no answer within 5 s"))?
            .ok_or_else(|| format!("{what}: the answer was dropped with no fault set"))?;
        if sim.stats().panics > 0 {
            return Err(format!("{what}: the sim panicked (see stderr)"));
        }
        new |= seen.insert(outcome(&answer).map_err(|e| format!("{what}: {e}"))?);
    }
    Ok(new)
}

fn fail(target: &Target, input: &[u8], why: &str) -> ! {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}-{:x}", target.name, Md5::digest(input)));
    std::fs::write(&path, input).unwrap();
    panic!(
        "{}: {why}\nthe input is in {}; copy it into {} to replay it in every run:\n  cp {} {}/ && cargo test -p minutely-sim --test fuzz {}",
        target.name,
        path.display(),
        corpus_dir(target.name).display(),
        path.display(),
        corpus_dir(target.name).display(),
        target.name
    );
}

/// Replays the target's corpus, then mutates it for the budget.
fn fuzz(name: &str) {
    let target = TARGETS.iter().find(|t| t.name == name).unwrap();
    let seconds: Option<u64> = std::env::var("MINUTELY_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok());
    let seed: u64 = std::env::var("MINUTELY_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // A clock that moves only when told, so that `prepare` takes the stream past CREATING
        // and the requests meet every state (DELETING too) the same way each run.
        let clock = minutely_sim::Clock::manual(1_700_000_000_000);
        let sim = Sim::start(Config { limits: false, clock, ..Config::default() }).await.unwrap();
        prepare(&sim).await;
        let mut seen = HashSet::new();
        let mut corpus = Vec::new();
        for (file, input) in load_corpus(name) {
            if let Err(why) = run_one(&sim, target, &input, &mut seen).await {
                panic!("{name}: the corpus file {file}: {why}");
            }
            corpus.push(input);
        }
        let seeds = corpus.len();
        let mut rng = StdRng::seed_from_u64(seed);
        let started = Instant::now();
        let mut runs = 0u64;
        loop {
            let done = match seconds {
                Some(s) => started.elapsed() >= Duration::from_secs(s),
                None => runs >= 20_000,
            };
            if done {
                break;
            }
            let mut input = corpus[rng.random_range(0..corpus.len())].clone();
            mutate(&mut rng, &mut input, &corpus);
            input.truncate(64 * 1024);
            match run_one(&sim, target, &input, &mut seen).await {
                Ok(true) => corpus.push(input),
                Ok(false) => {}
                Err(why) => fail(target, &input, &why),
            }
            runs += 1;
            // A fresh state now and then, so that what one input changed does not hide the next.
            if runs.is_multiple_of(500) || name == "admin" {
                prepare(&sim).await;
            }
        }
        eprintln!(
            "{name}: {runs} inputs in {:.1} s (seed {seed}), from {seeds} corpus files; {} kept for new answers; {} answers seen",
            started.elapsed().as_secs_f64(),
            corpus.len() - seeds,
            seen.len()
        );
        assert!(seen.len() >= 2, "{name}: only {} kind of answer: the target reaches too little", seen.len());
    });
}

#[test]
fn kinesis_json_target() {
    fuzz("kinesis_json");
}

#[test]
fn kinesis_cbor_target() {
    fuzz("kinesis_cbor");
}

#[test]
fn s3_requests_target() {
    fuzz("s3_requests");
}

#[test]
fn aws_chunked_target() {
    fuzz("aws_chunked");
}

#[test]
fn xml_bodies_target() {
    fuzz("xml_bodies");
}

#[test]
fn iterators_target() {
    fuzz("iterators");
}

#[test]
fn admin_target() {
    fuzz("admin");
}
