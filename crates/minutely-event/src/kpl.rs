//! KPL aggregated records: many user records in one Kinesis record, as the Kinesis Producer
//! Library, aws-kinesis-agg, Fluent Bit and the Kinesis Agent write them.
//!
//! ```text
//! F3 89 9A C2  <protobuf AggregatedRecord>  <MD5 of the protobuf bytes, 16 bytes>
//! ```
//!
//! A record without the magic is a plain record. A record with the magic whose MD5 does not
//! match is refused whole ([`KplError::Digest`]), never decoded: its bytes are not what the
//! producer wrote. The protobuf is decoded by `prost` (a hand-written varint parser is where
//! such decoders go wrong), zero-copy: each user record's data is a slice of the Kinesis
//! record's bytes.
//!
//! [`Packer`] writes aggregates: user records bound for one shard, packed up to a size, the
//! size known before each record is added (so that an aggregate never goes over it).

use bytes::Bytes;
use md5::{Digest, Md5};
use prost::Message;

/// The first four bytes of every aggregated record.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const DIGEST_LEN: usize = 16;

/// The protobuf message of an aggregated record.
#[derive(Clone, PartialEq, Message)]
pub struct AggregatedRecord {
    #[prost(string, repeated, tag = "1")]
    pub partition_key_table: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub explicit_hash_key_table: Vec<String>,
    #[prost(message, repeated, tag = "3")]
    pub records: Vec<UserRecord>,
}

/// One user record: its data, and its keys as indices into the aggregate's tables.
#[derive(Clone, PartialEq, Message)]
pub struct UserRecord {
    #[prost(uint64, required, tag = "1")]
    pub partition_key_index: u64,
    #[prost(uint64, optional, tag = "2")]
    pub explicit_hash_key_index: Option<u64>,
    #[prost(bytes = "bytes", required, tag = "3")]
    pub data: Bytes,
    #[prost(message, repeated, tag = "4")]
    pub tags: Vec<Tag>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Tag {
    #[prost(string, required, tag = "1")]
    pub key: String,
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// Why a record that starts with the magic is not a usable aggregate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KplError {
    #[error("a KPL aggregate of {len} bytes: too short for the magic and the MD5")]
    Short { len: usize },
    #[error("a KPL aggregate whose MD5 does not match its contents: not decoded")]
    Digest,
    #[error("a KPL aggregate whose protobuf does not decode: {0}")]
    Protobuf(String),
    #[error("user record {record} of a KPL aggregate names partition key {index}; the table has {len}")]
    PartitionKey { record: usize, index: u64, len: usize },
    #[error("user record {record} of a KPL aggregate names explicit hash key {index}; the table has {len}")]
    ExplicitHashKey { record: usize, index: u64, len: usize },
}

impl AggregatedRecord {
    /// User record `i`'s partition key.
    pub fn partition_key(&self, i: usize) -> Option<&str> {
        let index = usize::try_from(self.records.get(i)?.partition_key_index).ok()?;
        self.partition_key_table.get(index).map(String::as_str)
    }

    /// User record `i`'s explicit hash key, if it has one.
    pub fn explicit_hash_key(&self, i: usize) -> Option<&str> {
        let index = usize::try_from(self.records.get(i)?.explicit_hash_key_index?).ok()?;
        self.explicit_hash_key_table.get(index).map(String::as_str)
    }

