//! Faults, seeded: the same calls meet the same faults.
//!
//! One vocabulary: `minutely sim --faults`, `/_sim/faults` and a scenario's `[faults]` write the
//! sim's faults with the same names and units ([`FaultSet`]: `put_entry_failures = { rate,
//! error }`, `put_answers_lost = { rate, as }`, `calls = [{ operation, error_rate, error,
//! latency_ms, jitter_ms }]`, `expire_iterators`, `throttle_probability`, `seed`); each is put
//! into [`Faults`] by one `apply`, whoever reads it.
//!
//! A fault is decided by hashing the seed, the operation, the call's number among that
//! operation's calls, and (for per-entry faults) the entry's index: no shared RNG, so
//! concurrency changes which call gets which number but never the dice of a given call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every fault the sim can inject, as the sim keeps them; written and read as a [`FaultSet`].
/// The default injects nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "FaultSet", into = "FaultSet")]
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
    /// Faults of enhanced fan-out's subscriptions.
    pub subscriptions: SubscriptionFaults,
    /// KMS's request-level errors on encrypted streams.
    pub kms: KmsFaults,
}

/// The faults as they are written, by `minutely sim --faults`, `/_sim/faults` and a scenario's
/// `[faults]` alike. A fault not given is off.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSet {
    /// Seeds every decision.
    pub seed: u64,
    /// This fraction of PutRecords and PutRecord calls throttled as a whole (the same as two
    /// `calls` with `error = "throttle"`; LocalStack's `KINESIS_ERROR_PROBABILITY`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_probability: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub put_entry_failures: Option<EntryFailures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub put_answers_lost: Option<AnswersLost>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<CallFault>,
    /// This fraction of GetRecords calls answer `ExpiredIteratorException`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expire_iterators: Option<f64>,
    /// This fraction of GetRecords calls that would return records answer an empty page
    /// instead (with `MillisBehindLatest` above 0 and an iterator at the same place), as AWS
    /// does: a reader that stops at the first empty page loses what follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty_pages: Option<f64>,
    /// Before each event of a SubscribeToShard subscription, the connection is cut with this
    /// probability: the consumer must subscribe again from its last continuation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriptions_cut: Option<f64>,
    /// `kms_errors = { rate = 0.05, error = "KMSThrottlingException" }`: PutRecord, PutRecords
    /// and GetRecords calls on a stream encrypted with StartStreamEncryption fail as a whole
    /// with KMS's error, as AWS's do when KMS refuses (a stream not encrypted never meets it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_errors: Option<KmsErrors>,
}

/// `kms_errors = { rate, error }`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KmsErrors {
    pub rate: f64,
    #[serde(default)]
    pub error: KmsError,
}

/// KMS's errors as Kinesis answers them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum KmsError {
    #[default]
    KMSThrottlingException,
    KMSDisabledException,
    KMSAccessDeniedException,
    KMSNotFoundException,
    KMSInvalidStateException,
    KMSOptInRequired,
}

impl KmsError {
    pub fn code(self) -> &'static str {
        match self {
            KmsError::KMSThrottlingException => "KMSThrottlingException",
            KmsError::KMSDisabledException => "KMSDisabledException",
            KmsError::KMSAccessDeniedException => "KMSAccessDeniedException",
            KmsError::KMSNotFoundException => "KMSNotFoundException",
            KmsError::KMSInvalidStateException => "KMSInvalidStateException",
            KmsError::KMSOptInRequired => "KMSOptInRequired",
        }
    }
}

/// KMS faults as the sim keeps them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KmsFaults {
    pub rate: f64,
    pub error: KmsError,
}

/// `put_entry_failures = { rate = 0.05, error = "InternalFailure" }`: single PutRecords entries
/// fail (`ProvisionedThroughputExceededException` by default); the rest of the call is stored.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryFailures {
    pub rate: f64,
    #[serde(default)]
    pub error: EntryError,
}

/// `put_answers_lost = { rate = 0.1, as = "drop" }`: PutRecords calls are applied but their
/// answer is lost (`error500` by default, or a dropped connection): the producer sends them again.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswersLost {
    pub rate: f64,
    #[serde(default, rename = "as")]
    pub seen_as: LostAnswer,
}

