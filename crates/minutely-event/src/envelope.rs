//! What a Kinesis record's data is wrapped in, detected per record: a KPL aggregate (many user
//! records, [`crate::kpl`]), gzip (one or more members), or nothing. Inside, each payload may
//! hold several events, one per line ([`crate::decode`]).
//!
//! ```text
//! record ─┬─ F3 89 9A C2 … MD5 ─► user record 0, 1, … ─┬─ 1F 8B … ─► gunzip ─► payload
//!         ├─ 1F 8B …  ─► gunzip ─► payload               └─ payload
//!         └─ payload
//! ```
//!
//! An envelope that cannot be opened (an aggregate whose MD5 does not match, a gzip stream
//! that is cut or corrupt or inflates past [`MAX_INFLATED`]) is one [`Piece`] with the error and
//! the envelope's own bytes, so that a reject keeps them whole; nothing inside it is counted.

use std::borrow::Cow;
use std::io::Read;

use bytes::Bytes;

use crate::kpl::{self, KplError};

/// The two bytes every gzip member starts with.
pub const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];
/// The most bytes one gzip-compressed record may inflate to (a defence against gzip bombs: a
/// Kinesis record is at most 10 MiB, and text compresses about tenfold).
pub const MAX_INFLATED: u64 = 128 << 20;

/// One payload of a record, or an envelope that could not be opened.
#[derive(Debug)]
pub struct Piece<'a> {
    /// The user record's index, when the record is a KPL aggregate.
    pub user_record: Option<u32>,
    /// The payload (inflated when it was gzip), or why the envelope could not be opened.
    pub payload: Result<Cow<'a, [u8]>, EnvelopeError>,
    /// The bytes this piece came from: the payload as received (gzip still compressed), or the
    /// whole envelope that failed.
    pub raw: &'a [u8],
}

/// Why an envelope could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error(transparent)]
    Kpl(#[from] KplError),
    #[error("gzip: {0}")]
    Gzip(String),
    #[error("gzip: inflates to more than {} MiB", MAX_INFLATED >> 20)]
    TooLarge,
}

/// Opens `data`'s envelopes and calls `f` with each payload in order.
pub fn unpack<'a>(data: &'a [u8], f: &mut dyn FnMut(Piece<'_>)) {
    if !kpl::is_aggregated(data) {
        return unzip(data, None, f);
    }
    // One copy of the aggregate; the user records are slices of it.
    match kpl::decode(&Bytes::copy_from_slice(data)) {
        Err(e) => f(Piece { user_record: None, payload: Err(e.into()), raw: data }),
        Ok(None) => unreachable!("the record starts with the KPL magic"),
        Ok(Some(aggregate)) => {
            for (i, r) in aggregate.records.iter().enumerate() {
                unzip(&r.data, Some(i as u32), f);
            }
        }
    }
}

fn unzip(data: &[u8], user_record: Option<u32>, f: &mut dyn FnMut(Piece<'_>)) {
    let payload = if data.starts_with(&GZIP_MAGIC) { gunzip(data).map(Cow::Owned) } else { Ok(Cow::Borrowed(data)) };
    f(Piece { user_record, payload, raw: data });
}

/// Every member of a gzip stream, inflated.
pub fn gunzip(data: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let mut out = Vec::with_capacity(data.len() * 4);
    let mut inflater = flate2::read::MultiGzDecoder::new(data).take(MAX_INFLATED + 1);
    inflater.read_to_end(&mut out).map_err(|e| EnvelopeError::Gzip(e.to_string()))?;
    if out.len() as u64 > MAX_INFLATED {
        return Err(EnvelopeError::TooLarge);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    }

    type Seen = (Option<u32>, Result<Vec<u8>, String>);

    fn pieces(data: &[u8]) -> Vec<Seen> {
        let mut out = Vec::new();
        unpack(data, &mut |p| out.push((p.user_record, p.payload.map(Cow::into_owned).map_err(|e| e.to_string()))));
        out
    }

    #[test]
    fn plain_and_gzip_records() {
        assert_eq!(pieces(b"a\nb"), [(None, Ok(b"a\nb".to_vec()))]);
        assert_eq!(pieces(&gzip(b"a\nb")), [(None, Ok(b"a\nb".to_vec()))]);
        // Two members, as `cat a.gz b.gz` makes.
        let two = [gzip(b"a\n"), gzip(b"b\n")].concat();
        assert_eq!(pieces(&two), [(None, Ok(b"a\nb\n".to_vec()))]);
    }

    #[test]
    fn broken_gzip_is_one_piece_with_its_bytes() {
        let z = gzip(b"some text that is long enough to be cut");
        let cut = &z[..z.len() - 6];
        let mut seen = Vec::new();
        unpack(cut, &mut |p| seen.push((p.payload.is_err(), p.raw.len())));
        assert_eq!(seen, [(true, cut.len())]);
        assert!(pieces(cut)[0].1.as_ref().unwrap_err().starts_with("gzip: "));
    }

    #[test]
    fn a_gzip_bomb_is_refused() {
        let z = gzip(&vec![b'a'; (MAX_INFLATED + 1) as usize]);
        assert!(z.len() < 1 << 20, "{} bytes compressed", z.len());
        assert_eq!(pieces(&z), [(None, Err(format!("gzip: inflates to more than {} MiB", MAX_INFLATED >> 20)))]);
    }
}
