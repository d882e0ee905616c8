//! A record's partition key: the event's key values, its id, or random.

use std::borrow::Cow;

use rand::Rng;

use md5::{Digest, Md5};

use crate::source::Sourced;

/// The shard a partition key goes to: the MD5 of the key, as a 128-bit big-endian integer,
/// inside the shard's hash key range.
pub fn hash_key(partition_key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into())
}

/// What a record's partition key is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PartitionKey {
    /// The event's key values (the schema's key columns, or the generated dimensions), joined
    /// by `|`; the event id when the key is empty. Keeps one key's events on one shard, in order.
    #[default]
    Key,
    /// The event id: spreads evenly over shards.
    Id,
    /// A random value per record.
    Random,
}

impl std::str::FromStr for PartitionKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "key" => Ok(PartitionKey::Key),
            "id" => Ok(PartitionKey::Id),
            "random" => Ok(PartitionKey::Random),
            _ => Err(format!("unknown partition key {s:?}: use key, id or random")),
        }
    }
}

impl PartitionKey {
    /// The partition key of `sourced` (borrowed where it can be).
    pub fn of<'a>(self, sourced: &'a Sourced, rng: &mut impl Rng) -> Cow<'a, str> {
        let id = || Cow::Borrowed(sourced.event.id.as_deref().unwrap_or_default());
        match self {
            PartitionKey::Key => {
                let value = |name: &String| sourced.event.dims.get(name).map_or("", String::as_str);
                match &*sourced.key {
                    [] => id(),
                    [one] => Cow::Borrowed(value(one)),
                    many => Cow::Owned(many.iter().map(value).collect::<Vec<_>>().join("|")),
                }
            }
            PartitionKey::Id => id(),
            PartitionKey::Random => Cow::Owned(format!("{:032x}", rng.random::<u128>())),
        }
    }
}
