//! S3, path style, over plain HTTP: buckets and objects in memory.
//!
//! Written by hand rather than on `s3s`: s3s 0.12 and 0.13 pin release candidates of md-5,
//! sha2 and hmac (`=0.11.0-rc.x`), which forces cargo to take the AWS SDK back 27 minor
//! versions. What this file needs of the protocol is small: path routing, the aws-chunked
//! bodies the SDKs send (with their CRC32 trailer checked), conditional writes, ranges and four
//! XML answers. Conditional writes (`If-None-Match: *`, `If-Match`) are checked and applied
//! under one lock, so two writers racing on a key get one 200 and one 412.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{HeaderMap, Method};
use md5::{Digest, Md5};

use crate::clock::Clock;

const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

#[derive(Clone, Debug)]
pub struct StoredObject {
    pub data: Bytes,
    /// Hex MD5, without quotes.
    pub etag: String,
    pub modified_ms: i64,
    pub content_type: Option<String>,
}

#[derive(Debug, Default)]
pub struct BucketState {
    pub created_ms: i64,
    pub objects: BTreeMap<String, StoredObject>,
}

/// Every bucket.
#[derive(Debug)]
pub struct Store {
    buckets: Mutex<BTreeMap<String, BucketState>>,
    clock: Clock,
}

