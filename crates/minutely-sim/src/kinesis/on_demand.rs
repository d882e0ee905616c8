//! On-demand streams: write capacity that follows the traffic, warm throughput, and the account
//! setting warm throughput needs.
//!
//! AWS: an on-demand stream starts at 4 MiB/s of writes (4 shards), takes up to about twice its
//! recent peak, and scales past a new peak within minutes by splitting shards, which consumers
//! then see closed. AWS publishes no algorithm. The sim's, with limits on:
//! - every open shard of an on-demand stream meters the writes it met in each second of the
//!   sim's clock, taken and throttled alike (demand, not throughput);
//! - a second in which a shard met half its limit or more (500 records or 512 KiB) makes it
//!   hot; at its next put, once the stream is ACTIVE, every hot shard splits at the middle of its
//!   hash range and the stream is UPDATING for the transition time (`Shapes`);
//! - so each part of the key space keeps about twice its peak, and a jump past that is
//!   throttled until the split, as on AWS. A stream never grows past 10 GiB/s (10,240 shards) or
//!   the account's shard quota. Capacity is never given back: AWS scales down after about a day
//!   of low traffic; the sim does not.
//!
//! Warm throughput (AWS's On-demand Advantage): while the account's
//! MinimumThroughputBillingCommitment is enabled (UpdateAccountSettings; it lasts at least 24
//! hours, and a disable before then is scheduled for then), CreateStream, UpdateStreamMode and
//! UpdateStreamWarmThroughput take `WarmThroughputMiBps`. The stream is resharded uniformly to
//! that many shards (1 MiB/s each) at once, and DescribeStreamSummary says `WarmThroughput`. A
//! lower target keeps the shards.

use serde::{Deserialize, Serialize};

use super::account::CommitmentOut;
use super::error::KinesisError;
use super::reshard::reshard_uniformly;
use super::state::{Kinesis, Need, SHARD_QUOTA, check_quota, required};
use super::stream::{Stream, split};
use super::wire::*;

