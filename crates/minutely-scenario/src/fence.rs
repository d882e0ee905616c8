//! The fence, checked as a property over every write: in a run of workers on leases (the sim
//! keeps a journal of every PutObject, with its bytes, the writer each worker names and the
//! sim's time), each write of a shard's data (its checkpoint, its minute objects, its rejects)
//! must come from the worker the shard's lease file names as its owner at that moment, within
//! the lease's duration of the last lease write that named it. Anything else is a write made
//! after another worker took the shard, or could have: a zombie writer. Writes the store
//! refused (a checkpoint's `If-Match` that no longer held) are counted: that is the fence doing
//! its work.
//!
//! Why "within the duration of the last lease write naming it" is sound: a worker's lease runs
//! until the time it sent its last renewal plus the duration, and it sent it before the store
//! applied it; another worker may take the shard only a full duration after it last saw the
//! lease change.

use std::collections::BTreeMap;

use minutely_consumer::lease::Lease;
use minutely_sim::s3::S3Write;
use serde::Serialize;

/// How many violations the report names (all are counted).
const NAMED: usize = 10;

/// What the fence check found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FenceCheck {
    /// Writes of shard data the store applied, each checked against the lease.
    pub data_writes: u64,
    pub lease_writes: u64,
    /// Writes the store refused: a condition that no longer held.
    pub refused: u64,
    pub violations: u64,
    /// The first violations, each in a sentence.
    pub named: Vec<String>,
}

/// Which shard a key under the output prefix is about, and whether it is its lease.
fn shard_of<'a>(key: &'a str, stream: &str) -> Option<(&'a str, bool)> {
    let file = |rest: &'a str, ext: &str| rest.strip_suffix(ext).filter(|s| !s.contains('/'));
    if let Some(rest) = key.strip_prefix("leases/").and_then(|k| k.strip_prefix(stream)?.strip_prefix('/')) {
        return file(rest, ".json").map(|s| (s, true));
    }
    if let Some(rest) = key.strip_prefix("checkpoints/").and_then(|k| k.strip_prefix(stream)?.strip_prefix('/')) {
        return file(rest, ".json").map(|s| (s, false));
    }
    if let Some(rest) = key.strip_prefix("rejects/") {
        return rest.split_once('/').map(|(s, _)| (s, false));
    }
    if key.starts_with("minutes/") {
        let name = key.rsplit('/').next()?.strip_suffix(".jsonl")?;
        let shard = name.split_once(".late-").map_or(name, |(s, _)| s);
        return Some((shard, false));
    }
    None
}

