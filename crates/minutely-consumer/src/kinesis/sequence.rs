//! Records a backend returns again. Kinesis gives each record of a shard a larger sequence
//! number (a decimal string of up to 128 bits) than the records before it, and an iterator
//! after a record never reaches it again. Not every backend keeps that: LocalStack 4.9's
//! Kinesis (kinesis-mock 0.4.13) gives a shard's first record, put within the second the shard
//! was created, the shard's starting sequence number, and then reads an iterator after that
//! record (the next iterator of a page that ends with it, or `AFTER_SEQUENCE_NUMBER`) from the
//! shard's start: the record comes again, with whatever follows it. A reader that took it
//! twice would count its events as duplicates and reject its bad lines twice, so readers skip
//! what they have read already ([`after`]), count it, and say so.

use aws_sdk_kinesis::types::Record;

/// Whether sequence number `seq` comes after `position` in their shard. A value that is not a
/// decimal number is never judged: `true`.
pub fn is_after(seq: &str, position: &str) -> bool {
    match (number(seq), number(position)) {
        (Some(a), Some(b)) => (a.len(), a) > (b.len(), b),
        _ => true,
    }
}

/// `s` without its leading zeros, when it is a decimal number.
fn number(s: &str) -> Option<&str> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.trim_start_matches('0'))
}

/// The records of a page that come after `position` (the last record read from the shard;
/// `None`: none yet). A page lists its records in order, so the ones read already are its
/// first ones.
pub fn after<'r>(records: &'r [Record], position: Option<&str>) -> &'r [Record] {
    let Some(position) = position else { return records };
    let repeated = records.iter().take_while(|r| !is_after(r.sequence_number(), position)).count();
    &records[repeated..]
}

#[cfg(test)]
mod tests {
    use aws_sdk_kinesis::primitives::{Blob, DateTime};

    use super::*;

    fn record(seq: &str) -> Record {
        Record::builder()
            .sequence_number(seq)
            .data(Blob::new(seq.as_bytes().to_vec()))
            .partition_key("k")
            .approximate_arrival_timestamp(DateTime::from_millis(0))
            .build()
            .unwrap()
    }

    #[test]
    fn sequence_numbers_compare_as_numbers_not_as_text() {
        assert!(is_after("10", "9"));
        assert!(!is_after("9", "10"));
        assert!(!is_after("42", "42"));
        assert!(is_after("0043", "42"), "leading zeros do not count");
        assert!(!is_after("42", "000042"));
        // Real ones: 56 digits, past u128.
        let a = "49680845078242241918756408419286455909579861337179160578";
        let b = "49680845078242241918756408419286455909579861337179160579";
        assert!(is_after(b, a) && !is_after(a, b) && !is_after(a, a));
        // Not numbers: never judged repeats.
        assert!(is_after("abc", "42") && is_after("42", "") && is_after("", ""));
    }

    #[test]
    fn a_page_loses_only_the_records_read_already() {
        let page: Vec<Record> = ["5", "7", "9"].into_iter().map(record).collect();
        let seqs = |rs: &[Record]| rs.iter().map(|r| r.sequence_number().to_owned()).collect::<Vec<_>>();
        assert_eq!(seqs(after(&page, None)), ["5", "7", "9"]);
        assert_eq!(seqs(after(&page, Some("4"))), ["5", "7", "9"]);
        assert_eq!(seqs(after(&page, Some("5"))), ["7", "9"], "the record at the position was read");
        assert_eq!(seqs(after(&page, Some("8"))), ["9"]);
        assert!(after(&page, Some("9")).is_empty());
        assert!(after(&[], Some("9")).is_empty());
    }
}
