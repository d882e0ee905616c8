//! SubscribeToShard's answer: an AWS event stream (`application/vnd.amazon.eventstream`) pushed
//! for as long as the subscription lives, over HTTP/2 (the Node SDK v3, the Java SDK v2) or as
//! a chunked HTTP/1.1 body (boto3). The frames (prelude, headers, payload, CRCs) are written by
//! `aws-smithy-eventstream`, AWS's own encoder.
//!
//! First an `initial-response` event, then a `SubscribeToShardEvent` whenever records are there
//! (polled every [`POLL`]), an empty one every [`HEARTBEAT`] while none come (its continuation
//! keeps a checkpoint fresh), and at a closed shard's end one with the children and no
//! continuation, then the end. With limits on, a subscription is paced to 2 MB/s. The
//! `subscriptions_cut` fault cuts the connection before an event (the client must resubscribe
//! from its last continuation); a client that stops reading holds at most two events here, and
//! only until its subscription's 5 minutes are up.

use std::sync::Arc;
use std::time::Duration;

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;

use super::Protocol;
use super::error::KinesisError;
use super::fanout::{Next, SUBSCRIPTION_MS, SubscribeToShardEvent, SubscribeToShardInput, Subscription};
use crate::faults::dice;
use crate::server::Body;
use crate::shared::Shared;

/// How often a subscription looks for new records.
const POLL: Duration = Duration::from_millis(50);
/// An empty event this often while no record comes.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A subscription's read rate with limits on (AWS: 2 MB/s per consumer per shard).
const BYTES_PER_SECOND: f64 = 2.0 * 1024.0 * 1024.0;

type Sender = tokio::sync::mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>;

/// The answer to a SubscribeToShard call (`call`: its number, for the fault dice): the event
/// stream, or the error that refused it.
pub(crate) fn answer(
    shared: Arc<Shared>,
    p: Protocol,
    body: &[u8],
    call: u64,
) -> Result<http::Response<Body>, KinesisError> {
    let input: SubscribeToShardInput = p.decode(body)?;
    let now = shared.clock.now_ms();
    let (sub, position) = super::lock(&shared).subscribe_to_shard(input, now)?;
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tokio::spawn(push(shared, p, sub, position, call, tx));
    let frames = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    let mut r = http::Response::new(http_body_util::StreamBody::new(frames).boxed());
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/vnd.amazon.eventstream"));
    Ok(r)
}

/// Pushes the subscription's events into `tx` until it ends or the client goes.
async fn push(shared: Arc<Shared>, p: Protocol, sub: Subscription, mut position: u64, call: u64, tx: Sender) {
    let limits = super::lock(&shared).limits;
    if tx.send(Ok(Frame::data(message(p, "initial-response", &serde_json::json!({}))))).await.is_err() {
        super::lock(&shared).unsubscribe(&sub);
        return;
    }
    let (mut sent, mut quiet) = (0u64, Duration::ZERO);
    loop {
        let now = shared.clock.now_ms();
        let next = super::lock(&shared).next_event(&sub, &mut position, quiet >= HEARTBEAT, now);
        match next {
            Next::Event { event, bytes, last } => {
                if cut(&shared, call, sent) {
                    shared.stats.bump(|s| s.subscriptions_cut += 1);
                    let _ = tx.send(Err(std::io::Error::other("subscription cut by minutely sim's fault"))).await;
                    break;
                }
                let n = event.records.len() as u64;
                // A client that stops reading holds this task no longer than the subscription lives.
                let left = Duration::from_millis((sub.started_ms + SUBSCRIPTION_MS - now).max(0) as u64);
                let sent_in_time = tokio::time::timeout(left, tx.send(Ok(Frame::data(event_message(p, &event)))));
                if !matches!(sent_in_time.await, Ok(Ok(()))) {
                    break; // the client went away, or read nothing for the rest of the 5 minutes
                }
                shared.stats.bump(|s| {
                    s.records_read += n;
                    s.subscription_events += 1;
                });
                (sent, quiet) = (sent + 1, Duration::ZERO);
                if last {
                    break;
                }
                if limits && bytes > 0 {
                    tokio::time::sleep(Duration::from_secs_f64(bytes as f64 / BYTES_PER_SECOND)).await;
                }
            }
            Next::Nothing => {
                if tx.is_closed() {
                    break;
                }
                tokio::time::sleep(POLL).await;
                quiet += POLL;
            }
            Next::Over => break,
            Next::Failed(e) => {
                let _ = tx.send(Ok(Frame::data(exception(p, &e)))).await;
                break;
            }
        }
    }
    super::lock(&shared).unsubscribe(&sub);
}

/// Whether the `subscriptions_cut` fault cuts the subscription before its event `n`.
fn cut(shared: &Shared, call: u64, n: u64) -> bool {
    let f = shared.faults.read().unwrap_or_else(|e| e.into_inner());
    let rate = f.subscriptions.cut_rate;
    rate > 0.0 && dice(f.seed, "SubscribeToShard.cut", call, n) < rate
}

fn event_message(p: Protocol, e: &SubscribeToShardEvent) -> Bytes {
    message(p, "SubscribeToShardEvent", e)
}

/// An `event` message of type `kind` carrying `payload` in the call's protocol.
fn message(p: Protocol, kind: &'static str, payload: &impl serde::Serialize) -> Bytes {
    frame(
        Message::new(p.encode(payload))
            .add_header(Header::new(":message-type", HeaderValue::String("event".into())))
            .add_header(Header::new(":event-type", HeaderValue::String(kind.into())))
            .add_header(Header::new(":content-type", HeaderValue::String(p.content_type().into()))),
    )
}

/// An `exception` message: the subscription failed after it began.
fn exception(p: Protocol, e: &KinesisError) -> Bytes {
    frame(
        Message::new(p.encode(&serde_json::json!({ "message": e.message })))
            .add_header(Header::new(":message-type", HeaderValue::String("exception".into())))
            .add_header(Header::new(":exception-type", HeaderValue::String(e.code.into())))
            .add_header(Header::new(":content-type", HeaderValue::String(p.content_type().into()))),
    )
}

fn frame(m: Message) -> Bytes {
    let mut out = Vec::with_capacity(m.payload().len() + 128);
    // Writing fails only on a header over the format's limits; these are short and fixed.
    aws_smithy_eventstream::frame::write_message_to(&m, &mut out).expect("fixed, short headers");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_back_with_their_headers_and_payload() {
        let e = KinesisError::not_found("Stream s under account 000000000000 not found.");
        let bytes = exception(Protocol::Json, &e);
        let m = aws_smithy_eventstream::frame::read_message_from(bytes).unwrap();
        let header = |name: &str| m.headers().iter().find(|h| h.name().as_str() == name).map(|h| h.value().clone());
        assert_eq!(header(":exception-type"), Some(HeaderValue::String("ResourceNotFoundException".into())));
        let payload: serde_json::Value = serde_json::from_slice(m.payload()).unwrap();
        assert_eq!(payload["message"], "Stream s under account 000000000000 not found.");
    }
}
