//! The admin API under `/_sim/`: health, stats, a stream's ledger, a stream truncated or reset,
//! faults (read and set), reset, and the manual
//! clock. Answers are JSON; the HTTP around them is `server.rs`'s.

use serde_json::Value;

use crate::shared::Shared;

fn json_(status: u16, v: Value) -> (u16, Value) {
    (status, v)
}

/// The answer to `method path` with `body`: a status and a JSON value.
pub(crate) fn answer(shared: &Shared, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    match (method, path) {
        ("GET", "/_sim/health") => json_(200, serde_json::json!({"status": "running", "services": ["kinesis", "s3"]})),
        ("GET", "/_sim/stats") => json_(200, serde_json::to_value(shared.stats()).unwrap_or_default()),
        ("GET", p) if let Some(name) = p.strip_prefix("/_sim/streams/").and_then(|r| r.strip_suffix("/ledger")) => {
            match shared.ledger(name) {
                Some(l) => json_(200, serde_json::to_value(l).unwrap_or_default()),
                None => json_(404, serde_json::json!({"error": format!("no stream {name:?} in this sim")})),
            }
        }
        ("POST", p) if let Some((name, what)) = p.strip_prefix("/_sim/streams/").and_then(|r| r.rsplit_once('/')) => {
            stream_fixture(shared, name, what)
        }
        ("GET", "/_sim/state") => json_(200, serde_json::to_value(shared.snapshot()).unwrap_or_default()),
        ("GET", "/_sim/faults") => json_(
            200,
            serde_json::to_value(&*shared.faults.read().unwrap_or_else(|e| e.into_inner())).unwrap_or_default(),
        ),
        ("POST" | "PUT", "/_sim/faults") => match serde_json::from_slice::<crate::faults::Faults>(body) {
            Ok(f) => match f.validate() {
                Ok(()) => {
                    *shared.faults.write().unwrap_or_else(|e| e.into_inner()) = f;
                    json_(200, serde_json::json!({"status": "faults set"}))
                }
                Err(e) => json_(400, serde_json::json!({"error": e})),
            },
            Err(e) => json_(
                400,
                serde_json::json!({"error": format!("the faults are not valid JSON of the documented shape: {e}")}),
            ),
        },
        ("POST", "/_sim/reset") => {
            shared.reset();
            json_(200, serde_json::json!({"status": "reset: no streams, no buckets, the starting faults"}))
        }
        ("POST", "/_sim/clock") => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Move {
                advance_ms: Option<i64>,
                set_ms: Option<i64>,
            }
            match serde_json::from_slice::<Move>(body) {
                Ok(m) if shared.clock.is_manual() => {
                    if let Some(ms) = m.set_ms {
                        shared.clock.set(ms);
                    }
                    if let Some(ms) = m.advance_ms {
                        shared.clock.advance(ms);
                    }
                    json_(200, serde_json::json!({"now_ms": shared.clock.now_ms()}))
                }
                Ok(_) => json_(
                    409,
                    serde_json::json!({"error": "this sim runs on the system clock; start it with a manual clock to move time"}),
                ),
                Err(e) => json_(
                    400,
                    serde_json::json!({"error": format!("expected {{\"advance_ms\": N}} or {{\"set_ms\": N}}: {e}")}),
                ),
            }
        }
        _ => json_(
            404,
            serde_json::json!({"error": format!("no admin endpoint {method} {path}; there are GET /_sim/health, GET /_sim/stats, GET /_sim/streams/NAME/ledger, POST /_sim/streams/NAME/truncate|reset, GET /_sim/state, GET|POST /_sim/faults, POST /_sim/reset, POST /_sim/clock")}),
        ),
    }
}

/// `POST /_sim/streams/NAME/truncate` or `.../reset`.
fn stream_fixture(shared: &Shared, name: &str, what: &str) -> (u16, Value) {
    let now = shared.clock.now_ms();
    let mut k = shared.kinesis.lock().unwrap_or_else(|e| e.into_inner());
    let done = match what {
        "truncate" => k.truncate(name, now).map(|n| serde_json::json!({"stream": name, "records_dropped": n})),
        "reset" => k.reset_stream(name, now).map(|n| serde_json::json!({"stream": name, "shards": n})),
        _ => {
            let error = format!(
                "no admin endpoint POST /_sim/streams/{name}/{what}; a stream has POST .../truncate and .../reset"
            );
            return json_(404, serde_json::json!({ "error": error }));
        }
    };
    match done {
        Ok(v) => json_(200, v),
        Err(e) => json_(404, serde_json::json!({"error": e.message})),
    }
}
