//! Connections: accepting them (at most `Bounds::max_connections`, backing off when accepts
//! fail), telling HTTP/2 with prior knowledge from HTTP/1.1 by the first bytes, serving each
//! with hyper under the idle timeout, and saying on stderr what a connection that was not HTTP
//! began with. Each request goes to `server::handle`.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::server::{Body, handle};
use crate::shared::Shared;

/// What one client can make the sim hold: connections, time, bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// A connection whose next request's headers have not all arrived this long after it went
    /// idle (or was opened) is closed: an idle keep-alive, or a client that sends a byte now
    /// and then.
    pub idle_timeout: std::time::Duration,
    /// Request bodies being read at once, in bytes; a call whose body does not fit is answered
    /// 503 before it is read (`budget.rs`).
    pub bodies_in_flight: usize,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            max_connections: 1024,
            idle_timeout: std::time::Duration::from_secs(60),
            bodies_in_flight: crate::budget::DEFAULT_BYTES,
        }
    }
}

/// What a connection over the cap reads before it is closed.
fn too_many(max: usize) -> Vec<u8> {
    let body =
        format!("minutely sim: {max} connections are open, the most it holds; close some or raise --max-connections\n");
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    bounds: Bounds,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(bounds.max_connections));
    let mut connections = JoinSet::new();
    let mut backoff = Duration::ZERO;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => {
                        backoff = Duration::ZERO;
                        stream
                    }
                    Err(e) => {
                        // Out of descriptors (or another accept error): accepting again at once
                        // spins a core; waiting lets connections close.
                        shared.stats.bump(|s| s.connections.accept_errors += 1);
                        if backoff.is_zero() {
                            eprintln!("minutely sim: cannot accept a connection ({e}); backing off");
                        }
                        backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                        tokio::select! {
                            _ = &mut stop => break,
                            _ = tokio::time::sleep(backoff) => continue,
                        }
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    shared.stats.bump(|s| s.connections.refused += 1);
                    // Best effort, without waiting: the client may not be reading.
                    let _ = stream.try_write(&too_many(bounds.max_connections));
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                connections.spawn(async move {
                    shared.stats.bump(|s| s.connections.opened += 1);
                    let service = hyper::service::service_fn({
                        let shared = shared.clone();
                        move |req| handle(shared.clone(), req)
                    });
                    match serve_connection(stream, service, bounds).await {
                        Served::TimedOut => shared.stats.bump(|s| s.connections.timed_out += 1),
                        Served::Unparsable => shared.stats.bump(|s| s.connections.unparsable += 1),
                        Served::Done => {}
                    }
                    shared.stats.bump(|s| s.connections.closed += 1);
                    drop(slot);
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

#[derive(PartialEq, Eq)]
enum Served {
    Done,
    TimedOut,
    /// What came was not HTTP (said on stderr).
    Unparsable,
}

/// The first bytes of an HTTP/2 connection with prior knowledge (RFC 9113, 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the client speaks HTTP/2 with prior knowledge (`Some(true)`) or HTTP/1.1, from its
/// first bytes, peeked; `None`: it closed, or sent nothing telling within `within`.
async fn speaks_h2(stream: &tokio::net::TcpStream, within: Duration, first: &mut Vec<u8>) -> Option<bool> {
    let sniff = async {
        let mut buf = [0u8; 24];
        loop {
            let n = stream.peek(&mut buf).await.ok()?;
            first.clear();
            first.extend_from_slice(&buf[..n]);
            if n == 0 {
                return None;
            }
            if buf[..n] != H2_PREFACE[..n] {
                return Some(false);
            }
            if n == H2_PREFACE.len() {
                return Some(true);
            }
            // A prefix of the preface so far: peek again once more may have come.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(within, sniff).await.ok().flatten()
}

/// Serves one connection: HTTP/1.1, or HTTP/2 with prior knowledge (the Node SDK v3 and the
/// Java SDK v2's async clients speak it by default). Under HTTP/1.1 the idle timeout bounds
/// every wait for a request's headers; under HTTP/2, pings find dead peers.
async fn serve_connection<S>(stream: tokio::net::TcpStream, service: S, bounds: Bounds) -> Served
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = Body> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let io = TokioIo::new(stream);
    let mut first = Vec::new();
    match speaks_h2(io.inner(), bounds.idle_timeout, &mut first).await {
        None => Served::TimedOut,
        Some(true) => {
            let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .timer(hyper_util::rt::TokioTimer::new())
                .keep_alive_interval(Some(bounds.idle_timeout))
                .max_concurrent_streams(256)
                .serve_connection(io, service)
                .await;
            Served::Done
        }
        Some(false) => {
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(bounds.idle_timeout)
                .keep_alive(true)
                .serve_connection(io, service)
                .await;
            match served {
                Err(e) if e.is_timeout() => Served::TimedOut,
                Err(e) if e.is_parse() || e.is_parse_too_large() => {
                    eprintln!("minutely sim: {}", unparsable(&e, &first));
                    Served::Unparsable
                }
                _ => Served::Done,
            }
        }
    }
}

/// What the sim says of a connection it could not read as HTTP: the error, the first bytes it
/// received (escaped), and the likely cause when the bytes show one.
fn unparsable(e: &impl std::fmt::Display, first: &[u8]) -> String {
    let hint = match first {
        [0x16, 0x03, ..] => " (a TLS handshake: the client speaks https; use http:// for the sim's endpoint)",
        [b'P', b'R', b'I', ..] => " (an HTTP/2 preface cut short)",
        _ => "",
    };
    format!(
        "a connection was closed: what came is not HTTP/1.1 or HTTP/2 ({e}); it began with \"{}\"{hint}",
        first.escape_ascii()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_http_is_said_with_its_first_bytes_and_cause() {
        let said = unparsable(&"invalid HTTP method parsed", &[0x16, 0x03, 0x01, 0x02, b'a']);
        assert!(said.contains(r#"began with "\x16\x03\x01\x02a""#), "{said}");
        assert!(said.contains("the client speaks https"), "{said}");
        assert!(!unparsable(&"x", b"GARBAGE").contains("https"));
    }
}
