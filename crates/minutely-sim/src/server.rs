//! The HTTP side: one port for Kinesis (`X-Amz-Target`), S3 (everything else, path style) and
//! the admin API (`/_sim/...`). Whole-call faults (latency, errors, lost answers) are applied
//! here, the same way for both services.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use http_body_util::{BodyExt, Limited};
use hyper::body::Body as HttpBody;

use crate::faults::{ErrorKind, LostAnswer, dice};
use crate::kinesis::error::KinesisError;
use crate::kinesis::{self, Answer, Protocol};
use crate::s3::{Reply, S3Error, S3Request, split_path};
use crate::shared::Shared;
use crate::sigv4::{self, Refusal, Service, Signed};

/// Put bodies above this are refused before parsing (a PutRecords holds at most 10 MiB of
/// data, about 13.4 MiB in base64).
const MAX_PUT_BODY: usize = 16 * 1024 * 1024;
/// Any other call's body (Kinesis's other calls, S3's but PutObject and DeleteObjects).
const MAX_CALL_BODY: usize = 1024 * 1024;
/// DeleteObjects: 1,000 keys of up to 1,024 bytes, in XML.
const MAX_DELETE_BODY: usize = 4 * 1024 * 1024;
const KINESIS_TARGET_PREFIX: &str = "Kinesis_20131202.";
/// Where calls the sim does not serve are counted: whatever their name, one entry.
const UNKNOWN_OPERATION: &str = "UnknownOperation";

/// At most 100 characters of what a client sent, for an error message.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(100) {
        Some((i, _)) => format!("{}... ({} bytes)", &s[..i], s.len()),
        None => s.to_owned(),
    }
}

/// A request body the sim reads: hyper's from a socket, or bytes already in memory
/// ([`crate::Sim::call`]).
pub(crate) trait RequestBody:
    HttpBody<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send
{
}

impl<B: HttpBody<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send> RequestBody for B {}

/// The error that makes hyper close a connection without answering: a lost answer.
#[derive(Debug)]
pub(crate) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("answer dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

/// Answers one request. A panic in the sim (a bug: none is known) is answered as AWS's
/// `InternalFailure` (500), said on stderr and counted in `panics`, instead of closing the
/// connection or, in process, unwinding into the caller.
pub(crate) async fn handle(shared: Arc<Shared>, req: Request<impl RequestBody>) -> Result<Response<Body>, Dropped> {
    // Cheap clones (the URI shares its bytes): said only if the call panics.
    let (method, uri) = (req.method().clone(), req.uri().clone());
    match futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(route(shared.clone(), req))).await {
        Ok(answer) => answer,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            shared.stats.bump(|s| s.panics += 1);
            eprintln!(
                "minutely sim: {method} {} panicked ({why}); answered 500 InternalFailure. This is a bug in the sim: please report it with the request.",
                shorten(&uri.to_string())
            );
            let body = serde_json::json!({"__type": "InternalFailure", "message": format!("minutely sim failed on this request: {why}")});
            Ok(respond(500, "application/x-amz-json-1.1", body.to_string()))
        }
    }
}

async fn route(shared: Arc<Shared>, req: Request<impl RequestBody>) -> Result<Response<Body>, Dropped> {
    if req.uri().path().starts_with("/_sim/") {
        return Ok(admin_call(&shared, req).await);
    }
    let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_owned);
    match target {
        Some(t) => kinesis(&shared, &t, req).await,
        None => Ok(s3_call(&shared, req).await),
    }
}

/// A response body: whole (every answer but one), or pushed as it comes (SubscribeToShard's
/// events).
pub(crate) type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// A whole body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    use http_body_util::BodyExt;
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

