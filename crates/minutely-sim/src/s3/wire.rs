//! S3's wire: error answers, replies, XML escaping, dates, URL encoding, listing tokens,
//! aws-chunked bodies, ranges and DeleteObjects bodies. No state.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::Method;
use std::time::{Duration, UNIX_EPOCH};

pub(crate) const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// An S3 error answer: status, code, message.
#[derive(Debug, PartialEq, Eq)]
pub struct S3Error {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

pub(crate) fn err(status: u16, code: &'static str, message: impl Into<String>) -> S3Error {
    S3Error { status, code, message: message.into() }
}

pub(crate) fn no_bucket(bucket: &str) -> S3Error {
    err(404, "NoSuchBucket", format!("The specified bucket does not exist: {bucket}"))
}

pub(crate) fn no_key(key: &str) -> S3Error {
    err(404, "NoSuchKey", format!("The specified key does not exist: {key}"))
}

/// An answer: status, headers, body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl Reply {
    pub(crate) fn ok() -> Reply {
        Reply { status: 200, headers: Vec::new(), body: Bytes::new() }
    }
    pub(crate) fn xml(body: String) -> Reply {
        Reply { status: 200, headers: vec![("content-type", "application/xml".to_owned())], body: Bytes::from(body) }
    }
    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

impl S3Error {
    /// The XML error document (empty for HEAD, which has no body).
    pub fn reply(&self, method: &Method, resource: &str) -> Reply {
        let body = if method == Method::HEAD {
            String::new()
        } else {
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource></Error>",
                self.code,
                escape(&self.message),
                escape(resource)
            )
        };
        Reply {
            status: self.status,
            headers: vec![("content-type", "application/xml".to_owned())],
            body: Bytes::from(body),
        }
    }
}

/// XML text escaping.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn iso8601(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

pub(crate) fn http_date(ms: i64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

/// URL encoding as S3 does for `encoding-type=url`: everything but unreserved characters and
/// `/`, so that both `unquote` and `unquote_plus` (boto3) read it back exactly.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A listing page resumes strictly after a key, or after every key under a common prefix.
pub(crate) fn token_encode(key: &str, is_prefix: bool) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}{key}", if is_prefix { 'p' } else { 'k' }))
}

pub(crate) fn token_decode(t: &str) -> Option<(String, bool)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(t).ok()?).ok()?;
    let (kind, key) = raw.split_at_checked(1)?;
    match kind {
        "k" => Some((key.to_owned(), false)),
        "p" => Some((key.to_owned(), true)),
        _ => None,
    }
}

/// The body of an `aws-chunked` upload (what the SDKs send for PutObject with a checksum
/// trailer, signed or not): chunks `HEX[;chunk-signature=...]\r\nDATA\r\n`, a zero chunk,
/// trailers. A `x-amz-checksum-crc32` trailer is checked.
pub fn decode_aws_chunked(body: &[u8]) -> Result<Bytes, S3Error> {
    let bad = |why: &str| err(400, "IncompleteBody", format!("the aws-chunked body is malformed: {why}"));
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").ok_or_else(|| bad("a chunk header has no CRLF"))?;
        let header = std::str::from_utf8(&rest[..line_end]).map_err(|_| bad("a chunk header is not text"))?;
        let size = usize::from_str_radix(header.split(';').next().unwrap_or_default().trim(), 16)
            .map_err(|_| bad("a chunk size is not hex"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            break;
        }
        // A size past the body (up to ffffffffffffffff) is a short chunk, never an overflow.
        if size.checked_add(2).is_none_or(|n| rest.len() < n) || &rest[size..size + 2] != b"\r\n" {
            return Err(bad("a chunk is shorter than its size"));
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
    for line in rest.split(|b| *b == b'\n') {
        let line = std::str::from_utf8(line).unwrap_or_default().trim();
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("x-amz-checksum-crc32")
        {
            let expected = STANDARD.encode(crc32fast::hash(&out).to_be_bytes());
            if value.trim() != expected {
                return Err(err(
                    400,
                    "BadDigest",
                    format!(
                        "The CRC32 you specified ({}) did not match the calculated checksum ({expected}).",
                        value.trim()
                    ),
                ));
            }
        }
    }
    Ok(Bytes::from(out))
}

/// Splits a path-style path into bucket and key (percent-decoded).
pub fn split_path(path: &str) -> Result<(String, String), S3Error> {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| err(400, "InvalidURI", format!("the path {path} is not valid UTF-8 once decoded")))?;
    let trimmed = decoded.strip_prefix('/').unwrap_or(&decoded);
    Ok(trimmed.split_once('/').map_or((trimmed.to_owned(), String::new()), |(b, k)| (b.to_owned(), k.to_owned())))
}

pub(crate) fn check_bucket_name(name: &str) -> Result<(), S3Error> {
    let ok = (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(err(
            400,
            "InvalidBucketName",
            format!("The specified bucket is not valid: {name:?} (3 to 63 of a-z, 0-9, '.', '-')"),
        ))
    }
}

/// `bytes=START-END`, `bytes=START-`, `bytes=-SUFFIX`: the inclusive range within `total`.
/// `None`: not one byte range (garbage, another unit, several ranges, an end before the
/// start), which S3 ignores as HTTP says, answering the whole object. A range that starts past
/// the end is unsatisfiable: 416.
pub(crate) fn parse_range(range: &str, total: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let unsatisfiable =
        || err(416, "InvalidRange", format!("The requested range {range} is not satisfiable (object size {total})"));
    let Some((a, b)) = range.trim().strip_prefix("bytes=").and_then(|spec| spec.split_once('-')) else {
        return Ok(None);
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
    };
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => match number(suffix) {
            None => return Ok(None),
            Some(0) => return Err(unsatisfiable()),
            Some(n) => (total.saturating_sub(n), total.checked_sub(1).ok_or_else(unsatisfiable)?),
        },
        (s, "") => match number(s) {
            None => return Ok(None),
            Some(s) => (s, total.checked_sub(1).ok_or_else(unsatisfiable)?),
        },
        (s, e) => match (number(s), number(e)) {
            (Some(s), Some(e)) if s <= e => (s, e.min(total.saturating_sub(1))),
            _ => return Ok(None),
        },
    };
    if start >= total {
        return Err(unsatisfiable());
    }
    Ok(Some((start, end)))
}

