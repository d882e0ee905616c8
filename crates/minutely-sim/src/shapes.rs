//! AWS's shapes of time and state that a client must live with, on by default so that code
//! that passes on the sim does not fail on AWS: a stream is CREATING for a while after
//! CreateStream (data calls answer `ResourceNotFoundException`), UPDATING after a reshard (a
//! second reshard is `ResourceInUseException`), DELETING after DeleteStream; and GetRecords
//! sometimes answers an empty page while records remain (a reader that stops at the first
//! empty page loses what follows). `minutely sim --transition-ms 0 --empty-pages 0` turns
//! them off.

/// How long the states last and how often pages are empty.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shapes {
    /// How long a new stream stays CREATING, a resharded one UPDATING and a deleted one
    /// DELETING, in milliseconds (kinesalite's default, 500; AWS takes seconds).
    pub transition_ms: i64,
    /// The fraction of GetRecords calls with records to give that answer an empty page
    /// instead, drawn by the fault seed's dice (the `empty_pages` fault raises it).
    pub empty_pages: f64,
}

impl Shapes {
    /// The default: AWS's shapes, short.
    pub const AWS: Shapes = Shapes { transition_ms: 500, empty_pages: 0.02 };
    /// None: streams are ACTIVE at once and every page with records to give gives them.
    pub const NONE: Shapes = Shapes { transition_ms: 0, empty_pages: 0.0 };

    /// Says what is wrong with the figures.
    pub fn validate(&self) -> Result<(), String> {
        if !(0..=3_600_000).contains(&self.transition_ms) {
            return Err(format!("transition_ms {} is not between 0 and 3600000", self.transition_ms));
        }
        if !(0.0..=1.0).contains(&self.empty_pages) {
            return Err(format!("empty_pages {} is not a fraction between 0 and 1", self.empty_pages));
        }
        Ok(())
    }
}

impl Default for Shapes {
    fn default() -> Shapes {
        Shapes::AWS
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::kinesis::state::Kinesis;

    fn input<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    fn status(k: &mut Kinesis, now: i64) -> String {
        let d = k.describe_stream_summary(input(json!({"StreamName": "s"})), now).unwrap();
        d.stream_description_summary.stream_status.to_owned()
    }

    fn iterator(k: &mut Kinesis, now: i64) -> Result<(), &'static str> {
        let i = json!({"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"});
        k.get_shard_iterator(input(i), now).map(|_| ()).map_err(|e| e.code)
    }