    /// Every key index in range of its table: a user record's keys can be looked up.
    fn check_indices(&self) -> Result<(), KplError> {
        let (pks, ehks) = (self.partition_key_table.len(), self.explicit_hash_key_table.len());
        for (record, r) in self.records.iter().enumerate() {
            if usize::try_from(r.partition_key_index).map_or(true, |i| i >= pks) {
                return Err(KplError::PartitionKey { record, index: r.partition_key_index, len: pks });
            }
            if let Some(index) = r.explicit_hash_key_index
                && usize::try_from(index).map_or(true, |i| i >= ehks)
            {
                return Err(KplError::ExplicitHashKey { record, index, len: ehks });
            }
        }
        Ok(())
    }
}

/// Whether `data` starts with the aggregate magic.
pub fn is_aggregated(data: &[u8]) -> bool {
    data.starts_with(&MAGIC)
}

/// The aggregate in `data`, `Ok(None)` for a plain record (no magic), or why a record with the
/// magic cannot be used. The user records' data are slices of `data` (no copy).
pub fn decode(data: &Bytes) -> Result<Option<AggregatedRecord>, KplError> {
    if !is_aggregated(data) {
        return Ok(None);
    }
    let len = data.len();
    if len < MAGIC.len() + DIGEST_LEN {
        return Err(KplError::Short { len });
    }
    let body = data.slice(MAGIC.len()..len - DIGEST_LEN);
    if Md5::digest(&body).as_slice() != &data[len - DIGEST_LEN..] {
        return Err(KplError::Digest);
    }
    let aggregate = AggregatedRecord::decode(body).map_err(|e| KplError::Protobuf(e.to_string()))?;
    aggregate.check_indices()?;
    Ok(Some(aggregate))
}

/// The bytes of a protobuf field with a `len`-byte length-delimited value (tag, length, value).
fn field_len(len: usize) -> usize {
    1 + prost::encoding::encoded_len_varint(len as u64) + len
}

/// Builds one aggregated record, user record by user record, knowing its size at every step.
#[derive(Debug, Default, Clone)]
pub struct Packer {
    message: AggregatedRecord,
    /// The encoded length of `message` so far.
    body: usize,
}

impl Packer {
    pub fn new() -> Packer {
        Packer::default()
    }

    /// The user records packed so far.
    pub fn len(&self) -> usize {
        self.message.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.message.records.is_empty()
    }

    /// The size of the aggregated record (magic and MD5 included) as it is now.
    pub fn size(&self) -> usize {
        MAGIC.len() + self.body + DIGEST_LEN
    }

    /// The size the aggregated record would have with one more user record.
    pub fn size_with(&self, partition_key: &str, explicit_hash_key: Option<&str>, data_len: usize) -> usize {
        self.size() + self.growth(partition_key, explicit_hash_key, data_len).0
    }

    /// How much the body grows with this user record, and its keys' indices (new ones at the
    /// end of their tables).
    fn growth(&self, pk: &str, ehk: Option<&str>, data_len: usize) -> (usize, u64, Option<u64>) {
        let m = &self.message;
        let mut grow = 0;
        let pk_index = match m.partition_key_table.iter().position(|k| k == pk) {
            Some(i) => i,
            None => {
                grow += field_len(pk.len());
                m.partition_key_table.len()
            }
        };
        let ehk_index = ehk.map(|ehk| match m.explicit_hash_key_table.iter().position(|k| k == ehk) {
            Some(i) => i,
            None => {
                grow += field_len(ehk.len());
                m.explicit_hash_key_table.len()
            }
        });
        let varint = |v: usize| 1 + prost::encoding::encoded_len_varint(v as u64);
        let record = varint(pk_index) + ehk_index.map_or(0, varint) + field_len(data_len);
        grow += field_len(record);
        (grow, pk_index as u64, ehk_index.map(|i| i as u64))
    }

    /// Adds a user record.
    pub fn push(&mut self, partition_key: &str, explicit_hash_key: Option<&str>, data: Bytes) {
        let (grow, pk_index, ehk_index) = self.growth(partition_key, explicit_hash_key, data.len());
        if pk_index as usize == self.message.partition_key_table.len() {
            self.message.partition_key_table.push(partition_key.to_owned());
        }
        if let (Some(i), Some(ehk)) = (ehk_index, explicit_hash_key)
            && i as usize == self.message.explicit_hash_key_table.len()
        {
            self.message.explicit_hash_key_table.push(ehk.to_owned());
        }
        self.message.records.push(UserRecord {
            partition_key_index: pk_index,
            explicit_hash_key_index: ehk_index,
            data,
            tags: Vec::new(),
        });
        self.body += grow;
    }