/// S3's longest key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// A key S3 takes: at most 1,024 bytes.
pub(crate) fn check_key(key: &str) -> Result<(), S3Error> {
    if key.len() > MAX_KEY_BYTES {
        return Err(err(
            400,
            "KeyTooLongError",
            format!("Your key is too long: {} bytes, where S3 takes at most {MAX_KEY_BYTES}", key.len()),
        ));
    }
    Ok(())
}

/// The keys and `Quiet` flag of a DeleteObjects body.
pub(crate) fn parse_delete(body: &[u8]) -> Result<(Vec<String>, bool), S3Error> {
    let mut keys = Vec::new();
    let mut quiet = false;
    walk_xml(body, "Delete", "<Object><Key>s", |path, text| match (path, text) {
        (["Delete", "Object", "Key"], Some(value)) => keys.push(value),
        (["Delete", "Quiet"], Some(value)) => quiet = value.trim() == "true",
        _ => {}
    })?;
    Ok((keys, quiet))
}

/// A body that is not the XML S3 asks for.
pub(crate) fn malformed(why: impl std::fmt::Display) -> S3Error {
    err(
        400,
        "MalformedXML",
        format!("The XML you provided was not well-formed or did not validate against our published schema: {why}"),
    )
}

/// Walks an XML body whose root must be `root` (holding `holds`, for the error): `seen` gets
/// each element's path when it opens (`None`) and each text with its path (unescaped).
pub(crate) fn walk_xml(
    body: &[u8],
    root: &str,
    holds: &str,
    mut seen: impl FnMut(&[&str], Option<String>),
) -> Result<(), S3Error> {
    let text = std::str::from_utf8(body).map_err(|_| malformed("not UTF-8"))?;
    let mut path: Vec<&str> = Vec::new();
    let mut first = None;
    for token in xmlparser::Tokenizer::from(text) {
        match token.map_err(malformed)? {
            xmlparser::Token::ElementStart { local, .. } => {
                first.get_or_insert(local.as_str());
                path.push(local.as_str());
                seen(&path, None);
            }
            xmlparser::Token::ElementEnd { end, .. } => match end {
                xmlparser::ElementEnd::Open => {}
                _ => {
                    path.pop();
                }
            },
            xmlparser::Token::Text { text } => seen(&path, Some(unescape(text.as_str()))),
            _ => {}
        }
    }
    if !path.is_empty() {
        return Err(malformed(format!("<{}> is not closed", path.join("><"))));
    }
    if first != Some(root) {
        return Err(malformed(format!(
            "the body must be one <{root}> element holding {holds}; it has {}",
            first.map_or("none".to_owned(), |r| format!("<{r}>"))
        )));
    }
    Ok(())
}