/// An S3 error answer: status, code, message.
#[derive(Debug, PartialEq, Eq)]
pub struct S3Error {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

fn err(status: u16, code: &'static str, message: impl Into<String>) -> S3Error {
    S3Error { status, code, message: message.into() }
}

fn no_bucket(bucket: &str) -> S3Error {
    err(404, "NoSuchBucket", format!("The specified bucket does not exist: {bucket}"))
}

fn no_key(key: &str) -> S3Error {
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
    fn ok() -> Reply {
        Reply { status: 200, headers: Vec::new(), body: Bytes::new() }
    }
    fn xml(body: String) -> Reply {
        Reply { status: 200, headers: vec![("content-type", "application/xml".to_owned())], body: Bytes::from(body) }
    }
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
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

fn iso8601(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

fn http_date(ms: i64) -> String {
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
fn token_encode(key: &str, is_prefix: bool) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}{key}", if is_prefix { 'p' } else { 'k' }))
}

fn token_decode(t: &str) -> Option<(String, bool)> {
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
        if rest.len() < size + 2 || &rest[size..size + 2] != b"\r\n" {
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

/// A parsed request: method, bucket, key, query pairs, headers, body.
#[derive(Debug)]
pub struct S3Request<'a> {
    pub method: &'a Method,
    pub bucket: String,
    pub key: String,
    pub query: Vec<(String, String)>,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
}

impl S3Request<'_> {
    /// The operation, for routing, counting and faults: the one place a request is classified.
    pub fn operation(&self) -> &'static str {
        if self.has("uploads") || self.has("uploadId") {
            return "s3:Multipart";
        }
        match (self.bucket.is_empty(), self.key.is_empty(), self.method.as_str()) {
            (true, _, "GET") => "s3:ListBuckets",
            (false, true, "PUT") => "s3:CreateBucket",
            (false, true, "HEAD") => "s3:HeadBucket",
            (false, true, "DELETE") => "s3:DeleteBucket",
            (false, true, "POST") if self.has("delete") => "s3:DeleteObjects",
            (false, true, "GET") if self.q("list-type") == Some("2") => "s3:ListObjectsV2",
            (false, true, "GET") => "s3:ListObjects",
            (false, false, "PUT") if self.headers.contains_key("x-amz-copy-source") => "s3:CopyObject",
            (false, false, "PUT") => "s3:PutObject",
            (false, false, "GET") => "s3:GetObject",
            (false, false, "HEAD") => "s3:HeadObject",
            (false, false, "DELETE") => "s3:DeleteObject",
            _ => "s3:Other",
        }
    }

    fn q(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Splits a path-style path into bucket and key (percent-decoded).
pub fn split_path(path: &str) -> Result<(String, String), S3Error> {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| err(400, "InvalidURI", format!("the path {path} is not valid UTF-8 once decoded")))?;
    let trimmed = decoded.strip_prefix('/').unwrap_or(&decoded);
    Ok(trimmed.split_once('/').map_or((trimmed.to_owned(), String::new()), |(b, k)| (b.to_owned(), k.to_owned())))
}

fn check_bucket_name(name: &str) -> Result<(), S3Error> {
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

/// Whether a condition (`*` or a quoted ETag list) names this object.
fn condition_holds(cond: &str, o: &StoredObject) -> bool {
    cond.split(',').map(|c| c.trim().trim_start_matches("W/").trim_matches('"')).any(|c| c == "*" || c == o.etag)
}

impl Store {
    pub fn new(clock: Clock) -> Store {
        Store { buckets: Mutex::new(BTreeMap::new()), clock }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, BucketState>> {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Objects and bytes stored.
    pub fn stored(&self) -> (u64, u64) {
        let b = self.lock();
        let objects = b.values().map(|b| b.objects.len() as u64).sum();
        let bytes = b.values().flat_map(|b| b.objects.values()).map(|o| o.data.len() as u64).sum();
        (objects, bytes)
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Serves one request, routed by [`S3Request::operation`].
    pub fn handle(&self, r: S3Request<'_>) -> Result<Reply, S3Error> {
        match r.operation() {
            "s3:ListBuckets" => Ok(self.list_buckets()),
            "s3:CreateBucket" => self.create_bucket(&r.bucket),
            "s3:HeadBucket" => self.lock().get(&r.bucket).map(|_| Reply::ok()).ok_or_else(|| no_bucket(&r.bucket)),
            "s3:DeleteBucket" => self.delete_bucket(&r.bucket),
            "s3:DeleteObjects" => self.delete_objects(&r),
            "s3:ListObjectsV2" => self.list_objects_v2(&r),
            "s3:ListObjects" => Err(err(
                501,
                "NotImplemented",
                "minutely sim serves ListObjectsV2 (list-type=2), not the older ListObjects",
            )),
            "s3:Multipart" => Err(err(
                501,
                "NotImplemented",
                "minutely sim does not serve multipart uploads; send objects with one PutObject",
            )),
            "s3:CopyObject" => Err(err(501, "NotImplemented", "minutely sim does not serve CopyObject")),
            "s3:PutObject" => self.put_object(r),
            "s3:GetObject" | "s3:HeadObject" => self.get_object(&r),
            "s3:DeleteObject" => self.delete_object(&r),
            _ => Err(err(405, "MethodNotAllowed", format!("{} is not allowed on {}/{}", r.method, r.bucket, r.key))),
        }
    }

    fn list_buckets(&self) -> Reply {
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"{XMLNS}\"><Owner><ID>000000000000</ID><DisplayName>minutely</DisplayName></Owner><Buckets>"
        );
        for (name, b) in self.lock().iter() {
            xml.push_str(&format!(
                "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate></Bucket>",
                escape(name),
                iso8601(b.created_ms)
            ));
        }
        xml.push_str("</Buckets></ListAllMyBucketsResult>");
        Reply::xml(xml)
    }

    fn create_bucket(&self, name: &str) -> Result<Reply, S3Error> {
        check_bucket_name(name)?;
        let mut b = self.lock();
        if b.contains_key(name) {
            return Err(err(
                409,
                "BucketAlreadyOwnedByYou",
                format!("Your previous request to create the named bucket succeeded and you already own it: {name}"),
            ));
        }
        b.insert(name.to_owned(), BucketState { created_ms: self.clock.now_ms(), objects: BTreeMap::new() });
        Ok(Reply::ok().header("location", format!("/{name}")))
    }

    fn delete_bucket(&self, name: &str) -> Result<Reply, S3Error> {
        let mut b = self.lock();
        match b.get(name) {
            None => Err(no_bucket(name)),
            Some(state) if !state.objects.is_empty() => {
                Err(err(409, "BucketNotEmpty", format!("The bucket you tried to delete is not empty: {name}")))
            }
            Some(_) => {
                b.remove(name);
                Ok(Reply { status: 204, ..Reply::ok() })
            }
        }
    }

    fn put_object(&self, r: S3Request<'_>) -> Result<Reply, S3Error> {
        let chunked = r.header("x-amz-content-sha256").is_some_and(|v| v.starts_with("STREAMING-"))
            || r.header("content-encoding").is_some_and(|v| v.split(',').any(|e| e.trim() == "aws-chunked"));
        let data = if chunked { decode_aws_chunked(&r.body)? } else { r.body.clone() };
        if let Some(n) = r.header("x-amz-decoded-content-length").and_then(|v| v.parse::<usize>().ok())
            && n != data.len()
        {
            return Err(err(
                400,
                "IncompleteBody",
                format!("x-amz-decoded-content-length is {n} but the body holds {} bytes", data.len()),
            ));
        }
        let digest = Md5::digest(&data);
        if let Some(md5) = r.header("content-md5")
            && md5 != STANDARD.encode(digest)
        {
            return Err(err(400, "BadDigest", "The Content-MD5 you specified did not match what we received."));
        }
        let etag = format!("{digest:x}");
        let mut b = self.lock();
        let bucket = b.get_mut(&r.bucket).ok_or_else(|| no_bucket(&r.bucket))?;
        let existing = bucket.objects.get(&r.key);
        if let Some(cond) = r.header("if-none-match")
            && existing.is_some_and(|o| condition_holds(cond, o))
        {
            return Err(err(
                412,
                "PreconditionFailed",
                format!("At least one of the pre-conditions you specified did not hold (If-None-Match on {})", r.key),
            ));
        }
        if let Some(cond) = r.header("if-match") {
            match existing {
                None => return Err(no_key(&r.key)),
                Some(o) if !condition_holds(cond, o) => {
                    return Err(err(
                        412,
                        "PreconditionFailed",
                        format!(
                            "At least one of the pre-conditions you specified did not hold (If-Match on {})",
                            r.key
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        let content_type = r.header("content-type").map(str::to_owned);
        bucket.objects.insert(
            r.key.clone(),
            StoredObject { data, etag: etag.clone(), modified_ms: self.clock.now_ms(), content_type },
        );
        Ok(Reply::ok().header("etag", format!("\"{etag}\"")))
    }

    fn get_object(&self, r: &S3Request<'_>) -> Result<Reply, S3Error> {
        let o = {
            let b = self.lock();
            let bucket = b.get(&r.bucket).ok_or_else(|| no_bucket(&r.bucket))?;
            bucket.objects.get(&r.key).cloned().ok_or_else(|| no_key(&r.key))?
        };
        let common = |reply: Reply| {
            let reply = reply
                .header("etag", format!("\"{}\"", o.etag))
                .header("last-modified", http_date(o.modified_ms))
                .header("accept-ranges", "bytes");
            match &o.content_type {
                Some(ct) => reply.header("content-type", ct.clone()),
                None => reply.header("content-type", "binary/octet-stream"),
            }
        };
        if let Some(cond) = r.header("if-match")
            && !condition_holds(cond, &o)
        {
            return Err(err(412, "PreconditionFailed", format!("If-Match did not hold on {}", r.key)));
        }
        if let Some(cond) = r.header("if-none-match")
            && condition_holds(cond, &o)
        {
            return Ok(common(Reply { status: 304, ..Reply::ok() }));
        }
        let total = o.data.len() as u64;
        let mut reply = match r.header("range") {
            None => Reply { status: 200, headers: Vec::new(), body: o.data.clone() },
            Some(range) => {
                let (start, end) = parse_range(range, total)?;
                Reply {
                    status: 206,
                    headers: vec![("content-range", format!("bytes {start}-{end}/{total}"))],
                    body: o.data.slice(start as usize..end as usize + 1),
                }
            }
        };
        if r.method == Method::HEAD {
            // HEAD answers the headers of a GET; hyper writes no body but keeps the length.
            reply.headers.push(("content-length", reply.body.len().to_string()));
            reply.body = Bytes::new();
        }
        Ok(common(reply))
    }

    fn delete_object(&self, r: &S3Request<'_>) -> Result<Reply, S3Error> {
        let mut b = self.lock();
        let bucket = b.get_mut(&r.bucket).ok_or_else(|| no_bucket(&r.bucket))?;
        bucket.objects.remove(&r.key);
        Ok(Reply { status: 204, ..Reply::ok() })
    }

    fn delete_objects(&self, r: &S3Request<'_>) -> Result<Reply, S3Error> {
        let (keys, quiet) = parse_delete(&r.body)?;
        if keys.len() > 1000 {
            return Err(err(400, "MalformedXML", format!("DeleteObjects takes at most 1000 keys, not {}", keys.len())));
        }
        let mut b = self.lock();
        let bucket = b.get_mut(&r.bucket).ok_or_else(|| no_bucket(&r.bucket))?;
        let mut xml = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"{XMLNS}\">");
        for key in keys {
            bucket.objects.remove(&key);
            if !quiet {
                xml.push_str(&format!("<Deleted><Key>{}</Key></Deleted>", escape(&key)));
            }
        }
        xml.push_str("</DeleteResult>");
        Ok(Reply::xml(xml))
    }

    fn list_objects_v2(&self, r: &S3Request<'_>) -> Result<Reply, S3Error> {
        let max_keys = match r.q("max-keys") {
            None => 1000,
            Some(v) => v
                .parse::<i64>()
                .map_err(|_| err(400, "InvalidArgument", format!("max-keys {v} is not a number")))?
                .clamp(0, 1000) as usize,
        };
        let prefix = r.q("prefix").unwrap_or_default().to_owned();
        let delimiter = r.q("delimiter").filter(|d| !d.is_empty()).map(str::to_owned);
        let token = r.q("continuation-token");
        let start_after = r.q("start-after");
        let resume = match token {
            Some(t) => Some(
                token_decode(t)
                    .ok_or_else(|| err(400, "InvalidArgument", "The continuation token provided is incorrect"))?,
            ),
            None => start_after.map(|k| (k.to_owned(), false)),
        };
        let url = r.q("encoding-type") == Some("url");
        let enc = |s: &str| escape(&if url { url_encode(s) } else { s.to_owned() });
        let b = self.lock();
        let bucket = b.get(&r.bucket).ok_or_else(|| no_bucket(&r.bucket))?;
        let from = match &resume {
            Some((k, _)) if k.as_str() > prefix.as_str() => k.clone(),
            _ => prefix.clone(),
        };
        let mut contents = String::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut count = 0;
        let mut last: Option<(String, bool)> = None;
        let mut truncated = false;
        for (key, o) in bucket.objects.range(from..) {
            if !key.starts_with(&prefix) {
                break;
            }
            match &resume {
                Some((k, false)) if key <= k => continue,
                Some((p, true)) if key.starts_with(p.as_str()) => continue,
                _ => {}
            }
            let common = delimiter.as_ref().and_then(|d| {
                key[prefix.len()..].find(d.as_str()).map(|i| key[..prefix.len() + i + d.len()].to_owned())
            });
            if let Some(cp) = &common
                && prefixes.last() == Some(cp)
            {
                continue;
            }
            if count == max_keys {
                truncated = true;
                break;
            }
            count += 1;
            match common {
                Some(cp) => {
                    last = Some((cp.clone(), true));
                    prefixes.push(cp);
                }
                None => {
                    last = Some((key.clone(), false));
                    contents.push_str(&format!(
                        "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                        enc(key),
                        iso8601(o.modified_ms),
                        o.etag,
                        o.data.len()
                    ));
                }
            }
        }
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"{XMLNS}\"><Name>{}</Name><Prefix>{}</Prefix><KeyCount>{count}</KeyCount><MaxKeys>{max_keys}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
            escape(&r.bucket),
            enc(&prefix)
        );
        if let Some(d) = &delimiter {
            xml.push_str(&format!("<Delimiter>{}</Delimiter>", enc(d)));
        }
        if url {
            xml.push_str("<EncodingType>url</EncodingType>");
        }
        if let Some(t) = token {
            xml.push_str(&format!("<ContinuationToken>{}</ContinuationToken>", escape(t)));
        }
        if let Some(s) = start_after {
            xml.push_str(&format!("<StartAfter>{}</StartAfter>", enc(s)));
        }
        if truncated && let Some((k, p)) = &last {
            xml.push_str(&format!("<NextContinuationToken>{}</NextContinuationToken>", token_encode(k, *p)));
        }
        xml.push_str(&contents);
        for p in prefixes {
            xml.push_str(&format!("<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>", enc(&p)));
        }
        xml.push_str("</ListBucketResult>");
        Ok(Reply::xml(xml))
    }
}

/// `bytes=START-END`, `bytes=START-`, `bytes=-SUFFIX`: the inclusive range within `total`.
fn parse_range(range: &str, total: u64) -> Result<(u64, u64), S3Error> {
    let unsatisfiable =
        || err(416, "InvalidRange", format!("The requested range {range} is not satisfiable (object size {total})"));
    let spec = range.strip_prefix("bytes=").ok_or_else(unsatisfiable)?;
    let (a, b) = spec.split_once('-').ok_or_else(unsatisfiable)?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| unsatisfiable())?;
            (total.saturating_sub(n), total.checked_sub(1).ok_or_else(unsatisfiable)?)
        }
        (s, "") => (s.parse().map_err(|_| unsatisfiable())?, total.checked_sub(1).ok_or_else(unsatisfiable)?),
        (s, e) => {
            let e: u64 = e.parse().map_err(|_| unsatisfiable())?;
            (s.parse().map_err(|_| unsatisfiable())?, e.min(total.saturating_sub(1)))
        }
    };
    if start >= total || start > end {
        return Err(unsatisfiable());
    }
    Ok((start, end))
}

/// The keys and `Quiet` flag of a DeleteObjects body.
fn parse_delete(body: &[u8]) -> Result<(Vec<String>, bool), S3Error> {
    let malformed = |why: String| {
        err(
            400,
            "MalformedXML",
            format!("The XML you provided was not well-formed or did not validate against our published schema: {why}"),
        )
    };
    let text = std::str::from_utf8(body).map_err(|_| malformed("not UTF-8".to_owned()))?;
    let mut keys = Vec::new();
    let mut quiet = false;
    let mut path: Vec<String> = Vec::new();
    for token in xmlparser::Tokenizer::from(text) {
        match token.map_err(|e| malformed(e.to_string()))? {
            xmlparser::Token::ElementStart { local, .. } => path.push(local.as_str().to_owned()),
            xmlparser::Token::ElementEnd { end, .. } => match end {
                xmlparser::ElementEnd::Open => {}
                _ => {
                    path.pop();
                }
            },
            xmlparser::Token::Text { text } => {
                let value = unescape(text.as_str());
                match path.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                    ["Delete", "Object", "Key"] => keys.push(value),
                    ["Delete", "Quiet"] => quiet = value.trim() == "true",
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if !path.is_empty() {
        return Err(malformed(format!("<{}> is not closed", path.join("><"))));
    }
    Ok((keys, quiet))
}

fn unescape(s: &str) -> String {
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
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=2-4", 10).unwrap(), (2, 4));
        assert_eq!(parse_range("bytes=7-", 10).unwrap(), (7, 9));
        assert_eq!(parse_range("bytes=-3", 10).unwrap(), (7, 9));
        assert_eq!(parse_range("bytes=5-100", 10).unwrap(), (5, 9));
        assert_eq!(parse_range("bytes=10-", 10).unwrap_err().status, 416);
        assert_eq!(parse_range("lines=1-2", 10).unwrap_err().status, 416);
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
    }
}