/// `{ operation = "GetRecords" | "s3:PutObject" | "kinesis:*" | "s3:*", error_rate, error,
/// latency_ms, jitter_ms }`: whole-call errors and latency of one operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallFault {
    pub operation: String,
    #[serde(default)]
    pub error_rate: f64,
    #[serde(default)]
    pub error: ErrorKind,
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default)]
    pub jitter_ms: u64,
}

impl EntryFailures {
    pub fn apply(&self, f: &mut Faults) {
        f.put_records.entry_failure_rate = self.rate;
        f.put_records.entry_error = self.error;
    }
}

impl AnswersLost {
    pub fn apply(&self, f: &mut Faults) {
        f.put_records.answer_lost_rate = self.rate;
        f.put_records.answer_lost_as = self.seen_as;
    }
}

impl CallFault {
    pub fn apply(&self, f: &mut Faults) {
        let call = OperationFaults {
            error_rate: self.error_rate,
            error: self.error,
            latency_ms: self.latency_ms,
            jitter_ms: self.jitter_ms,
        };
        f.operations.insert(self.operation.clone(), call);
    }
}

impl Faults {
    /// `throttle_probability`: PutRecords and PutRecord calls throttled as a whole.
    pub fn throttle_puts(&mut self, p: f64) {
        for operation in ["PutRecords", "PutRecord"] {
            CallFault {
                operation: operation.into(),
                error_rate: p,
                error: ErrorKind::Throttle,
                latency_ms: 0,
                jitter_ms: 0,
            }
            .apply(self);
        }
    }

    /// `expire_iterators`: GetRecords calls answer `ExpiredIteratorException`.
    pub fn expire_iterators(&mut self, p: f64) {
        self.get_records.expire_iterator_rate = p;
    }
}

impl From<FaultSet> for Faults {
    fn from(s: FaultSet) -> Faults {
        let mut f = Faults { seed: s.seed, ..Faults::default() };
        if let Some(p) = s.throttle_probability {
            f.throttle_puts(p);
        }
        s.put_entry_failures.iter().for_each(|e| e.apply(&mut f));
        s.put_answers_lost.iter().for_each(|a| a.apply(&mut f));
        s.calls.iter().for_each(|c| c.apply(&mut f));
        if let Some(p) = s.expire_iterators {
            f.expire_iterators(p);
        }
        if let Some(p) = s.empty_pages {
            f.get_records.empty_page_rate = p;
        }
        if let Some(p) = s.subscriptions_cut {
            f.subscriptions.cut_rate = p;
        }
        if let Some(k) = s.kms_errors {
            f.kms = KmsFaults { rate: k.rate, error: k.error };
        }
        f
    }
}

impl From<Faults> for FaultSet {
    /// The faults in the shared vocabulary; a throttle of the puts is said as its two `calls`.
    fn from(f: Faults) -> FaultSet {
        let p = &f.put_records;
        FaultSet {
            seed: f.seed,
            throttle_probability: None,
            put_entry_failures: (p.entry_failure_rate > 0.0)
                .then_some(EntryFailures { rate: p.entry_failure_rate, error: p.entry_error }),
            put_answers_lost: (p.answer_lost_rate > 0.0)
                .then_some(AnswersLost { rate: p.answer_lost_rate, seen_as: p.answer_lost_as }),
            calls: f
                .operations
                .iter()
                .map(|(operation, o)| CallFault {
                    operation: operation.clone(),
                    error_rate: o.error_rate,
                    error: o.error,
                    latency_ms: o.latency_ms,
                    jitter_ms: o.jitter_ms,
                })
                .collect(),
            expire_iterators: (f.get_records.expire_iterator_rate > 0.0).then_some(f.get_records.expire_iterator_rate),
            empty_pages: (f.get_records.empty_page_rate > 0.0).then_some(f.get_records.empty_page_rate),
            subscriptions_cut: (f.subscriptions.cut_rate > 0.0).then_some(f.subscriptions.cut_rate),
            kms_errors: (f.kms.rate > 0.0).then_some(KmsErrors { rate: f.kms.rate, error: f.kms.error }),
        }
    }
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
    /// Probability that a call with records to give answers an empty page.
    pub empty_page_rate: f64,
}

