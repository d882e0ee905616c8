//! Faults, seeded: the same calls meet the same faults.
//!
//! A fault is decided by hashing the seed, the operation, the call's number among that
//! operation's calls, and (for per-entry faults) the entry's index: no shared RNG, so
//! concurrency changes which call gets which number but never the dice of a given call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every fault the sim can inject. The default injects nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Seeds every decision.
    pub seed: u64,
    /// Whole-call errors and latency, per operation: `PutRecords`, `GetRecords`, ... for
    /// Kinesis, `s3:PutObject`, `s3:GetObject`, ... for S3, and `kinesis:*` / `s3:*` for every
    /// operation of a service (an exact name wins).
    pub operations: BTreeMap<String, OperationFaults>,
    /// Faults inside PutRecords.
    pub put_records: PutRecordsFaults,
    /// Faults inside GetRecords.
    pub get_records: GetRecordsFaults,
}

/// Whole-call faults of one operation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperationFaults {
    /// Probability that a call fails as a whole, without effect.
    pub error_rate: f64,
    /// How it fails.
    pub error: ErrorKind,
    /// Added to every call, before it runs.
    pub latency_ms: u64,
    /// Uniform extra latency in `[0, jitter_ms]`.
    pub jitter_ms: u64,
}

/// How a whole call fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 500: Kinesis `InternalFailure`, S3 `InternalError`.
    #[default]
    Internal,
    /// 503: `ServiceUnavailable`.
    Unavailable,
    /// Kinesis: 400 `ProvisionedThroughputExceededException` on data calls,
    /// `LimitExceededException` on the others; S3: 503 `SlowDown`.
    Throttle,
}

/// Faults inside PutRecords (and PutRecord, whose one entry is treated the same).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PutRecordsFaults {
    /// Probability that one entry fails (not stored; the others are).
    pub entry_failure_rate: f64,
    /// The entry's `ErrorCode`.
    pub entry_error: EntryError,
    /// Probability that a call is applied (its records stored) but its answer is lost.
    pub answer_lost_rate: f64,
    /// What the client sees when an answer is lost.
    pub answer_lost_as: LostAnswer,
}

/// A PutRecords entry's `ErrorCode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryError {
    #[default]
    ProvisionedThroughputExceededException,
    InternalFailure,
}

impl EntryError {
    pub fn code(self) -> &'static str {
        match self {
            EntryError::ProvisionedThroughputExceededException => "ProvisionedThroughputExceededException",
            EntryError::InternalFailure => "InternalFailure",
        }
    }
}

/// What a client sees of an applied call whose answer was lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LostAnswer {
    /// A 500 `InternalFailure`.
    #[default]
    Error500,
    /// The connection closes without an answer.
    Drop,
}

/// Faults inside GetRecords.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GetRecordsFaults {
    /// Probability that a call answers `ExpiredIteratorException` whatever the iterator's age.
    pub expire_iterator_rate: f64,
}

impl Faults {
    /// Checks every probability; says which one is out of range.
    pub fn validate(&self) -> Result<(), String> {
        let mut rates = vec![
            ("put_records.entry_failure_rate".to_owned(), self.put_records.entry_failure_rate),
            ("put_records.answer_lost_rate".to_owned(), self.put_records.answer_lost_rate),
            ("get_records.expire_iterator_rate".to_owned(), self.get_records.expire_iterator_rate),
        ];
        for (op, f) in &self.operations {
            rates.push((format!("operations.{op}.error_rate"), f.error_rate));
            if f.jitter_ms > 600_000 || f.latency_ms > 600_000 {
                return Err(format!("operations.{op}: latency above 10 minutes"));
            }
        }
        for (name, r) in rates {
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("{name} = {r}: a probability is between 0 and 1"));
            }
        }
        Ok(())
    }

    /// The whole-call faults of `op` (`"PutRecords"`, `"s3:PutObject"`).
    pub fn operation(&self, op: &str) -> Option<&OperationFaults> {
        let wildcard = if op.starts_with("s3:") { "s3:*" } else { "kinesis:*" };
        self.operations.get(op).or_else(|| self.operations.get(wildcard))
    }
}

/// A uniform number in `[0, 1)` for (seed, operation, call, entry): splitmix64 over the four.
pub fn dice(seed: u64, op: &str, call: u64, entry: u64) -> f64 {
    let mut h = splitmix(seed ^ 0x6d69_6e75_7465_6c79);
    for b in op.bytes() {
        h = splitmix(h ^ u64::from(b));
    }
    h = splitmix(h ^ call);
    h = splitmix(h ^ entry.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    (h >> 11) as f64 / (1u64 << 53) as f64
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dice_are_reproducible_and_uniform_enough() {
        assert_eq!(dice(7, "PutRecords", 3, 9), dice(7, "PutRecords", 3, 9));
        assert_ne!(dice(7, "PutRecords", 3, 9), dice(8, "PutRecords", 3, 9));
        let n = 100_000;
        let below = (0..n).filter(|i| dice(1, "PutRecords", 0, *i) < 0.1).count();
        assert!((9_000..11_000).contains(&below), "{below}");
    }

    #[test]
    fn faults_parse_from_json_and_refuse_bad_rates() {
        let f: Faults = serde_json::from_str(
            r#"{"seed":3,"put_records":{"entry_failure_rate":0.2,"entry_error":"InternalFailure"},
                "operations":{"s3:PutObject":{"error_rate":0.5,"error":"throttle"},"kinesis:*":{"latency_ms":5}}}"#,
        )
        .unwrap();
        assert_eq!(f.put_records.entry_error, EntryError::InternalFailure);
        assert_eq!(f.operation("s3:PutObject").unwrap().error, ErrorKind::Throttle);
        assert_eq!(f.operation("GetRecords").unwrap().latency_ms, 5);
        assert!(f.operation("s3:GetObject").is_none());
        f.validate().unwrap();
        let bad: Faults = serde_json::from_str(r#"{"put_records":{"answer_lost_rate":1.5}}"#).unwrap();
        assert!(bad.validate().unwrap_err().contains("answer_lost_rate"));
        assert!(serde_json::from_str::<Faults>(r#"{"put_record":{}}"#).is_err());
    }
}
