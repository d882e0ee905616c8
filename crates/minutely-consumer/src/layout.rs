//! Where things go under the output prefix. Every path is a function of the minute, the worker
//! (shard id, or a name for stdin) and a counter kept in the checkpoint, never of the clock:
//! a replay writes the same paths again.
//!
//! ```text
//! <prefix>/minutes/dt=2016-08-21/minute=201608211700/<worker>.jsonl               on-time counts
//! <prefix>/minutes/dt=2016-08-21/minute=201608211700/<worker>.late-000003.jsonl   late counts
//! <prefix>/rejects/<worker>/<position of the first reject>.jsonl                 undecodable records
//! <prefix>/checkpoints/<stream>/<shard>.json                                      resume state
//! <prefix>/leases/<stream>/<shard>.json                                           who reads the shard
//! ```

use minutely_aggregate::Minute;

/// `minutes/dt=YYYY-MM-DD/minute=YYYYMMDDHHMM/`.
pub fn minute_dir(minute: Minute) -> String {
    let l = minute.label();
    format!("minutes/dt={:04}-{:02}-{:02}/minute={l}/", l.year, l.month, l.day)
}

pub fn on_time(minute: Minute, worker: &str) -> String {
    format!("{}{worker}.jsonl", minute_dir(minute))
}

pub fn late(minute: Minute, worker: &str, release: u64) -> String {
    format!("{}{worker}.late-{release:06}.jsonl", minute_dir(minute))
}

pub fn rejects(worker: &str, first_position: &str) -> String {
    format!("rejects/{worker}/{first_position}.jsonl")
}

pub fn checkpoint(stream: &str, shard: &str) -> String {
    format!("checkpoints/{stream}/{shard}.json")
}

pub fn lease(stream: &str, shard: &str) -> String {
    format!("leases/{stream}/{shard}.json")
}

/// `prefix` and `path` joined by one `/` (an empty prefix adds nothing).
pub fn join(prefix: &str, path: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() { path.to_owned() } else { format!("{prefix}/{path}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_hive_partitioned_and_deterministic() {
        let m: Minute = "201608211700".parse().unwrap();
        assert_eq!(
            on_time(m, "shardId-000000000001"),
            "minutes/dt=2016-08-21/minute=201608211700/shardId-000000000001.jsonl"
        );
        assert_eq!(late(m, "stdin", 3), "minutes/dt=2016-08-21/minute=201608211700/stdin.late-000003.jsonl");
        assert_eq!(join("runs/a/", "x"), "runs/a/x");
        assert_eq!(join("", "x"), "x");
    }
}