/// Faults of SubscribeToShard's subscriptions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubscriptionFaults {
    /// Probability that a subscription's connection is cut before an event.
    pub cut_rate: f64,
}

impl Faults {
    /// Checks every probability; says which one is out of range.
    pub fn validate(&self) -> Result<(), String> {
        let mut rates = vec![
            ("put_entry_failures.rate".to_owned(), self.put_records.entry_failure_rate),
            ("put_answers_lost.rate".to_owned(), self.put_records.answer_lost_rate),
            ("expire_iterators".to_owned(), self.get_records.expire_iterator_rate),
            ("empty_pages".to_owned(), self.get_records.empty_page_rate),
            ("subscriptions_cut".to_owned(), self.subscriptions.cut_rate),
            ("kms_errors.rate".to_owned(), self.kms.rate),
        ];
        for (op, f) in &self.operations {
            if !crate::operation::is_known(op) {
                return Err(format!(
                    "calls {op:?}: no such operation; the sim's are {}, {}, kinesis:* and s3:*",
                    crate::operation::OPERATIONS.join(", "),
                    crate::operation::S3_OPERATIONS.join(", ")
                ));
            }
            rates.push((format!("calls {op:?}: error_rate"), f.error_rate));
            if f.jitter_ms > 600_000 || f.latency_ms > 600_000 {
                return Err(format!("calls {op:?}: latency above 10 minutes"));
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
    fn faults_parse_in_the_scenarios_vocabulary_and_refuse_bad_rates() {
        let f: Faults = serde_json::from_str(
            r#"{"seed":3,"put_entry_failures":{"rate":0.2,"error":"InternalFailure"},
                "calls":[{"operation":"s3:PutObject","error_rate":0.5,"error":"throttle"},{"operation":"kinesis:*","latency_ms":5}]}"#,
        )
        .unwrap();
        assert_eq!(f.put_records.entry_error, EntryError::InternalFailure);
        assert_eq!(f.operation("s3:PutObject").unwrap().error, ErrorKind::Throttle);
        assert_eq!(f.operation("GetRecords").unwrap().latency_ms, 5);
        assert!(f.operation("s3:GetObject").is_none());
        f.validate().unwrap();
        // Written back in the same words, and read again to the same faults.
        let again: Faults = serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(again, f);
        // TOML (a `--faults` file) the same, with a scenario's own lines.
        let toml: Faults = toml::from_str(
            "throttle_probability = 0.3\nput_answers_lost = { rate = 0.1, as = \"drop\" }\nexpire_iterators = 0.05\n",
        )
        .unwrap();
        assert_eq!(toml.operation("PutRecord").unwrap().error_rate, 0.3);
        assert_eq!((toml.put_records.answer_lost_rate, toml.put_records.answer_lost_as), (0.1, LostAnswer::Drop));
        assert_eq!(toml.get_records.expire_iterator_rate, 0.05);
        let bad: Faults = serde_json::from_str(r#"{"put_answers_lost":{"rate":1.5}}"#).unwrap();
        assert!(bad.validate().unwrap_err().contains("put_answers_lost.rate = 1.5"));
        let old = serde_json::from_str::<Faults>(r#"{"put_records":{"entry_failure_rate":0.1}}"#).unwrap_err();
        assert!(old.to_string().contains("unknown field `put_records`"), "{old}");
    }

    /// A misspelled operation never fires: it is refused with the names there are (it was
    /// accepted with 200).
    #[test]
    fn fault_operations_are_names_the_sim_knows() {
        for op in ["PutRecordz", "putrecords", "s3:PutObjects", "kinesis:PutRecords", "*", ""] {
            let f: Faults =
                serde_json::from_value(serde_json::json!({"calls": [{"operation": op, "error_rate": 0.5}]})).unwrap();
            let e = f.validate().unwrap_err();
            assert!(
                e.contains("no such operation") && e.contains("PutRecords") && e.contains("s3:PutObject"),
                "{op}: {e}"
            );
        }
        for op in ["PutRecords", "SplitShard", "s3:DeleteObjects", "kinesis:*", "s3:*"] {
            let f: Faults =
                serde_json::from_value(serde_json::json!({"calls": [{"operation": op, "error_rate": 0.5}]})).unwrap();
            f.validate().unwrap();
        }
    }
}
