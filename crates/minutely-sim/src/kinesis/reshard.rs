//! SplitShard, MergeShards and UpdateShardCount on the state: the checks AWS makes, then the
//! splits and merges of `stream.rs`.

use super::error::KinesisError;
use super::state::{Kinesis, MAX_SHARDS_PER_UPDATE, Need, check_quota, required};
use super::stream::{Stream, even_ranges, merge, split};
use super::wire::*;

impl Kinesis {
    pub fn split_shard(&mut self, input: SplitShardInput, now_ms: i64) -> Result<Empty, KinesisError> {
        let parent = required(input.shard_to_split, "shardToSplit")?;
        let key = required(input.new_starting_hash_key, "newStartingHashKey")?;
        check_quota(self.open_shards_except(&StreamRef::default()) + 1)?;
        let delay = self.shapes.transition_ms;
        let s = self.stream_mut(&input.stream, now_ms, Need::Change)?;
        let sh = s.shard(&parent)?;
        let new_start: u128 = key
            .parse()
            .map_err(|_| KinesisError::invalid(format!("NewStartingHashKey {key} is not a 128-bit integer")))?;
        split(s, sh.ordinal, new_start, now_ms)?;
        s.reindex();
        s.updating(now_ms, delay);
        Ok(Empty {})
    }

    pub fn merge_shards(&mut self, input: MergeShardsInput, now_ms: i64) -> Result<Empty, KinesisError> {
        let a = required(input.shard_to_merge, "shardToMerge")?;
        let b = required(input.adjacent_shard_to_merge, "adjacentShardToMerge")?;
        let delay = self.shapes.transition_ms;
        let s = self.stream_mut(&input.stream, now_ms, Need::Change)?;
        let (a, b) = (s.shard(&a)?.ordinal, s.shard(&b)?.ordinal);
        merge(s, a, b, now_ms)?;
        s.reindex();
        s.updating(now_ms, delay);
        Ok(Empty {})
    }

    /// Uniform scaling, the way AWS does it: splits at every new boundary, then merges inside
    /// every new range, so every shard has at most two parents and lineage stays readable.
    pub fn update_shard_count(
        &mut self,
        input: UpdateShardCountInput,
        now_ms: i64,
    ) -> Result<UpdateShardCountOutput, KinesisError> {
        let target = required(input.target_shard_count, "targetShardCount")?;
        match input.scaling_type.as_deref() {
            Some("UNIFORM_SCALING") => {}
            other => {
                return Err(KinesisError::validation(format!(
                    "1 validation error detected: Value '{}' at 'scalingType' failed to satisfy constraint: Member must satisfy enum value set: [UNIFORM_SCALING]",
                    other.unwrap_or("null")
                )));
            }
        }
        let others = self.open_shards_except(&input.stream);
        let limits = self.limits;
        let delay = self.shapes.transition_ms;
        let s = self.stream_mut(&input.stream, now_ms, Need::Change)?;
        let current = s.open_count();
        if target < 1 || target > current * 2 || target * 2 < current {
            return Err(KinesisError::invalid(format!(
                "TargetShardCount {target} must be between half ({}) and double ({}) the current open shard count {current}",
                (current + 1) / 2,
                current * 2
            )));
        }
        if target > MAX_SHARDS_PER_UPDATE && target > current {
            return Err(KinesisError::limit(format!(
                "TargetShardCount {target} is above {MAX_SHARDS_PER_UPDATE}, the most UpdateShardCount scales a stream to"
            )));
        }
        check_quota(others.saturating_add(target))?;
        if limits {
            s.scalings_ms.retain(|&t| now_ms - t < 24 * 3600 * 1000);
            if s.scalings_ms.len() >= crate::limits::SCALINGS_PER_DAY {
                let name = s.name.clone();
                *self.limit_stats.control_throttled.entry("UpdateShardCount".into()).or_default() += 1;
                return Err(KinesisError::limit(format!(
                    "Stream {name} was scaled {} times in the last 24 hours, the most UpdateShardCount allows (AWS's default)",
                    crate::limits::SCALINGS_PER_DAY
                )));
            }
            s.scalings_ms.push(now_ms);
        }
        reshard_uniformly(s, target as u32, now_ms)?;
        s.updating(now_ms, delay);
        Ok(UpdateShardCountOutput {
            stream_name: s.name.clone(),
            stream_arn: s.arn(),
            current_shard_count: current,
            target_shard_count: target,
        })
    }
}

/// The starting hash keys of `target` even shards, where each that falls within a few keys of
/// an open shard's start is moved onto it. `i * floor(2^128 / n)` is not `2i * floor(2^128 /
/// 2n)` (10 and 20 shards miss by one key), and AWS doubles any stream with one split per
/// shard: so does the sim, and halving back is one merge per pair.
fn target_bounds(open: &[(u128, u32)], target: u32) -> Vec<u128> {
    // The floors are off by less than one key per shard.
    let near = 2 * u128::from(target.max(open.len() as u32));
    let mut bounds: Vec<u128> = even_ranges(target).into_iter().map(|(start, _)| start).collect();
    for b in bounds.iter_mut().skip(1) {
        let i = open.partition_point(|(start, _)| start < b);
        let candidates = [i.checked_sub(1).map(|j| open[j].0), open.get(i).map(|o| o.0)];
        if let Some(start) =
            candidates.into_iter().flatten().filter(|s| s.abs_diff(*b) <= near).min_by_key(|s| s.abs_diff(*b))
        {
            *b = start;
        }
    }
    bounds
}