    /// The aggregated record's bytes (magic, protobuf, MD5), and a fresh packer.
    pub fn finish(&mut self) -> Vec<u8> {
        let message = std::mem::take(&mut self.message);
        self.body = 0;
        let mut out = Vec::with_capacity(MAGIC.len() + message.encoded_len() + DIGEST_LEN);
        out.extend_from_slice(&MAGIC);
        message.encode(&mut out).expect("a Vec grows as needed");
        let digest = Md5::digest(&out[MAGIC.len()..]);
        out.extend_from_slice(&digest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The framing around a message built here (tests only: the vectors in
    /// `tests/kpl_vectors.rs` come from another library).
    fn framed(message: &AggregatedRecord) -> Bytes {
        let body = message.encode_to_vec();
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&body);
        out.extend_from_slice(&Md5::digest(&body));
        out.into()
    }

    fn user(pk: u64, ehk: Option<u64>, data: &'static [u8]) -> UserRecord {
        UserRecord {
            partition_key_index: pk,
            explicit_hash_key_index: ehk,
            data: Bytes::from_static(data),
            tags: Vec::new(),
        }
    }

    #[test]
    fn a_packer_knows_its_size_before_each_record_and_decodes_back() {
        let mut p = Packer::new();
        assert_eq!(p.size(), 20);
        let long = vec![b'x'; 300];
        let records: [(&str, Option<&str>, &[u8]); 5] = [
            ("usa", None, b"a"),
            ("usa", Some("1701411834604692317316873037158841057"), &long),
            ("deu", None, b""),
            ("usa", Some("1701411834604692317316873037158841057"), b"bb"),
            (&"k".repeat(200), Some("9"), b"c"),
        ];
        for (pk, ehk, data) in records {
            let want = p.size_with(pk, ehk, data.len());
            p.push(pk, ehk, Bytes::copy_from_slice(data));
            assert_eq!(p.size(), want);
        }
        assert_eq!(p.len(), 5);
        let bytes = p.finish();
        assert!(p.is_empty() && p.size() == 20, "finish starts a fresh aggregate");
        let size = bytes.len();
        let got = decode(&bytes.into()).unwrap().unwrap();
        assert_eq!(size, 20 + got.encoded_len(), "the predicted size was the real one");
        for (i, (pk, ehk, data)) in records.iter().enumerate() {
            assert_eq!((got.partition_key(i), got.explicit_hash_key(i)), (Some(*pk), *ehk));
            assert_eq!(&got.records[i].data[..], *data);
        }
        assert_eq!(got.partition_key_table.len(), 3, "each key once in its table");
        assert_eq!(got.explicit_hash_key_table.len(), 2);
    }

    #[test]
    fn a_plain_record_is_not_an_aggregate() {
        assert_eq!(decode(&Bytes::from_static(br#"{"id":"a"}"#)), Ok(None));
        assert_eq!(decode(&Bytes::new()), Ok(None));
    }

    #[test]
    fn keys_are_looked_up_in_the_tables() {
        let message = AggregatedRecord {
            partition_key_table: vec!["a".into(), "b".into()],
            explicit_hash_key_table: vec!["42".into()],
            records: vec![user(1, None, b"x"), user(0, Some(0), b"y")],
        };
        let got = decode(&framed(&message)).unwrap().unwrap();
        assert_eq!(got, message);
        assert_eq!((got.partition_key(0), got.explicit_hash_key(0)), (Some("b"), None));
        assert_eq!((got.partition_key(1), got.explicit_hash_key(1)), (Some("a"), Some("42")));
    }

    #[test]
    fn what_cannot_be_used_is_refused_with_why() {
        let message = AggregatedRecord {
            partition_key_table: vec!["a".into()],
            explicit_hash_key_table: vec![],
            records: vec![user(0, None, b"x"), user(3, None, b"y")],
        };
        assert_eq!(decode(&framed(&message)), Err(KplError::PartitionKey { record: 1, index: 3, len: 1 }));
        let message = AggregatedRecord { records: vec![user(0, Some(0), b"x")], ..message };
        assert_eq!(decode(&framed(&message)), Err(KplError::ExplicitHashKey { record: 0, index: 0, len: 0 }));
        assert_eq!(decode(&Bytes::from_static(&[0xF3, 0x89, 0x9A, 0xC2, 1])), Err(KplError::Short { len: 5 }));
        // The magic, a body that is not protobuf (a field with wire type 7), its true MD5.
        let body = [0x0F, 0x01];
        let mut bad = MAGIC.to_vec();
        bad.extend_from_slice(&body);
        bad.extend_from_slice(&Md5::digest(body));
        assert!(matches!(decode(&bad.into()), Err(KplError::Protobuf(_))));
    }
}
