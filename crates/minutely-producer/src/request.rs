//! One PutRecords call's request and what its per-entry results mean: which entries Kinesis
//! took and which must be sent again. Pure: no client, no clock.

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, PutRecordsResultEntry};

use crate::batcher::Entry;

/// The request entries of a batch, in order.
pub fn entries(batch: &[Entry]) -> Vec<PutRecordsRequestEntry> {
    batch
        .iter()
        .map(|e| {
            PutRecordsRequestEntry::builder()
                .data(Blob::new(e.data.clone()))
                .partition_key(&e.partition_key)
                .set_explicit_hash_key(e.explicit_hash_key.clone())
                .build()
                .expect("data and partition key are set")
        })
        .collect()
}

/// What a PutRecords answer refused: the first failure as `Code: message`, and how many events
/// were in entries throttled by the shard's limits (`ProvisionedThroughputExceededException`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Refused {
    pub first: Option<String>,
    pub throttled_events: u64,
}

/// Keeps in `pending` the entries whose result carries an `ErrorCode` (decided per entry, never
/// from `FailedRecordCount`), calls `acked` with each of the others, and says what was refused.
/// `results` are in the order of `pending` and as many.
pub fn keep_failed(
    pending: &mut Vec<Entry>,
    results: &[PutRecordsResultEntry],
    mut acked: impl FnMut(&Entry),
) -> Refused {
    debug_assert_eq!(pending.len(), results.len());
    let mut refused = Refused::default();
    let mut results = results.iter();
    pending.retain(|e| {
        let Some(result) = results.next() else { return true };
        if let Some(code) = result.error_code() {
            refused.first.get_or_insert_with(|| format!("{code}: {}", result.error_message().unwrap_or_default()));
            if code == "ProvisionedThroughputExceededException" {
                refused.throttled_events += e.events().len() as u64;
            }
            return true;
        }
        acked(e);
        false
    });
    refused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64) -> Entry {
        Entry::new(seq, format!("pk{seq}"), vec![seq as u8])
    }

    fn ok() -> PutRecordsResultEntry {
        PutRecordsResultEntry::builder().shard_id("shardId-000000000000").sequence_number("1").build()
    }

    fn failed(code: &str) -> PutRecordsResultEntry {
        PutRecordsResultEntry::builder().error_code(code).error_message("slow down").build()
    }

    #[test]
    fn entries_keep_the_batch_order_and_bytes() {
        let built = entries(&[entry(1), entry(2)]);
        assert_eq!(built.iter().map(|e| e.partition_key()).collect::<Vec<_>>(), [Some("pk1"), Some("pk2")]);
        assert_eq!(built[1].data().as_ref(), [2]);
        assert_eq!(built[1].explicit_hash_key(), None);
        let routed = Entry { explicit_hash_key: Some("42".into()), ..entry(3) };
        assert_eq!(entries(&[routed])[0].explicit_hash_key(), Some("42"));
    }

    #[test]
    fn exactly_the_failed_entries_stay_and_the_first_failure_is_said() {
        let mut pending = vec![entry(0), entry(1), entry(2), entry(3)];
        let results = [ok(), failed("ProvisionedThroughputExceededException"), ok(), failed("InternalFailure")];
        let mut acked = Vec::new();
        let refused = keep_failed(&mut pending, &results, |e| acked.push(e.seq));
        assert_eq!(pending.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(acked, [0, 2]);
        assert_eq!(refused.first.as_deref(), Some("ProvisionedThroughputExceededException: slow down"));
        assert_eq!(refused.throttled_events, 1, "the shard's limit, not the internal failure");
        assert_eq!(keep_failed(&mut vec![entry(5)], &[ok()], |_| {}), Refused::default());
    }
}
