//! When each record was handed to the Kinesis sink and when Kinesis acknowledged it: the
//! producer's half of the scenario engine's latency measurement.

use minutely_aws::clock::Instant;

/// When each record was handed to the sink and when a PutRecords result acknowledged it, by the
/// sink's record number (input order). Kept only when asked for ([`KinesisSink::with_timeline`](crate::kinesis::KinesisSink::with_timeline)).
#[derive(Debug, Default)]
pub struct Timeline {
    /// The event id's hash ([`minutely_event::id_hash`]; [`Timeline::NO_ID`] for raw bytes) and
    /// when it was handed to the sink: 32 bytes a record, with `acked` 48.
    pub sent: Vec<(u128, Instant)>,
    /// When Kinesis gave it a sequence number; `None`: refused or failed.
    pub acked: Vec<Option<Instant>>,
}

impl Timeline {
    /// The id of records that are not events ([`KinesisSink::send_raw`](crate::kinesis::KinesisSink::send_raw)).
    pub const NO_ID: u128 = 0;
}
