//! SplitShard, MergeShards and UpdateShardCount on the state: the checks AWS makes, then the
//! splits and merges of `stream.rs`.

use super::error::KinesisError;
use super::state::{Kinesis, required};
use super::stream::{even_ranges, merge, split};
use super::wire::*;

impl Kinesis {
    pub fn split_shard(&mut self, input: SplitShardInput, now_ms: i64) -> Result<Empty, KinesisError> {
        let parent = required(input.shard_to_split, "shardToSplit")?;
        let key = required(input.new_starting_hash_key, "newStartingHashKey")?;
        let s = self.stream_mut(&input.stream, now_ms)?;
        let sh = s.shard(&parent)?;
        let new_start: u128 = key
            .parse()
            .map_err(|_| KinesisError::invalid(format!("NewStartingHashKey {key} is not a 128-bit integer")))?;
        split(s, sh.ordinal, new_start, now_ms)?;
        Ok(Empty {})
    }

    pub fn merge_shards(&mut self, input: MergeShardsInput, now_ms: i64) -> Result<Empty, KinesisError> {
        let a = required(input.shard_to_merge, "shardToMerge")?;
        let b = required(input.adjacent_shard_to_merge, "adjacentShardToMerge")?;
        let s = self.stream_mut(&input.stream, now_ms)?;
        let (a, b) = (s.shard(&a)?.ordinal, s.shard(&b)?.ordinal);
        merge(s, a, b, now_ms)?;
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
        let s = self.stream_mut(&input.stream, now_ms)?;
        let current = s.open_count();
        if target < 1 || target > current * 2 || target * 2 < current {
            return Err(KinesisError::invalid(format!(
                "TargetShardCount {target} must be between half ({}) and double ({}) the current open shard count {current}",
                (current + 1) / 2,
                current * 2
            )));
        }
        let bounds: Vec<u128> = even_ranges(target as u32).into_iter().map(|(start, _)| start).collect();
        // Splits: every boundary strictly inside an open shard.
        for &b in bounds.iter().skip(1) {
            let inside =
                s.open.iter().find(|(start, o)| *start < b && s.shards[*o as usize].hash_end >= b).map(|(_, o)| *o);
            if let Some(o) = inside {
                split(s, o, b, now_ms)?;
            }
        }
        // Merges: left to right inside each new range.
        for (i, &b) in bounds.iter().enumerate() {
            let end = bounds.get(i + 1).map_or(u128::MAX, |n| n - 1);
            loop {
                let pieces: Vec<u32> =
                    s.open.iter().filter(|(start, _)| *start >= b && *start <= end).map(|(_, o)| *o).collect();
                if pieces.len() < 2 {
                    break;
                }
                merge(s, pieces[0], pieces[1], now_ms)?;
            }
        }
        Ok(UpdateShardCountOutput {
            stream_name: s.name.clone(),
            stream_arn: s.arn(),
            current_shard_count: current,
            target_shard_count: target,
        })
    }
}