/// Latency and whole-call errors of `op`. Returns the error kind to answer, if the dice say so.
async fn whole_call_faults(shared: &Shared, op: &str, call: u64) -> Option<ErrorKind> {
    let (latency, error) = {
        let f = shared.faults.read().unwrap_or_else(|e| e.into_inner());
        let o = f.operation(op)?;
        let jitter = if o.jitter_ms > 0 { (dice(f.seed, op, call, 1) * (o.jitter_ms + 1) as f64) as u64 } else { 0 };
        let error = (o.error_rate > 0.0 && dice(f.seed, op, call, 0) < o.error_rate).then_some(o.error);
        (o.latency_ms + jitter, error)
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if error.is_some() {
        shared.stats.bump(|s| *s.errors_injected.entry(op.to_owned()).or_default() += 1);
    }
    error
}

fn kinesis_answer(protocol: Protocol, a: Answer) -> Response<Body> {
    let mut r = respond(a.status, protocol.content_type(), a.body);
    if let Some(code) = a.error
        && let Ok(v) = code.parse()
    {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

/// The Kinesis operation `target` names, if the sim serves it and it came as a POST.
fn operation_of(target: &str, method: &http::Method) -> Result<kinesis::Operation, KinesisError> {
    let Some(name) = target.strip_prefix(KINESIS_TARGET_PREFIX) else {
        return Err(KinesisError::new(
            "UnknownOperationException",
            format!("minutely sim serves Kinesis ({KINESIS_TARGET_PREFIX}*) and S3; not {}", shorten(target)),
        ));
    };
    let Some(operation) = kinesis::Operation::parse(name) else {
        return Err(KinesisError::new(
            "UnknownOperationException",
            format!(
                "minutely sim does not serve the Kinesis operation {}; it serves {}",
                shorten(name),
                kinesis::OPERATIONS.join(", ")
            ),
        ));
    };
    if method != http::Method::POST {
        return Err(KinesisError::new(
            "UnknownOperationException",
            format!("Kinesis calls are POST requests; this {} was a {method}", operation.name()),
        ));
    }
    Ok(operation)
}

async fn kinesis(
    shared: &Arc<Shared>,
    target: &str,
    req: Request<impl RequestBody>,
) -> Result<Response<Body>, Dropped> {
    let protocol =
        Protocol::from_content_type(req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()));
    let operation = match operation_of(target, req.method()) {
        Ok(operation) => operation,
        Err(e) => {
            shared.stats.call(UNKNOWN_OPERATION);
            return Ok(kinesis_answer(protocol, Answer::error(protocol, &e)));
        }
    };
    let op = operation.name();
    let call = shared.stats.call(op);
    if let Some(kind) = whole_call_faults(shared, op, call).await {
        let e = match kind {
            ErrorKind::Internal => KinesisError::new("InternalFailure", "Injected by minutely sim"),
            ErrorKind::Unavailable => KinesisError::new("ServiceUnavailable", "Injected by minutely sim"),
            ErrorKind::Throttle if kinesis::is_data_operation(op) => {
                KinesisError::new("ProvisionedThroughputExceededException", "Rate exceeded (injected by minutely sim)")
            }
            ErrorKind::Throttle => {
                KinesisError::new("LimitExceededException", "Rate exceeded (injected by minutely sim)")
            }
        };
        return Ok(kinesis_answer(protocol, Answer::error(protocol, &e)));
    }
    let cap = if matches!(operation, kinesis::Operation::PutRecords | kinesis::Operation::PutRecord) {
        MAX_PUT_BODY
    } else {
        MAX_CALL_BODY
    };
    let (parts, body) = req.into_parts();
    let Some(_reserved) = shared.bodies.reserve(crate::budget::declared(&parts.headers), cap) else {
        let e = KinesisError::new("ServiceUnavailable", too_busy(shared));
        return Ok(kinesis_answer(protocol, Answer::error(protocol, &e)));
    };
    let body = match Limited::new(body, cap).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let e = KinesisError::serialization(format!(
                "the request body could not be read (at most {cap} bytes for {op}): {e}"
            ));
            return Ok(kinesis_answer(protocol, Answer::error(protocol, &e)));
        }
    };
    if let Err(refusal) = check_signature(shared, &parts, &body, Service::Kinesis) {
        return Ok(kinesis_answer(protocol, Answer::error(protocol, &kinesis_refusal(refusal))));
    }
    if operation == kinesis::Operation::SubscribeToShard {
        return Ok(kinesis::subscribe::answer(shared.clone(), protocol, &body, call)
            .unwrap_or_else(|e| kinesis_answer(protocol, Answer::error(protocol, &e))));
    }
    let answer = kinesis::handle(shared, op, protocol, &body, call);
    match answer.lost {
        Some(LostAnswer::Drop) => return Err(Dropped),
        Some(LostAnswer::Error500) => {
            let e = KinesisError::new("InternalFailure", "Injected by minutely sim (the call was applied)");
            return Ok(kinesis_answer(protocol, Answer::error(protocol, &e)));
        }
        None => {}
    }
    Ok(kinesis_answer(protocol, answer))
}