/// Checks every write of `writes` under `bucket`/`prefix` (a run's output) for `stream`, whose
/// leases last `lease_ms`.
pub fn check(writes: &[S3Write], bucket: &str, prefix: &str, stream: &str, lease_ms: u64) -> FenceCheck {
    let mut out = FenceCheck::default();
    // Per shard: the owner its lease file names, and when a lease write last named it.
    let mut holder: BTreeMap<&str, (Option<String>, i64)> = BTreeMap::new();
    // Times are given from the journal's first write.
    let t0 = writes.first().map_or(0, |w| w.at_ms);
    let since = |at: i64| format!("+{:.3} s", (at - t0) as f64 / 1000.0);
    let under = if prefix.is_empty() { String::new() } else { format!("{}/", prefix.trim_end_matches('/')) };
    for w in writes.iter().filter(|w| w.bucket == bucket) {
        let Some(key) = w.key.strip_prefix(&under) else { continue };
        let Some((shard, is_lease)) = shard_of(key, stream) else { continue };
        if w.refused.is_some() {
            out.refused += 1;
            continue;
        }
        let writer = w.writer.as_deref();
        if is_lease {
            out.lease_writes += 1;
            // An unreadable lease names no owner: every data write after it is named.
            let owner = serde_json::from_slice::<Lease>(&w.body).ok().and_then(|l| l.owner);
            holder.insert(shard, (owner, w.at_ms));
            continue;
        }
        out.data_writes += 1;
        let who = writer.unwrap_or("a writer that gave no name");
        let wrong = match holder.get(shard) {
            None => Some(format!("before any lease of {shard} was written")),
            Some((h, at)) if h.as_deref() != writer => Some(format!(
                "while the lease of {shard} names {} (written at {})",
                h.as_deref().unwrap_or("no owner"),
                since(*at)
            )),
            Some((_, at)) if w.at_ms > at + lease_ms as i64 => Some(format!(
                "{:.3} s after the last lease write of {shard} that named it, a lease lasting {:.3} s: another worker could have taken it",
                (w.at_ms - at) as f64 / 1000.0,
                lease_ms as f64 / 1000.0
            )),
            Some(_) => None,
        };
        if let Some(why) = wrong {
            out.violations += 1;
            if out.named.len() < NAMED {
                out.named.push(format!("{who} wrote {key} at {}, {why}", since(w.at_ms)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(at_ms: i64, key: &str, writer: &str, refused: Option<u16>) -> S3Write {
        S3Write {
            at_ms,
            bucket: "b".into(),
            key: format!("p/{key}"),
            writer: Some(writer.into()),
            refused,
            body: Vec::new().into(),
        }
    }

    /// A lease write by `writer` naming `owner`.
    fn lease(at_ms: i64, writer: &str, owner: &str) -> S3Write {
        let l = Lease { owner: Some(owner.into()), ..Lease::default() };
        S3Write { body: serde_json::to_vec(&l).unwrap().into(), ..w(at_ms, "leases/s/sh.json", writer, None) }
    }

    #[test]
    fn names_each_shard_from_its_keys() {
        assert_eq!(shard_of("leases/s/shardId-1.json", "s"), Some(("shardId-1", true)));
        assert_eq!(shard_of("checkpoints/s/shardId-1.json", "s"), Some(("shardId-1", false)));
        assert_eq!(shard_of("checkpoints/other/shardId-1.json", "s"), None);
        assert_eq!(shard_of("rejects/shardId-1/4955.jsonl", "s"), Some(("shardId-1", false)));
        let minute = "minutes/dt=2016-08-21/minute=201608211700/";
        assert_eq!(shard_of(&format!("{minute}shardId-2.jsonl"), "s"), Some(("shardId-2", false)));
        assert_eq!(shard_of(&format!("{minute}shardId-2.late-000003.jsonl"), "s"), Some(("shardId-2", false)));
        assert_eq!(shard_of("elsewhere/x.json", "s"), None);
    }

    #[test]
    fn a_write_by_the_holder_within_its_lease_passes_and_a_zombie_write_is_named() {
        let minute = "minutes/dt=2016-08-21/minute=201608211700/sh.jsonl";
        let writes = vec![
            lease(1_000, "w0", "w0"),
            w(2_000, "checkpoints/s/sh.json", "w0", None),
            lease(8_000, "w0", "w0"),
            // w2 asks for the lease: w0 still owns it.
            lease(9_000, "w2", "w0"),
            w(15_000, minute, "w0", None),
            // w0 pauses; w1 takes the shard.
            lease(20_000, "w1", "w1"),
            w(21_000, "checkpoints/s/sh.json", "w1", None),
            // w0 wakes: its checkpoint is refused by the condition, its object goes through.
            w(30_000, "checkpoints/s/sh.json", "w0", Some(412)),
            w(30_000, minute, "w0", None),
            // w1 goes quiet past its lease, then writes.
            w(40_000, minute, "w1", None),
        ];
        let c = check(&writes, "b", "p", "s", 10_000);
        assert_eq!((c.data_writes, c.lease_writes, c.refused, c.violations), (5, 4, 1, 2), "{c:?}");
        assert_eq!(
            c.named[0],
            "w0 wrote minutes/dt=2016-08-21/minute=201608211700/sh.jsonl at +29.000 s, while the lease of sh names w1 (written at +19.000 s)"
        );
        assert!(
            c.named[1].starts_with("w1 wrote") && c.named[1].contains("20.000 s after the last lease write of sh"),
            "{:?}",
            c.named
        );
        assert_eq!(check(&writes[..7], "b", "p", "s", 10_000).violations, 0);
        assert_eq!(check(&writes, "other-bucket", "p", "s", 10_000), FenceCheck::default());
    }
}
