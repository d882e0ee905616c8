//! `minutely consume --status`: the stream's shards as their consumers left them, one line each.

use std::fmt::Write;

use minutely_consumer::status::ShardStatus;

/// A table: shard, owner (and a handover asked for), lease expiry, checkpoint, lag.
pub fn render(shards: &[ShardStatus], now_unix_ms: i64) -> String {
    let mut rows = vec![["SHARD", "OWNER", "LEASE", "CHECKPOINT", "BEHIND"].map(str::to_owned)];
    for s in shards {
        let (owner, lease) = match &s.lease {
            None => ("-".to_owned(), "none".to_owned()),
            Some(l) if l.finished => ("-".to_owned(), format!("finished (#{})", l.counter)),
            Some(l) => {
                let owner = match (&l.owner, &l.handover_to) {
                    (None, _) => "(free)".to_owned(),
                    (Some(o), None) => o.clone(),
                    (Some(o), Some(to)) => format!("{o} -> {to}"),
                };
                let left = l.expires_unix_ms - now_unix_ms;
                let when = if left >= 0 {
                    format!("expires in {:.1} s", left as f64 / 1000.0)
                } else {
                    format!("expired {:.1} s ago", -left as f64 / 1000.0)
                };
                (owner, format!("{when} (#{})", l.counter))
            }
        };
        let checkpoint = match (&s.position, s.checkpointed, s.finished) {
            (_, _, true) => "finished".to_owned(),
            (_, false, _) => "none".to_owned(),
            (None, true, _) => "nothing read".to_owned(),
            (Some(p), true, _) if s.open_windows > 0 => format!("{p} ({} minutes open)", s.open_windows),
            (Some(p), true, _) => p.clone(),
        };
        let behind = s.behind_ms.map_or("-".to_owned(), |ms| format!("{ms} ms"));
        rows.push([s.shard.clone(), owner, lease, checkpoint, behind]);
    }
    let widths: Vec<usize> = (0..5).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use minutely_consumer::lease::Lease;

    fn shard(id: &str, lease: Option<Lease>, position: Option<&str>, behind_ms: Option<i64>) -> ShardStatus {
        ShardStatus {
            shard: id.into(),
            parents: vec![],
            lease,
            position: position.map(str::to_owned),
            checkpointed: position.is_some(),
            finished: false,
            open_windows: 0,
            behind_ms,
        }
    }

    #[test]
    fn owners_expiry_checkpoints_and_lag_in_columns() {
        let held = Lease { owner: Some("a".into()), counter: 7, expires_unix_ms: 12_500, ..Lease::default() };
        let asked = Lease { handover_to: Some("b".into()), expires_unix_ms: 9_000, ..held.clone() };
        let done = Lease { finished: true, counter: 9, ..Lease::default() };
        let shards = [
            shard("s0", Some(held), Some("4960"), Some(120)),
            shard("s1", Some(asked), None, Some(0)),
            ShardStatus { finished: true, checkpointed: true, ..shard("s2", Some(done), Some("1"), None) },
            shard("s3", None, None, Some(3_000)),
        ];
        insta::assert_snapshot!(render(&shards, 10_000), @r"
        SHARD  OWNER   LEASE                   CHECKPOINT  BEHIND
        s0     a       expires in 2.5 s (#7)   4960        120 ms
        s1     a -> b  expired 1.0 s ago (#7)  none        0 ms
        s2     -       finished (#9)           finished    -
        s3     -       none                    none        3000 ms
        ");
    }
}