/// Objects above this are refused (the sim keeps everything in memory).
const MAX_OBJECT_BODY: usize = 256 * 1024 * 1024;

async fn s3_call(shared: &Shared, req: Request<impl RequestBody>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let resource = parts.uri.path().to_owned();
    // Path and query are parsed once, before the body: the operation decides the faults.
    let mut request = match split_path(parts.uri.path()) {
        Ok((bucket, key)) => S3Request {
            method: &parts.method,
            bucket,
            key,
            query: parts
                .uri
                .query()
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
            headers: &parts.headers,
            body: Bytes::new(),
        },
        Err(e) => {
            shared.stats.call("s3:Other");
            return s3_reply(e.reply(&parts.method, &resource));
        }
    };
    let op = request.operation();
    let call = shared.stats.call(op);
    if let Some(kind) = whole_call_faults(shared, op, call).await {
        let (status, code) = match kind {
            ErrorKind::Internal => (500, "InternalError"),
            ErrorKind::Unavailable => (503, "ServiceUnavailable"),
            ErrorKind::Throttle => (503, "SlowDown"),
        };
        return s3_reply(
            S3Error { status, code, message: "Injected by minutely sim".to_owned() }.reply(&parts.method, &resource),
        );
    }
    let cap = match op {
        "s3:PutObject" | "s3:UploadPart" => MAX_OBJECT_BODY,
        "s3:DeleteObjects" => MAX_DELETE_BODY,
        _ => MAX_CALL_BODY,
    };
    let Some(_reserved) = shared.bodies.reserve(crate::budget::declared(&parts.headers), cap) else {
        let e = S3Error { status: 503, code: "SlowDown", message: too_busy(shared) };
        return s3_reply(e.reply(&parts.method, &resource));
    };
    let reply = match Limited::new(body, cap).collect().await {
        Err(e) => S3Error {
            status: 400,
            code: "EntityTooLarge",
            message: format!("the body could not be read (at most {cap} bytes for {op}): {e}"),
        }
        .reply(&parts.method, &resource),
        Ok(body) => {
            request.body = body.to_bytes();
            match check_signature(shared, &parts, &request.body, Service::S3) {
                Err(refusal) => s3_refusal(refusal).reply(&parts.method, &resource),
                Ok(()) => shared.s3.handle(request).unwrap_or_else(|e| e.reply(&parts.method, &resource)),
            }
        }
    };
    s3_reply(reply)
}

fn s3_reply(reply: Reply) -> Response<Body> {
    let mut r = Response::new(full(reply.body));
    *r.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in reply.headers {
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            r.headers_mut().insert(name, v);
        }
    }
    r
}

fn too_busy(shared: &Shared) -> String {
    format!(
        "minutely sim is reading {} MiB of request bodies already, the most it holds at once; retry",
        shared.bodies.max() / (1024 * 1024)
    )
}

/// With `--verify-signatures`, the request's SigV4 signature checked against the sim's
/// credentials (`sigv4.rs`); without, every request passes.
fn check_signature(
    shared: &Shared,
    parts: &http::request::Parts,
    body: &[u8],
    service: Service,
) -> Result<(), Refusal> {
    let Some(credentials) = &shared.signatures else { return Ok(()) };
    let signed = Signed {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        authority: parts.uri.authority().map(|a| a.as_str()),
        headers: &parts.headers,
        body,
    };
    sigv4::verify(&signed, service, credentials, shared.clock.now_ms())
}

/// A refused signature as Kinesis answers it.
fn kinesis_refusal(r: Refusal) -> KinesisError {
    match r {
        Refusal::Missing(m) => KinesisError::new("MissingAuthenticationTokenException", m),
        Refusal::UnknownKey(m) => KinesisError::new(
            "UnrecognizedClientException",
            format!("The security token included in the request is invalid: {m}"),
        ),
        Refusal::Malformed(m) => KinesisError::new("IncompleteSignatureException", m),
        Refusal::Expired(m) => KinesisError::new("InvalidSignatureException", format!("Signature expired: {m}")),
        Refusal::Mismatch(m) => KinesisError::new("InvalidSignatureException", m),
    }
}

