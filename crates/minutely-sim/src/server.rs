//! The HTTP side: one port for Kinesis (`X-Amz-Target`), S3 (everything else, path style) and
//! the admin API (`/_sim/...`). Whole-call faults (latency, errors, lost answers) are applied
//! here, the same way for both services.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use http_body_util::{BodyExt, Limited};
use hyper::body::Body;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::faults::{ErrorKind, LostAnswer, dice};
use crate::kinesis::error::KinesisError;
use crate::kinesis::{self, Answer, Protocol};
use crate::s3::{Reply, S3Error, S3Request, split_path};
use crate::shared::Shared;

/// Kinesis bodies above this are refused before parsing (a PutRecords holds at most 5 MiB of
/// data, about 7 MiB in base64).
const MAX_KINESIS_BODY: usize = 16 * 1024 * 1024;
const KINESIS_TARGET_PREFIX: &str = "Kinesis_20131202.";

/// A request body the sim reads: hyper's from a socket, or bytes already in memory
/// ([`crate::Sim::call`]).
pub(crate) trait RequestBody:
    Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send
{
}

impl<B: Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send> RequestBody for B {}

/// The error that makes hyper close a connection without answering: a lost answer.
#[derive(Debug)]
pub(crate) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("answer dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: tokio::sync::oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<impl RequestBody>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    if req.uri().path().starts_with("/_sim/") {
        return Ok(admin_call(&shared, req).await);
    }
    let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_owned);
    match target {
        Some(t) => kinesis(&shared, &t, req).await,
        None => Ok(s3_call(&shared, req).await),
    }
}

fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
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

fn kinesis_answer(protocol: Protocol, a: Answer) -> Response<Full<Bytes>> {
    let mut r = respond(a.status, protocol.content_type(), a.body);
    if let Some(code) = a.error
        && let Ok(v) = code.parse()
    {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

async fn kinesis(
    shared: &Shared,
    target: &str,
    req: Request<impl RequestBody>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let protocol =
        Protocol::from_content_type(req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()));
    let Some(op) = target.strip_prefix(KINESIS_TARGET_PREFIX) else {
        let e = KinesisError::new(
            "UnknownOperationException",
            format!("minutely sim serves Kinesis ({KINESIS_TARGET_PREFIX}*) and S3; not {target}"),
        );
        return Ok(kinesis_answer(protocol, Answer::error(protocol, &e)));
    };
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
    let body = match Limited::new(req.into_body(), MAX_KINESIS_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let e = KinesisError::serialization(format!(
                "the request body could not be read (at most {MAX_KINESIS_BODY} bytes): {e}"
            ));
            return Ok(kinesis_answer(protocol, Answer::error(protocol, &e)));
        }
    };
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

async fn s3_call(shared: &Shared, req: Request<impl RequestBody>) -> Response<Full<Bytes>> {
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
    let reply = match Limited::new(body, MAX_OBJECT_BODY).collect().await {
        Err(e) => S3Error {
            status: 400,
            code: "EntityTooLarge",
            message: format!("the body could not be read (at most {MAX_OBJECT_BODY} bytes): {e}"),
        }
        .reply(&parts.method, &resource),
        Ok(body) => {
            request.body = body.to_bytes();
            shared.s3.handle(request).unwrap_or_else(|e| e.reply(&parts.method, &resource))
        }
    };
    s3_reply(reply)
}

fn s3_reply(reply: Reply) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(reply.body));
    *r.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in reply.headers {
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            r.headers_mut().insert(name, v);
        }
    }
    r
}

/// The admin API (`admin.rs`), its answer as JSON.
async fn admin_call(shared: &Shared, req: Request<impl RequestBody>) -> Response<Full<Bytes>> {
    let json = |status: u16, v: serde_json::Value| respond(status, "application/json", v.to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let body = match Limited::new(req.into_body(), 1024 * 1024).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return json(400, serde_json::json!({"error": format!("the body could not be read: {e}")})),
    };
    let (status, answer) = crate::admin::answer(shared, method.as_str(), &path, &body);
    json(status, answer)
}
