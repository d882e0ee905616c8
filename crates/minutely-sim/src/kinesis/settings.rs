//! What infrastructure-as-code tools call on every refresh, without IO: a stream's retention
//! (IncreaseStreamRetentionPeriod, DecreaseStreamRetentionPeriod: 24 to 8,760 hours, each only
//! in its direction; a shorter retention trims at once), its tags (AddTagsToStream,
//! RemoveTagsFromStream, ListTagsForStream: at most 50 a stream, 10 a call), its mode
//! (UpdateStreamMode: PROVISIONED or ON_DEMAND, with a warm throughput: `on_demand.rs`), its largest record (UpdateMaxRecordSize: 1024 to 10240 KiB), its encryption
//! (StartStreamEncryption, StopStreamEncryption: KMS with a key id, said back; the sim encrypts
//! nothing) and the account's limits (DescribeLimits), with AWS's errors. Each change but the
//! tags leaves the stream UPDATING for the transition time (`Shapes`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::KinesisError;
use super::state::{Kinesis, Need, SHARD_QUOTA, check_max_record_kib, required};
use super::wire::*;

/// Retention bounds, in hours.
const MIN_RETENTION_HOURS: i64 = 24;
const MAX_RETENTION_HOURS: i64 = 8_760;
/// Tags a stream holds, and a call adds, at most.
const MAX_TAGS: usize = 50;
const MAX_TAGS_PER_CALL: usize = 10;
/// On-demand streams per account (AWS's default quota).
const ON_DEMAND_STREAMS: i64 = 50;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RetentionInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub retention_period_hours: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MaxRecordSizeInput {
    #[serde(rename = "StreamARN")]
    pub stream_arn: Option<String>,
    #[serde(rename = "MaxRecordSizeInKiB")]
    pub max_record_size_in_kib: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EncryptionInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub encryption_type: Option<String>,
    pub key_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AddTagsInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RemoveTagsInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub tag_keys: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListTagsInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub exclusive_start_tag_key: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateStreamModeInput {
    #[serde(rename = "StreamARN")]
    pub stream_arn: Option<String>,
    pub stream_mode_details: Option<StreamModeDetails>,
    #[serde(rename = "WarmThroughputMiBps")]
    pub warm_throughput_mi_bps: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsOutput {
    pub tags: Vec<Tag>,
    pub has_more_tags: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeLimitsOutput {
    pub shard_limit: i64,
    pub open_shard_count: i64,
    pub on_demand_stream_count: i64,
    pub on_demand_stream_count_limit: i64,
}

impl Kinesis {
    /// Increase or Decrease (`longer`) the retention of a stream.
    pub fn change_retention(
        &mut self,
        input: RetentionInput,
        longer: bool,
        now_ms: i64,
    ) -> Result<Empty, KinesisError> {
        let hours = required(input.retention_period_hours, "retentionPeriodHours")?;
        if !(MIN_RETENTION_HOURS..=MAX_RETENTION_HOURS).contains(&hours) {
            return Err(KinesisError::validation(format!(
                "1 validation error detected: Value '{hours}' at 'retentionPeriodHours' failed to satisfy constraint: Member must have value between {MIN_RETENTION_HOURS} and {MAX_RETENTION_HOURS}"
            )));
        }
        let s = self.stream_mut(&input.stream, now_ms, Need::Change)?;
        let current = s.retention_hours;
        if longer && hours < current {
            return Err(KinesisError::invalid(format!(
                "Requested retention period ({hours} hours) for stream {} can not be shorter than existing retention period ({current} hours). Use DecreaseRetentionPeriod API.",
                s.name
            )));
        }
        if !longer && hours > current {
            return Err(KinesisError::invalid(format!(
                "Requested retention period ({hours} hours) for stream {} can not be longer than existing retention period ({current} hours). Use IncreaseRetentionPeriod API.",
                s.name
            )));
        }
        s.retention_hours = hours;
        // What the shorter retention no longer keeps is gone now (a longer one brings nothing back).
        s.trim(now_ms);
        Ok(Empty {})
    }

    pub fn add_tags_to_stream(&mut self, input: AddTagsInput, now_ms: i64) -> Result<Empty, KinesisError> {
        let tags = required(input.tags, "tags")?;
        if tags.is_empty() || tags.len() > MAX_TAGS_PER_CALL {
            return Err(KinesisError::validation(format!(
                "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have between 1 and {MAX_TAGS_PER_CALL} entries (it has {})",
                tags.len()
            )));
        }
        if let Some((k, v)) =
            tags.iter().find(|(k, v)| k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256)
        {
            return Err(KinesisError::invalid(format!(
                "Tag key {k:?} (1 to 128 characters) or value {v:?} (at most 256 characters) is not valid"
            )));
        }
        let s = self.stream_mut(&input.stream, now_ms, Need::Change)?;
        let after = s.tags.keys().chain(tags.keys().filter(|k| !s.tags.contains_key(*k))).count();
        if after > MAX_TAGS {
            return Err(KinesisError::limit(format!(
                "Stream {} would have {after} tags; a stream has at most {MAX_TAGS}",
                s.name
            )));
        }
        s.tags.extend(tags);
        Ok(Empty {})
    }

    pub fn remove_tags_from_stream(&mut self, input: RemoveTagsInput, now_ms: i64) -> Result<Empty, KinesisError> {
        let keys = required(input.tag_keys, "tagKeys")?;
        let s = self.stream_mut(&input.stream, now_ms, Need::Change)?;
        for k in keys {
            s.tags.remove(&k);
        }
        Ok(Empty {})
    }

    pub fn list_tags_for_stream(&mut self, input: ListTagsInput, now_ms: i64) -> Result<ListTagsOutput, KinesisError> {
        let limit = match input.limit {
            None => MAX_TAGS,
            Some(n) if (1..=MAX_TAGS as i64).contains(&n) => n as usize,
            Some(n) => {
                return Err(KinesisError::validation(format!(
                    "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and {MAX_TAGS}"
                )));
            }
        };
        let s = self.stream_mut(&input.stream, now_ms, Need::Any)?;
        let after = input.exclusive_start_tag_key;
        let mut rest = s.tags.iter().filter(|(k, _)| after.as_ref().is_none_or(|a| *k > a));
        let tags: Vec<Tag> = rest.by_ref().take(limit).map(|(k, v)| Tag { key: k.clone(), value: v.clone() }).collect();
        Ok(ListTagsOutput { tags, has_more_tags: rest.next().is_some() })
    }

    pub fn update_stream_mode(&mut self, input: UpdateStreamModeInput, now_ms: i64) -> Result<Empty, KinesisError> {
        let arn = required(input.stream_arn, "streamARN")?;
        let mode = required(input.stream_mode_details.and_then(|d| d.stream_mode), "streamModeDetails.streamMode")?;
        let on_demand = match mode.as_str() {
            "ON_DEMAND" => true,
            "PROVISIONED" => false,
            other => {
                return Err(KinesisError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]"
                )));
            }
        };
        let delay = self.shapes.transition_ms;
        let on_demand_streams = self.streams.values().filter(|s| s.on_demand).count() as i64;
        let r = StreamRef { stream_name: None, stream_arn: Some(arn) };
        let s = self.stream_mut(&r, now_ms, Need::Change)?;
        if on_demand && !s.on_demand && on_demand_streams >= ON_DEMAND_STREAMS {
            return Err(KinesisError::limit(format!(
                "The account has {ON_DEMAND_STREAMS} on-demand streams, the most it may have"
            )));
        }
        let warm = input.warm_throughput_mi_bps.map(|m| self.check_warm(m, on_demand, now_ms)).transpose()?;
        let s = match warm {
            Some(mibps) => self.set_warm(&r, mibps, now_ms)?,
            None => self.stream_mut(&r, now_ms, Need::Change)?,
        };
        s.on_demand = on_demand;
        s.warm_mibps = s.warm_mibps.filter(|_| on_demand);
        s.updating(now_ms, delay);
        Ok(Empty {})
    }

    pub fn update_max_record_size(&mut self, input: MaxRecordSizeInput, now_ms: i64) -> Result<Empty, KinesisError> {
        let arn = required(input.stream_arn, "streamARN")?;
        let kib = check_max_record_kib(required(input.max_record_size_in_kib, "maxRecordSizeInKiB")?)?;
        let delay = self.shapes.transition_ms;
        let s = self.stream_mut(&StreamRef { stream_name: None, stream_arn: Some(arn) }, now_ms, Need::Change)?;
        s.max_record_kib = kib;
        s.updating(now_ms, delay);
        Ok(Empty {})
    }

    /// StartStreamEncryption (`start`) or StopStreamEncryption: KMS with the key said back.
    pub fn change_encryption(
        &mut self,
        input: EncryptionInput,
        start: bool,
        now_ms: i64,
    ) -> Result<Empty, KinesisError> {
        let kind = required(input.encryption_type, "encryptionType")?;
        let key = required(input.key_id, "keyId")?;
        if kind != "KMS" {
            return Err(KinesisError::validation(format!(
                "1 validation error detected: Value '{kind}' at 'encryptionType' failed to satisfy constraint: Member must satisfy enum value set: [KMS, NONE]"
            )));
        }
        if key.is_empty() || key.len() > 2048 {
            return Err(KinesisError::validation(
                "1 validation error detected: Value at 'keyId' failed to satisfy constraint: Member must have length between 1 and 2048",
            ));
        }
        let delay = self.shapes.transition_ms;
        let s = self.stream_mut(&input.stream, now_ms, Need::Change)?;
        if !start && s.kms_key.as_deref() != Some(key.as_str()) {
            return Err(KinesisError::invalid(format!(
                "Stream {} is not encrypted with key {key} (it is {})",
                s.name,
                s.kms_key.as_deref().unwrap_or("not encrypted")
            )));
        }
        s.kms_key = start.then_some(key);
        s.updating(now_ms, delay);
        Ok(Empty {})
    }

    pub fn describe_limits(&mut self) -> Result<DescribeLimitsOutput, KinesisError> {
        Ok(DescribeLimitsOutput {
            shard_limit: SHARD_QUOTA,
            open_shard_count: self.streams.values().map(|s| s.open_count()).sum(),
            on_demand_stream_count: self.streams.values().filter(|s| s.on_demand).count() as i64,
            on_demand_stream_count_limit: ON_DEMAND_STREAMS,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn input<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    fn stream() -> Kinesis {
        let mut k = Kinesis::new(true, crate::Shapes::NONE);
        k.create_stream(input(json!({"StreamName": "s", "ShardCount": 2})), 0).unwrap();
        k
    }

    /// Retention trims what is older than the period; the ledger counts it, tells the records
    /// nobody read from those read, and keeps the unread ones (their data) when asked to.
    #[test]
    fn the_ledger_keeps_what_retention_trimmed_unread() {
        let mut k = Kinesis::new(false, crate::Shapes::NONE);
        k.create_stream(input(json!({"StreamName": "s", "ShardCount": 1})), 0).unwrap();
        k.keep_trimmed();
        let put = |k: &mut Kinesis, data: &str, now: i64| {
            let e = super::super::state::entry(Some(super::super::wire::Blob(data.into())), Some("k".into()), None, "");
            let s = StreamRef { stream_name: Some("s".into()), stream_arn: None };
            k.put_records(&s, vec![e.unwrap()], &[super::super::state::Fate::Store], false, None, now).unwrap();
        };
        put(&mut k, "read", 1_000);
        let i = json!({"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"});
        let it = k.get_shard_iterator(input(i), 1_000).unwrap().shard_iterator;
        assert_eq!(
            k.get_records(&input(json!({"ShardIterator": it})), Default::default(), 1_000).unwrap().records.len(),
            1
        );
        put(&mut k, "unread", 2_000);
        put(&mut k, "kept", 3_600_000);
        let day = 24 * 3_600_000;
        k.describe_stream_summary(input(json!({"StreamName": "s"})), day + 2_500).unwrap();
        let ledger = k.ledger("s").unwrap();
        assert_eq!((ledger.counts.records_trimmed, ledger.counts.records_trimmed_unread), (2, 1));
        let trimmed = &ledger.trimmed_unread;
        assert_eq!(trimmed.len(), 1);
        assert_eq!((trimmed[0].data.as_slice(), trimmed[0].arrival_ms), (&b"unread"[..], 2_000));
        assert!(trimmed[0].sequence.ends_with("1"), "{}", trimmed[0].sequence);
        // Read back after the trim, the shard starts at what retention kept.
        let i = json!({"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"});
        let it = k.get_shard_iterator(input(i), day + 3_000).unwrap().shard_iterator;
        let page = k.get_records(&input(json!({"ShardIterator": it})), Default::default(), day + 3_000).unwrap();
        assert_eq!(page.records.len(), 1);
    }

    #[test]
    fn retention_moves_only_its_way_within_aws_bounds() {
        let mut k = stream();
        let change = |k: &mut Kinesis, hours: i64, longer: bool| {
            k.change_retention(input(json!({"StreamName": "s", "RetentionPeriodHours": hours})), longer, 0)
        };
        assert!(change(&mut k, 48, true).is_ok());
        assert_eq!(change(&mut k, 36, true).unwrap_err().code, "InvalidArgumentException");
        assert_eq!(change(&mut k, 72, false).unwrap_err().code, "InvalidArgumentException");
        assert_eq!(change(&mut k, 12, false).unwrap_err().code, "ValidationException", "below a day");
        assert_eq!(change(&mut k, 9_000, true).unwrap_err().code, "ValidationException", "above a year");
        assert!(change(&mut k, 24, false).is_ok());
        let d = k.describe_stream_summary(input(json!({"StreamName": "s"})), 0).unwrap();
        assert_eq!(d.stream_description_summary.retention_period_hours, 24);
    }

    #[test]
    fn tags_are_added_listed_in_pages_and_removed() {
        let mut k = stream();
        let tags: BTreeMap<String, String> = (0..10).map(|i| (format!("k{i}"), format!("v{i}"))).collect();
        k.add_tags_to_stream(input(json!({"StreamName": "s", "Tags": tags})), 0).unwrap();
        let page = k.list_tags_for_stream(input(json!({"StreamName": "s", "Limit": 4})), 0).unwrap();
        assert_eq!((page.tags.len(), page.has_more_tags), (4, true));
        let next = json!({"StreamName": "s", "ExclusiveStartTagKey": page.tags[3].key, "Limit": 10});
        let rest = k.list_tags_for_stream(input(next), 0).unwrap();
        assert_eq!((rest.tags.len(), rest.has_more_tags), (6, false));
        k.remove_tags_from_stream(input(json!({"StreamName": "s", "TagKeys": ["k0", "k9", "nope"]})), 0).unwrap();
        assert_eq!(k.list_tags_for_stream(input(json!({"StreamName": "s"})), 0).unwrap().tags.len(), 8);
        let eleven: BTreeMap<String, String> = (0..11).map(|i| (format!("x{i}"), String::new())).collect();
        let e = k.add_tags_to_stream(input(json!({"StreamName": "s", "Tags": eleven})), 0).unwrap_err();
        assert_eq!(e.code, "ValidationException");
        for batch in 0..5 {
            let more: BTreeMap<String, String> = (0..10).map(|i| (format!("b{batch}-{i}"), String::new())).collect();
            let r = k.add_tags_to_stream(input(json!({"StreamName": "s", "Tags": more})), 0);
            assert_eq!(r.is_ok(), 8 + 10 * (batch + 1) <= MAX_TAGS, "batch {batch}: 50 tags at most");
        }
    }

    #[test]
    fn the_mode_and_the_limits_are_said_back() {
        let mut k = stream();
        let arn = k
            .describe_stream_summary(input(json!({"StreamName": "s"})), 0)
            .unwrap()
            .stream_description_summary
            .stream_arn;
        k.update_stream_mode(input(json!({"StreamARN": arn, "StreamModeDetails": {"StreamMode": "ON_DEMAND"}})), 0)
            .unwrap();
        let d = k.describe_stream_summary(input(json!({"StreamName": "s"})), 0).unwrap();
        assert_eq!(d.stream_description_summary.stream_mode_details.stream_mode, "ON_DEMAND");
        let l = k.describe_limits().unwrap();
        assert_eq!((l.shard_limit, l.open_shard_count, l.on_demand_stream_count), (SHARD_QUOTA, 2, 1));
        let bad = json!({"StreamARN": arn, "StreamModeDetails": {"StreamMode": "FAST"}});
        assert_eq!(k.update_stream_mode(input(bad), 0).unwrap_err().code, "ValidationException");
    }
}