/// A refused signature as S3 answers it.
fn s3_refusal(r: Refusal) -> S3Error {
    let (status, code, message) = match r {
        Refusal::Missing(m) => (403, "AccessDenied", m),
        Refusal::UnknownKey(m) => (403, "InvalidAccessKeyId", m),
        Refusal::Malformed(m) => (400, "AuthorizationHeaderMalformed", m),
        Refusal::Expired(m) if m.contains("presigned") => (403, "AccessDenied", format!("Request has expired: {m}")),
        Refusal::Expired(m) => (403, "RequestTimeTooSkewed", m),
        Refusal::Mismatch(m) => (403, "SignatureDoesNotMatch", m),
    };
    S3Error { status, code, message }
}

/// The admin API (`admin.rs`), its answer as JSON.
async fn admin_call(shared: &Shared, req: Request<impl RequestBody>) -> Response<Body> {
    let json = |status: u16, v: serde_json::Value| respond(status, "application/json", v.to_string());
    if let Some(why) = admin_refusal(req.method(), req.headers()) {
        return json(403, serde_json::json!({ "error": why }));
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let body = match Limited::new(req.into_body(), MAX_CALL_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return json(400, serde_json::json!({"error": format!("the body could not be read: {e}")})),
    };
    let (status, answer) = crate::admin::answer(shared, method.as_str(), &path, &body);
    json(status, answer)
}

/// Why the admin API refuses a request, if it does. It changes a sim that may run on a
/// developer's laptop, so it answers no web page: the Host must be a loopback name (a DNS
/// rebinding page sends its own), and a change must be JSON or carry `x-minutely-sim`, which a
/// page cannot send across sites without a preflight the sim never grants. A client without a
/// Host header is not a browser.
pub(crate) fn admin_refusal(method: &http::Method, headers: &http::HeaderMap) -> Option<String> {
    if let Some(host) = headers.get(http::header::HOST)
        && !host.to_str().is_ok_and(is_loopback_host)
    {
        return Some(format!(
            "the admin API answers only requests to a loopback host (127.0.0.1, localhost, [::1]), not {}",
            shorten(&String::from_utf8_lossy(host.as_bytes()))
        ));
    }
    let changes = !matches!(*method, http::Method::GET | http::Method::HEAD);
    let is_json = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if changes && !is_json && !headers.contains_key("x-minutely-sim") {
        return Some(format!(
            "{method} to the admin API must be sent with content-type: application/json (or an x-minutely-sim header), so that no web page can send it"
        ));
    }
    None
}

/// `127.0.0.1`, `localhost`, `[::1]` (or any `127.x.y.z`), with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(addr, _)| addr),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_api_answers_no_web_page() {
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut h = http::HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        let post = http::Method::POST;
        // A cross-site form or fetch without preflight: text/plain, or a form encoding.
        for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            let why = admin_refusal(&post, &headers(&[("host", "127.0.0.1:4567"), ("content-type", ct)])).unwrap();
            assert!(why.contains("application/json"), "{ct}: {why}");
        }
        assert!(admin_refusal(&post, &headers(&[("host", "127.0.0.1:4567")])).is_some(), "no content type");
        // DNS rebinding: the page's own name in Host, even with JSON.
        for host in ["evil.example:4567", "127.0.0.1.evil.example", "10.0.0.1:4567", "0.0.0.0:4567"] {
            let why = admin_refusal(&post, &headers(&[("host", host), ("content-type", "application/json")])).unwrap();
            assert!(why.contains("loopback"), "{host}: {why}");
            assert!(admin_refusal(&http::Method::GET, &headers(&[("host", host)])).is_some(), "GET from {host}");
        }
        // What our tools, curl with -H and the SDKs send.
        for host in ["127.0.0.1:4567", "localhost:4567", "localhost", "[::1]:4567", "127.0.0.2", "LOCALHOST:1"] {
            assert_eq!(
                admin_refusal(&post, &headers(&[("host", host), ("content-type", "application/json; charset=utf-8")])),
                None,
                "{host}"
            );
            assert_eq!(admin_refusal(&post, &headers(&[("host", host), ("x-minutely-sim", "1")])), None, "{host}");
            assert_eq!(admin_refusal(&http::Method::GET, &headers(&[("host", host)])), None, "{host}");
        }
        assert_eq!(admin_refusal(&http::Method::GET, &headers(&[])), None, "no Host: not a browser");
    }
}