pub(crate) fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16).ok().and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => out.push(c),
            None => out.push_str(&rest[..=end]),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_keeps_slashes_and_encodes_the_rest() {
        assert_eq!(url_encode("minutes/dt=2016-08-21/a b+c"), "minutes/dt%3D2016-08-21/a%20b%2Bc");
        assert_eq!(url_encode("é"), "%C3%A9");
    }

    #[test]
    fn tokens_round_trip() {
        assert_eq!(token_decode(&token_encode("a/b=c", true)), Some(("a/b=c".to_owned(), true)));
        assert_eq!(token_decode(&token_encode("k", false)), Some(("k".to_owned(), false)));
        assert_eq!(token_decode("???"), None);
    }

    #[test]
    fn aws_chunked_bodies_decode_and_check_their_crc() {
        let crc = STANDARD.encode(crc32fast::hash(b"hello world").to_be_bytes());
        let body = format!("5;chunk-signature=abc\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n");
        assert_eq!(decode_aws_chunked(body.as_bytes()).unwrap().as_ref(), b"hello world");
        let wrong = "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
        assert_eq!(decode_aws_chunked(wrong.as_bytes()).unwrap_err().code, "BadDigest");
        assert_eq!(decode_aws_chunked(b"zz\r\nhello").unwrap_err().code, "IncompleteBody");
        assert_eq!(decode_aws_chunked(b"50\r\nhello\r\n").unwrap_err().code, "IncompleteBody");
        // Sizes that overflow the arithmetic (they panicked the decoder) are short chunks.
        for size in ["ffffffffffffffff", "fffffffffffffffe", "7fffffffffffffff"] {
            let e =
                decode_aws_chunked(format!("{size};chunk-signature=x\r\nhello\r\n0\r\n\r\n").as_bytes()).unwrap_err();
            assert_eq!(e.code, "IncompleteBody", "{size}");
        }
        assert_eq!(decode_aws_chunked(b"10000000000000000\r\nx").unwrap_err().code, "IncompleteBody");
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=2-4", 10).unwrap(), Some((2, 4)));
        assert_eq!(parse_range("bytes=7-", 10).unwrap(), Some((7, 9)));
        assert_eq!(parse_range("bytes=-3", 10).unwrap(), Some((7, 9)));
        assert_eq!(parse_range("bytes=-30", 10).unwrap(), Some((0, 9)));
        assert_eq!(parse_range("bytes=5-100", 10).unwrap(), Some((5, 9)));
        // Satisfiable or not is asked only of one well-formed byte range.
        assert_eq!(parse_range("bytes=10-", 10).unwrap_err().status, 416);
        assert_eq!(parse_range("bytes=0-", 0).unwrap_err().status, 416);
        assert_eq!(parse_range("bytes=-0", 10).unwrap_err().status, 416);
        // Anything else is ignored, as S3 does: the whole object (they answered 416).
        for ignored in
            ["lines=1-2", "bytes=abc", "garbage", "bytes=0-1,3-4", "bytes=5-2", "bytes=--1", "bytes=+1-2", ""]
        {
            assert_eq!(parse_range(ignored, 10).unwrap(), None, "{ignored:?}");
        }
    }

    proptest::proptest! {
        /// The request parsers answer every input with a value or an S3 error, never a panic.
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), text in ".{0,40}", total in 0u64..100) {
            let _ = decode_aws_chunked(&bytes);
            let _ = parse_delete(&bytes);
            let _ = parse_range(&text, total);
            let _ = split_path(&text);
            let _ = unescape(&text);
            let mut chunked = format!("{:x};chunk-signature=x\r\n", text.len()).into_bytes();
            chunked.extend_from_slice(text.as_bytes());
            chunked.extend_from_slice(b"\r\n0\r\n\r\n");
            let decoded = decode_aws_chunked(&chunked).unwrap();
            proptest::prop_assert_eq!(decoded.as_ref(), text.as_bytes());
        }
    }

    #[test]
    fn delete_bodies_parse_with_entities() {
        let body = b"<?xml version=\"1.0\"?><Delete xmlns=\"x\"><Object><Key>a&amp;b</Key></Object><Object><Key>c&#x20;d</Key></Object><Quiet>true</Quiet></Delete>";
        assert_eq!(parse_delete(body).unwrap(), (vec!["a&b".to_owned(), "c d".to_owned()], true));
        assert_eq!(parse_delete(b"<Delete><Object>").unwrap_err().code, "MalformedXML");
        // An empty body, or one of another element, deletes nothing and says so (it got 200).
        assert_eq!(parse_delete(b"").unwrap_err().code, "MalformedXML");
        assert_eq!(parse_delete(b"<Keep><Object><Key>a</Key></Object></Keep>").unwrap_err().code, "MalformedXML");
        assert_eq!(parse_delete(b"<Delete/>").unwrap(), (vec![], false));
    }
}
