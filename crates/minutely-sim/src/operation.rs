//! The operations the sim serves, by the names faults and stats use: the Kinesis ones as one
//! enum, their names on the wire (`X-Amz-Target: Kinesis_20131202.<name>`) from the
//! variants; S3's as the names its router gives. Depends on nothing, so that the faults can
//! check names without knowing the services.

macro_rules! operations {
    ($($op:ident),* $(,)?) => {
        /// A Kinesis operation the sim serves.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Operation {
            $($op),*
        }

        impl Operation {
            /// Every operation, in the order of [`OPERATIONS`].
            pub const ALL: &[Operation] = &[$(Operation::$op),*];

            /// Its name on the wire.
            pub fn name(self) -> &'static str {
                match self {
                    $(Operation::$op => stringify!($op)),*
                }
            }
        }

        /// The names of the operations served.
        pub const OPERATIONS: &[&str] = &[$(stringify!($op)),*];
    };
}

operations!(
    CreateStream,
    DeleteStream,
    DescribeStream,
    DescribeStreamSummary,
    ListStreams,
    ListShards,
    PutRecord,
    PutRecords,
    GetShardIterator,
    GetRecords,
    SplitShard,
    MergeShards,
    UpdateShardCount,
    RegisterStreamConsumer,
    DeregisterStreamConsumer,
    DescribeStreamConsumer,
    ListStreamConsumers,
    SubscribeToShard,
    IncreaseStreamRetentionPeriod,
    DecreaseStreamRetentionPeriod,
    AddTagsToStream,
    RemoveTagsFromStream,
    ListTagsForStream,
    UpdateStreamMode,
    DescribeLimits,
    UpdateMaxRecordSize,
    StartStreamEncryption,
    StopStreamEncryption,
    UpdateStreamWarmThroughput,
    DescribeAccountSettings,
    UpdateAccountSettings,
);

impl Operation {
    /// The operation named `name`, if the sim serves it.
    pub fn parse(name: &str) -> Option<Operation> {
        Operation::ALL.iter().copied().find(|o| o.name() == name)
    }

    /// Whether it reads or writes records (its throttling error is then
    /// `ProvisionedThroughputExceededException`, else `LimitExceededException`).
    pub fn is_data(self) -> bool {
        matches!(
            self,
            Operation::PutRecord
                | Operation::PutRecords
                | Operation::GetRecords
                | Operation::GetShardIterator
                | Operation::SubscribeToShard
        )
    }
}

/// Every name `s3::S3Request::operation` gives.
pub const S3_OPERATIONS: &[&str] = &[
    "s3:ListBuckets",
    "s3:CreateBucket",
    "s3:HeadBucket",
    "s3:DeleteBucket",
    "s3:DeleteObjects",
    "s3:ListObjectsV2",
    "s3:ListObjects",
    "s3:CreateMultipartUpload",
    "s3:UploadPart",
    "s3:UploadPartCopy",
    "s3:CompleteMultipartUpload",
    "s3:AbortMultipartUpload",
    "s3:ListParts",
    "s3:ListMultipartUploads",
    "s3:CopyObject",
    "s3:PutObject",
    "s3:GetObject",
    "s3:HeadObject",
    "s3:DeleteObject",
    "s3:Other",
];

/// Whether whole-call faults can be set on `op`: an operation the sim names, or a service's
/// wildcard (`kinesis:*`, `s3:*`).
pub fn is_known(op: &str) -> bool {
    matches!(op, "kinesis:*" | "s3:*") || OPERATIONS.contains(&op) || S3_OPERATIONS.contains(&op)
}

/// Whether the operation named `op` reads or writes records (see [`Operation::is_data`]).
pub fn is_data_operation(op: &str) -> bool {
    Operation::parse(op).is_some_and(Operation::is_data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_to_their_operation() {
        assert_eq!(Operation::ALL.len(), OPERATIONS.len());
        for (op, name) in Operation::ALL.iter().zip(OPERATIONS) {
            assert_eq!(op.name(), *name);
            assert_eq!(Operation::parse(name), Some(*op));
        }
        assert_eq!(Operation::parse("PutRecordz"), None);
        assert!(is_data_operation("GetRecords") && !is_data_operation("ListShards"));
    }
}