    fn split(k: &mut Kinesis, shard: &str, now: i64) -> Result<(), &'static str> {
        let key = if shard.ends_with('0') { "1000" } else { "2000" };
        let i = json!({"StreamName": "s", "ShardToSplit": shard, "NewStartingHashKey": key});
        k.split_shard(input(i), now).map(|_| ()).map_err(|e| e.code)
    }

    /// CREATING, then ACTIVE; UPDATING after a reshard (readable, not reshardable); DELETING,
    /// then gone, and the name free again.
    #[test]
    fn a_stream_goes_through_aws_states() {
        let mut k = Kinesis::new(true, Shapes { transition_ms: 500, empty_pages: 0.0 });
        k.create_stream(input(json!({"StreamName": "s", "ShardCount": 1})), 0).unwrap();
        assert_eq!(status(&mut k, 499), "CREATING");
        assert_eq!(iterator(&mut k, 499), Err("ResourceNotFoundException"), "no reads while CREATING");
        assert_eq!(split(&mut k, "shardId-000000000000", 499), Err("ResourceInUseException"));
        let e = k.list_shards(input(json!({"StreamName": "s"})), 499).unwrap_err();
        assert_eq!(e.code, "ResourceInUseException");
        assert_eq!(status(&mut k, 500), "ACTIVE");
        assert_eq!(iterator(&mut k, 500), Ok(()));

        split(&mut k, "shardId-000000000000", 1_000).unwrap();
        assert_eq!(status(&mut k, 1_499), "UPDATING");
        assert_eq!(iterator(&mut k, 1_499), Ok(()), "an UPDATING stream is read and written");
        assert_eq!(k.list_shards(input(json!({"StreamName": "s"})), 1_499).unwrap().shards.len(), 3);
        let e = split(&mut k, "shardId-000000000002", 1_499);
        assert_eq!(e, Err("ResourceInUseException"), "one reshard at a time");
        assert_eq!(status(&mut k, 1_500), "ACTIVE");
        split(&mut k, "shardId-000000000002", 1_500).unwrap();

        let e = k.delete_stream(input(json!({"StreamName": "s"})), 1_600).unwrap_err();
        assert_eq!(e.code, "ResourceInUseException", "an UPDATING stream is not deleted");
        k.delete_stream(input(json!({"StreamName": "s"})), 2_000).unwrap();
        assert_eq!(status(&mut k, 2_499), "DELETING");
        assert_eq!(iterator(&mut k, 2_499), Err("ResourceNotFoundException"));
        let again = json!({"StreamName": "s", "ShardCount": 1});
        assert_eq!(k.create_stream(input(again.clone()), 2_499).unwrap_err().code, "ResourceInUseException");
        let listed = k.list_streams(input(json!({})), 2_499).unwrap().stream_names;
        assert_eq!(listed, ["s"], "a DELETING stream is still listed");
        assert!(k.list_streams(input(json!({})), 2_500).unwrap().stream_names.is_empty());
        let e = k.describe_stream_summary(input(json!({"StreamName": "s"})), 2_500).unwrap_err();
        assert_eq!(e.code, "ResourceNotFoundException");
        k.create_stream(input(again), 2_500).unwrap();
        assert_eq!(status(&mut k, 2_500), "CREATING", "a new stream of the same name");
    }

    /// A deleted stream's shards leave the quota at once, and its records leave memory at the
    /// next CreateStream, whatever its name.
    #[test]
    fn deleted_streams_free_the_quota_and_their_records() {
        let mut k = Kinesis::new(true, Shapes { transition_ms: 500, empty_pages: 0.0 });
        let quota = crate::kinesis::state::SHARD_QUOTA;
        k.create_stream(input(json!({"StreamName": "a", "ShardCount": quota})), 0).unwrap();
        k.delete_stream(input(json!({"StreamName": "a"})), 1_000).unwrap();
        k.create_stream(input(json!({"StreamName": "b", "ShardCount": quota})), 1_100).unwrap();
        assert_eq!(k.stream_names(), ["a", "b"], "a is still DELETING");
        k.delete_stream(input(json!({"StreamName": "b"})), 2_000).unwrap();
        k.create_stream(input(json!({"StreamName": "c", "ShardCount": 1})), 2_600).unwrap();
        assert_eq!(k.stream_names(), ["c"]);
    }

    #[test]
    fn none_changes_at_once() {
        let mut k = Kinesis::new(true, Shapes::NONE);
        k.create_stream(input(json!({"StreamName": "s", "ShardCount": 1})), 0).unwrap();
        assert_eq!(status(&mut k, 0), "ACTIVE");
        split(&mut k, "shardId-000000000000", 0).unwrap();
        assert_eq!(status(&mut k, 0), "ACTIVE");
        k.delete_stream(input(json!({"StreamName": "s"})), 0).unwrap();
        assert!(k.list_streams(input(json!({})), 0).unwrap().stream_names.is_empty());
    }

    #[test]
    fn figures_out_of_range_are_refused() {
        assert!(Shapes { transition_ms: -1, empty_pages: 0.0 }.validate().is_err());
        assert!(Shapes { transition_ms: 0, empty_pages: 1.5 }.validate().is_err());
        assert!(Shapes::AWS.validate().is_ok() && Shapes::NONE.validate().is_ok());
    }
}