/// The most an on-demand stream scales to, in MiB/s of writes (and so in shards).
pub const MAX_ON_DEMAND_MIBPS: i64 = 10_240;
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateAccountSettingsInput {
    pub minimum_throughput_billing_commitment: Option<CommitmentIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CommitmentIn {
    pub status: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountSettingsOutput {
    pub minimum_throughput_billing_commitment: CommitmentOut,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateWarmThroughputInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub warm_throughput_mi_bps: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateWarmThroughputOutput {
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    pub stream_name: String,
    pub warm_throughput: WarmThroughputOut,
}

impl Stream {
    /// What DescribeStreamSummary says of its warm throughput: on-demand streams, while the
    /// account's commitment holds.
    pub(super) fn warm_throughput(&self, committed: bool) -> Option<WarmThroughputOut> {
        (self.on_demand && committed)
            .then(|| WarmThroughputOut { target_mi_bps: self.warm_mibps, current_mi_bps: self.open_count() })
    }

    /// Grows to `mibps` open shards, uniformly; never shrinks.
    fn warm_to(&mut self, mibps: i64, now_ms: i64) -> Result<(), KinesisError> {
        self.warm_mibps = Some(mibps);
        if mibps > self.open_count() {
            reshard_uniformly(self, mibps as u32, now_ms)?;
        }
        Ok(())
    }
}

impl Kinesis {
    pub fn describe_account_settings(&mut self, now_ms: i64) -> Result<AccountSettingsOutput, KinesisError> {
        Ok(AccountSettingsOutput { minimum_throughput_billing_commitment: self.commitment.out(now_ms) })
    }

    /// Enables the commitment (or cancels a scheduled disable), or disables it: at once after
    /// its 24 hours, else scheduled for their end.
    pub fn update_account_settings(
        &mut self,
        input: UpdateAccountSettingsInput,
        now_ms: i64,
    ) -> Result<AccountSettingsOutput, KinesisError> {
        let status = required(
            input.minimum_throughput_billing_commitment.and_then(|c| c.status),
            "minimumThroughputBillingCommitment.status",
        )?;
        let enable = match status.as_str() {
            "ENABLED" => true,
            "DISABLED" => false,
            other => {
                return Err(KinesisError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'minimumThroughputBillingCommitment.status' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"
                )));
            }
        };
        self.commitment.set(enable, now_ms);
        self.describe_account_settings(now_ms)
    }

    /// A `WarmThroughputMiBps` this account may set on `on_demand` streams: checked.
    pub(super) fn check_warm(&mut self, mibps: i64, on_demand: bool, now_ms: i64) -> Result<i64, KinesisError> {
        if !on_demand {
            return Err(KinesisError::invalid(
                "Warm throughput is only supported for streams in the ON_DEMAND capacity mode",
            ));
        }
        if !self.commitment.active(now_ms) {
            return Err(KinesisError::invalid(
                "Warm throughput needs the account's MinimumThroughputBillingCommitment to be ENABLED (UpdateAccountSettings)",
            ));
        }
        if mibps < 0 {
            return Err(KinesisError::validation(format!(
                "1 validation error detected: Value '{mibps}' at 'warmThroughputMiBps' failed to satisfy constraint: Member must have value greater than or equal to 0"
            )));
        }
        if mibps > MAX_ON_DEMAND_MIBPS {
            return Err(KinesisError::limit(format!(
                "WarmThroughputMiBps {mibps} is above {MAX_ON_DEMAND_MIBPS}, the most an on-demand stream scales to"
            )));
        }
        Ok(mibps)
    }

    /// Sets a stream's warm throughput, growing it at once (then UPDATING for the transition time).
    pub(super) fn set_warm(&mut self, r: &StreamRef, mibps: i64, now_ms: i64) -> Result<&mut Stream, KinesisError> {
        let others = self.open_shards_except(r);
        let s = self.stream_mut(r, now_ms, Need::Any)?;
        check_quota(others.saturating_add(mibps.max(s.open_count())))?;
        s.warm_to(mibps, now_ms)?;
        Ok(s)
    }

    pub fn update_stream_warm_throughput(
        &mut self,
        input: UpdateWarmThroughputInput,
        now_ms: i64,
    ) -> Result<UpdateWarmThroughputOutput, KinesisError> {
        let mibps = required(input.warm_throughput_mi_bps, "warmThroughputMiBps")?;
        let delay = self.shapes.transition_ms;
        let on_demand = self.stream_mut(&input.stream, now_ms, Need::Change)?.on_demand;
        let mibps = self.check_warm(mibps, on_demand, now_ms)?;
        let s = self.set_warm(&input.stream, mibps, now_ms)?;
        s.updating(now_ms, delay);
        Ok(UpdateWarmThroughputOutput {
            stream_arn: s.arn(),
            stream_name: s.name.clone(),
            warm_throughput: s.warm_throughput(true).expect("an on-demand stream"),
        })
    }

    /// Splits the hot shards of on-demand stream `r` at their middles, if it is ACTIVE and
    /// the quotas leave room (the shards stay hot and split later otherwise).
    pub(super) fn scale_on_demand(&mut self, r: &StreamRef, now_ms: i64) {
        let others = self.open_shards_except(r);
        let delay = self.shapes.transition_ms;
        let Ok(s) = self.stream_mut(r, now_ms, Need::Change) else { return };
        let room = (SHARD_QUOTA - others).min(MAX_ON_DEMAND_MIBPS) - s.open_count();
        let hot: Vec<u32> = s
            .open
            .iter()
            .map(|&(_, o)| o)
            .filter(|&o| s.shards[o as usize].demand.hot)
            .take(room.max(0) as usize)
            .collect();
        let mut splits = 0;
        for ordinal in hot {
            let sh = &s.shards[ordinal as usize];
            let middle = sh.hash_start + (sh.hash_end - sh.hash_start) / 2 + 1;
            splits += u64::from(split(s, ordinal, middle, now_ms).is_ok());
        }
        if splits > 0 {
            s.reindex();
            s.updating(now_ms, delay);
            self.limit_stats.on_demand_splits += splits;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinesis::state::{Entry, Fate, hash_key};

    const HOUR: i64 = 3600 * 1000;

    fn input<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    fn on_demand(k: &mut Kinesis, name: &str) -> StreamRef {
        k.create_stream(
            input(serde_json::json!({"StreamName": name, "StreamModeDetails": {"StreamMode": "ON_DEMAND"}})),
            0,
        )
        .unwrap();
        StreamRef { stream_name: Some(name.into()), stream_arn: None }
    }

    /// Puts `n` records of `bytes` with one partition key at `now_ms`; returns how many were taken.
    fn put(k: &mut Kinesis, r: &StreamRef, key: &str, n: usize, bytes: usize, now_ms: i64) -> usize {
        let entries: Vec<Entry> =
            (0..n).map(|_| Entry { data: vec![7; bytes], partition_key: key.into(), hash: hash_key(key) }).collect();
        let out = k.put_records(r, entries, &vec![Fate::Store; n], false, None, now_ms).unwrap();
        n - out.failed_record_count as usize
    }

    #[test]
    fn a_hot_shard_splits_after_a_second_at_half_its_limit() {
        let mut k = Kinesis::new(true, crate::Shapes::NONE);
        let r = on_demand(&mut k, "od");
        assert_eq!(k.streams["od"].open_count(), 4);
        // 400 records a second on one key: below half, nothing moves.
        for second in 0..3 {
            assert_eq!(put(&mut k, &r, "a", 400, 10, second * 1000), 400);
        }
        assert_eq!(k.streams["od"].open_count(), 4);
        // Then 1,500 in one second: the shard takes its 1,000 and throttles the rest...
        assert_eq!(put(&mut k, &r, "a", 1500, 10, 3000), 1000);
        assert_eq!(k.streams["od"].open_count(), 4, "a second must close before the shard splits");
        // ...and at its next put it has split in two: one shard more, its children fresh.
        put(&mut k, &r, "a", 1, 10, 4000);
        let s = &k.streams["od"];
        assert_eq!((s.open_count(), s.shards.len()), (5, 6));
        assert_eq!(k.limit_stats.on_demand_splits, 1);
        // The hot shard's children are each half its range; the other shards are untouched.
        let children: Vec<_> = s.shards.iter().filter(|sh| sh.parent.is_some()).collect();
        assert_eq!(children.len(), 2);
        assert_eq!(children[0].hash_end + 1, children[1].hash_start);
    }

    #[test]
    fn bytes_make_a_shard_hot_too_and_a_provisioned_stream_never_scales() {
        let mut k = Kinesis::new(true, crate::Shapes::NONE);
        let r = on_demand(&mut k, "od");
        k.create_stream(input(serde_json::json!({"StreamName": "p", "ShardCount": 1})), 0).unwrap();
        let p = StreamRef { stream_name: Some("p".into()), stream_arn: None };
        for second in 0..3 {
            put(&mut k, &r, "a", 6, 100 * 1024, second * 1000);
            put(&mut k, &p, "a", 6, 100 * 1024, second * 1000);
        }
        assert_eq!(k.streams["od"].open_count(), 5);
        assert_eq!(k.streams["p"].open_count(), 1);
    }

    #[test]
    fn without_limits_nothing_scales() {
        let mut k = Kinesis::new(false, crate::Shapes::NONE);
        let r = on_demand(&mut k, "od");
        for second in 0..3 {
            put(&mut k, &r, "a", 2000, 10, second * 1000);
        }
        assert_eq!(k.streams["od"].open_count(), 4);
    }

    #[test]
    fn an_updating_stream_splits_when_it_is_active_again() {
        let shapes = crate::Shapes { transition_ms: 5000, ..crate::Shapes::NONE };
        let mut k = Kinesis::new(true, shapes);
        let r = on_demand(&mut k, "od");
        put(&mut k, &r, "a", 600, 10, 5000);
        put(&mut k, &r, "a", 600, 10, 6000);
        assert_eq!(k.streams["od"].open_count(), 5);
        assert_eq!(k.streams["od"].status(6000), "UPDATING");
        // The child that takes key "a" runs hot too, while the stream is UPDATING...
        put(&mut k, &r, "a", 600, 10, 7000);
        put(&mut k, &r, "a", 1, 10, 8000);
        assert_eq!(k.streams["od"].open_count(), 5, "no change while UPDATING");
        // ...and splits at its first put once ACTIVE.
        put(&mut k, &r, "a", 1, 10, 11_000);
        assert_eq!(k.streams["od"].open_count(), 6);
    }

    #[test]
    fn warm_throughput_needs_the_commitment_and_grows_the_stream() {
        let mut k = Kinesis::new(true, crate::Shapes::NONE);
        let r = on_demand(&mut k, "od");
        let warm = |n: i64| input(serde_json::json!({"StreamName": "od", "WarmThroughputMiBps": n}));
        let e = k.update_stream_warm_throughput(warm(20), 0).unwrap_err();
        assert_eq!(e.code, "InvalidArgumentException");
        assert!(k.describe_stream_summary(r, 0).unwrap().stream_description_summary.warm_throughput.is_none());

        let on = |s: &str| input(serde_json::json!({"MinimumThroughputBillingCommitment": {"Status": s}}));
        let out = k.update_account_settings(on("ENABLED"), 0).unwrap();
        assert_eq!(out.minimum_throughput_billing_commitment.status, "ENABLED");
        let out = k.update_stream_warm_throughput(warm(20), 0).unwrap();
        assert_eq!((out.warm_throughput.target_mi_bps, out.warm_throughput.current_mi_bps), (Some(20), 20));
        assert_eq!(k.streams["od"].open_count(), 20);
        // Lower: the target follows, the shards stay.
        let out = k.update_stream_warm_throughput(warm(8), 0).unwrap();
        assert_eq!((out.warm_throughput.target_mi_bps, out.warm_throughput.current_mi_bps), (Some(8), 20));
        assert_eq!(k.update_stream_warm_throughput(warm(20_000), 0).unwrap_err().code, "LimitExceededException");

        // A provisioned stream has none.
        k.create_stream(input(serde_json::json!({"StreamName": "p", "ShardCount": 1})), 0).unwrap();
        let p = input(serde_json::json!({"StreamName": "p", "WarmThroughputMiBps": 4}));
        assert_eq!(k.update_stream_warm_throughput(p, 0).unwrap_err().code, "InvalidArgumentException");
    }

    #[test]
    fn a_commitment_lasts_a_day_and_a_disable_before_is_scheduled() {
        let mut k = Kinesis::new(true, crate::Shapes::NONE);
        let set = |s: &str| input(serde_json::json!({"MinimumThroughputBillingCommitment": {"Status": s}}));
        assert_eq!(k.describe_account_settings(0).unwrap().minimum_throughput_billing_commitment.status, "DISABLED");
        k.update_account_settings(set("ENABLED"), HOUR).unwrap();
        let out = k.update_account_settings(set("DISABLED"), 2 * HOUR).unwrap().minimum_throughput_billing_commitment;
        assert_eq!(out.status, "ENABLED_UNTIL_EARLIEST_ALLOWED_END");
        assert_eq!((out.ended_at, out.earliest_allowed_end_at), (None, Some(Timestamp(25 * HOUR))));
        // Enabling again cancels the disable.
        assert_eq!(
            k.update_account_settings(set("ENABLED"), 3 * HOUR).unwrap().minimum_throughput_billing_commitment.status,
            "ENABLED"
        );
        k.update_account_settings(set("DISABLED"), 4 * HOUR).unwrap();
        let after = k.describe_account_settings(25 * HOUR).unwrap().minimum_throughput_billing_commitment;
        assert_eq!((after.status, after.ended_at), ("DISABLED", Some(Timestamp(25 * HOUR))));
        // After its day, a disable is at once.
        k.update_account_settings(set("ENABLED"), 30 * HOUR).unwrap();
        let now = k.update_account_settings(set("DISABLED"), 55 * HOUR).unwrap().minimum_throughput_billing_commitment;
        assert_eq!(now.status, "DISABLED");
        assert_eq!(k.update_account_settings(set("MAYBE"), 0).unwrap_err().code, "ValidationException");
    }
}