/// Uniform scaling of `s` to `target` open shards, in one pass over the open shards (sorted by
/// starting hash key) and the new boundaries: first every boundary strictly inside an open
/// shard splits it, then the pieces inside each new range are merged left to right. Every
/// shard has at most two parents, and the open shards are reindexed once: a reshard of
/// thousands of shards costs milliseconds, not seconds under the lock.
pub(super) fn reshard_uniformly(s: &mut Stream, target: u32, now_ms: i64) -> Result<(), KinesisError> {
    let bounds = target_bounds(&s.open, target);
    let mut pieces: Vec<(u128, u32)> = Vec::with_capacity(s.open.len() + bounds.len());
    let mut next = 1;
    for (start, ordinal) in s.open.clone() {
        let end = s.shards[ordinal as usize].hash_end;
        let (mut piece_start, mut piece) = (start, ordinal);
        while next < bounds.len() && bounds[next] <= end {
            if bounds[next] > piece_start {
                let (low, high) = split(s, piece, bounds[next], now_ms)?;
                pieces.push((piece_start, low));
                (piece_start, piece) = (bounds[next], high);
            }
            next += 1;
        }
        pieces.push((piece_start, piece));
    }
    let mut pieces = pieces.into_iter().peekable();
    for (i, _) in bounds.iter().enumerate() {
        let end = bounds.get(i + 1).map_or(u128::MAX, |n| n - 1);
        let Some((_, mut merged)) = pieces.next() else { break };
        while let Some((_, piece)) = pieces.next_if(|(start, _)| *start <= end) {
            merged = merge(s, merged, piece, now_ms)?;
        }
    }
    s.reindex();
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::kinesis::state::SHARD_QUOTA;

    fn input<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    fn stream(shards: i64) -> Kinesis {
        let mut k = Kinesis::new(true, crate::Shapes::NONE);
        k.create_stream(input(json!({"StreamName": "s", "ShardCount": shards})), 0).unwrap();
        k
    }

    fn scale(k: &mut Kinesis, target: i64) -> Result<UpdateShardCountOutput, KinesisError> {
        k.update_shard_count(
            input(json!({"StreamName": "s", "TargetShardCount": target, "ScalingType": "UNIFORM_SCALING"})),
            0,
        )
    }

    /// Every shard of stream `s`: (start, end, open, parents).
    fn shards(k: &mut Kinesis) -> Vec<(u128, u128, bool, usize)> {
        let out = k.list_shards(input(json!({"StreamName": "s", "MaxResults": 10000})), 0).unwrap();
        serde_json::to_value(&out).unwrap()["Shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let key = |k: &str| s["HashKeyRange"][k].as_str().unwrap().parse::<u128>().unwrap();
                let parents = ["ParentShardId", "AdjacentParentShardId"].iter().filter(|p| s[**p].is_string()).count();
                (
                    key("StartingHashKey"),
                    key("EndingHashKey"),
                    s["SequenceNumberRange"]["EndingSequenceNumber"].is_null(),
                    parents,
                )
            })
            .collect()
    }

    fn open_ranges(k: &mut Kinesis) -> Vec<(u128, u128)> {
        let filter = json!({"StreamName": "s", "MaxResults": 10000, "ShardFilter": {"Type": "AT_LATEST"}});
        let out = serde_json::to_value(k.list_shards(input(filter), 0).unwrap()).unwrap();
        let mut open: Vec<(u128, u128)> = out["Shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let key = |k: &str| s["HashKeyRange"][k].as_str().unwrap().parse::<u128>().unwrap();
                (key("StartingHashKey"), key("EndingHashKey"))
            })
            .collect();
        open.sort_unstable();
        open
    }

    /// `n` contiguous ranges over the whole key space, each within a few keys of `2^128 / n`.
    fn assert_even(open: &[(u128, u128)], n: usize, what: &str) {
        assert_eq!(open.len(), n, "{what}");
        assert_eq!((open[0].0, open[n - 1].1), (0, u128::MAX), "{what}");
        assert!(open.windows(2).all(|w| w[0].1 + 1 == w[1].0), "{what}: a gap");
        let span = even_ranges(n as u32)[0].1;
        for (start, end) in open {
            assert!(
                (end - start).abs_diff(span) <= 4 * n as u128,
                "{what}: {start}..{end} is not about {span} keys wide"
            );
        }
    }

    #[test]
    fn even_ranges_are_aws_s() {
        // AWS's two shards meet at 2^127; its three at floor(2^128 / 3).
        assert_eq!(even_ranges(2)[1].0, 1u128 << 127);
        assert_eq!(even_ranges(3)[1].0, 113_427_455_640_312_821_154_458_202_477_256_070_485);
        assert_eq!(even_ranges(1), vec![(0, u128::MAX)]);
        for n in [1, 2, 3, 7, 10, 64, 10_000] {
            let r = even_ranges(n);
            assert_eq!((r[0].0, r[r.len() - 1].1), (0, u128::MAX));
            assert!(r.windows(2).all(|w| w[0].1 + 1 == w[1].0), "{n} shards leave no gap");
        }
    }

    /// A doubling is one split per shard, as on AWS: 2 → 4 makes 4 shards, 10 → 20 makes 20,
    /// and the old boundaries are kept. (Ranges cut at `u128::MAX / n` missed them: 2 → 4
    /// made 7 shards, 10 → 20 made 47.)
    #[test]
    fn doubling_splits_each_shard_once() {
        for (from, to) in [(2, 4), (10, 20), (1, 2), (64, 128)] {
            let mut k = stream(from);
            scale(&mut k, to).unwrap();
            let all = shards(&mut k);
            assert_eq!(all.len() as i64, from + to, "{from} → {to}: {all:?}");
            assert_even(&open_ranges(&mut k), to as usize, &format!("{from} → {to}"));
            // Halving back is one merge per pair, onto the first boundaries.
            let before = shards(&mut k).len() as i64;
            scale(&mut k, from).unwrap();
            assert_eq!(shards(&mut k).len() as i64, before + from, "{from} → {to} → {from}");
            assert_eq!(open_ranges(&mut k), even_ranges(from as u32), "{from} → {to} → {from}");
        }
    }

    /// With limits on, ten scalings a rolling day per stream, as AWS allows by default.
    #[test]
    fn a_stream_scales_ten_times_a_day() {
        let mut k = stream(2);
        let at = |k: &mut Kinesis, target: i64, t: i64| {
            let body = json!({"StreamName": "s", "TargetShardCount": target, "ScalingType": "UNIFORM_SCALING"});
            k.update_shard_count(input(body), t)
        };
        for i in 0..10 {
            at(&mut k, if i % 2 == 0 { 4 } else { 2 }, i * 1000).unwrap();
        }
        let e = at(&mut k, 4, 20_000).unwrap_err();
        assert_eq!(e.code, "LimitExceededException", "{}", e.message);
        assert!(at(&mut k, 4, 24 * 3600 * 1000).is_ok(), "the first scaling is a day old");
        assert_eq!(k.limit_stats.control_throttled["UpdateShardCount"], 1);
    }

    /// Any scaling leaves the target's even ranges open, every shard with at most two parents,
    /// and halving back returns to the first ranges.
    #[test]
    fn uniform_scaling_reaches_even_ranges() {
        for (from, to) in [(3, 5), (5, 3), (4, 3), (3, 4), (7, 13), (13, 7), (2, 1), (100, 199), (199, 100)] {
            let mut k = stream(from);
            scale(&mut k, to).unwrap();
            assert_even(&open_ranges(&mut k), to as usize, &format!("{from} → {to}"));
            assert!(shards(&mut k).iter().all(|s| s.3 <= 2), "{from} → {to}: a shard with three parents");
            scale(&mut k, from).unwrap();
            assert_even(&open_ranges(&mut k), from as usize, &format!("{from} → {to} → {from}"));
        }
    }

    #[test]
    fn scaling_is_bounded_as_on_aws() {
        let mut k = stream(6_000);
        let e = scale(&mut k, 12_000).unwrap_err();
        assert_eq!(e.code, "LimitExceededException", "{e}");
        assert!(e.message.contains("10000"), "{e}");
        scale(&mut k, 10_000).unwrap();
        assert_eq!(open_ranges(&mut k).len(), 10_000);
        assert_eq!(scale(&mut k, 4_000).unwrap_err().code, "InvalidArgumentException", "below half");
        // The account's quota counts every stream's open shards.
        let e = k.create_stream(input(json!({"StreamName": "t", "ShardCount": SHARD_QUOTA - 9_999})), 0).unwrap_err();
        assert_eq!(e.code, "LimitExceededException", "{e}");
        assert!(e.message.contains("20000"), "{e}");
        k.create_stream(input(json!({"StreamName": "t", "ShardCount": SHARD_QUOTA - 10_000})), 0).unwrap();
        let e = k
            .split_shard(
                input(json!({"StreamName": "t", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": "1"})),
                0,
            )
            .unwrap_err();
        assert_eq!(e.code, "LimitExceededException", "{e}");
        let e = k.create_stream(input(json!({"StreamName": "u", "ShardCount": 0})), 0).unwrap_err();
        assert_eq!(e.code, "ValidationException", "{e}");
        // Found by the fuzzer: the sum wrapped past the quota and 2^32 - 1 shards were asked of
        // the allocator.
        let e = k.create_stream(input(json!({"StreamName": "u", "ShardCount": i64::MAX})), 0).unwrap_err();
        assert_eq!(e.code, "LimitExceededException", "{e}");
    }
}
