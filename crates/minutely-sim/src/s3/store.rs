//! Buckets and objects in memory, and the operations on them. Conditional writes are checked
//! and applied under one lock.

use std::collections::BTreeMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::Method;
use md5::{Digest, Md5};

use super::request::S3Request;
use super::uploads::Uploads;
use super::wire::*;
use crate::clock::Clock;

#[derive(Clone, Debug)]
pub struct StoredObject {
    pub data: Bytes,
    /// Hex MD5, without quotes.
    pub etag: String,
    pub modified_ms: i64,
    pub content_type: Option<String>,
}

/// One PutObject as the store applied or refused it (see [`Store::journal`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct S3Write {
    /// The sim's clock when it was applied (or refused).
    pub at_ms: i64,
    pub bucket: String,
    pub key: String,
    /// The `x-amz-meta-minutely-writer` header: who says it wrote this.
    pub writer: Option<String>,
    /// The status of a refusal (412: a condition did not hold); `None`: written.
    pub refused: Option<u16>,
    /// What was written (empty when refused).
    #[serde(skip)]
    pub body: Bytes,
}

#[derive(Debug, Default)]
pub struct BucketState {
    pub created_ms: i64,
    pub objects: BTreeMap<String, StoredObject>,
}

/// Every bucket, and the multipart uploads in progress.
#[derive(Debug)]
pub struct Store {
    buckets: Mutex<BTreeMap<String, BucketState>>,
    uploads: Mutex<Uploads>,
    clock: Clock,
    /// Every PutObject, applied or refused, once [`Store::journal`] turned it on.
    journal: Mutex<Option<Vec<S3Write>>>,
}

/// Whether a condition (`*` or a quoted ETag list) names this object.
fn condition_holds(cond: &str, o: &StoredObject) -> bool {
    cond.split(',').map(|c| c.trim().trim_start_matches("W/").trim_matches('"')).any(|c| c == "*" || c == o.etag)
}

impl Store {
    pub fn new(clock: Clock) -> Store {
        Store { buckets: Mutex::new(BTreeMap::new()), uploads: Mutex::default(), clock, journal: Mutex::new(None) }
    }

    /// Keeps every PutObject from now on (its time, key, writer and outcome), for a test that
    /// checks who wrote what when: the scenario engine's fence property. Off by default: a
    /// long-running sim would grow without bound.
    pub fn journal(&self) {
        self.journal.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(Vec::new);
    }

    /// The PutObjects kept since [`Store::journal`], in the order they were applied.
    pub fn writes(&self) -> Vec<S3Write> {
        self.journal.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_default()
    }

    fn note(&self, r: &S3Request<'_>, body: Bytes, refused: Option<u16>) {
        if let Some(j) = self.journal.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            j.push(S3Write {
                at_ms: self.clock.now_ms(),
                bucket: r.bucket.clone(),
                key: r.key.clone(),
                writer: r.header("x-amz-meta-minutely-writer").map(str::to_owned),
                refused,
                body,
            });
        }
    }

    pub(crate) fn uploads(&self) -> std::sync::MutexGuard<'_, Uploads> {
        self.uploads.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, BucketState>> {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Objects and bytes stored.
    pub fn stored(&self) -> (u64, u64) {
        let b = self.lock();
        let objects = b.values().map(|b| b.objects.len() as u64).sum();
        let bytes = b.values().flat_map(|b| b.objects.values()).map(|o| o.data.len() as u64).sum();
        (objects, bytes)
    }

    /// Every bucket and its objects, as a snapshot holds them (uploads in progress are not).
    pub(crate) fn snapshot(&self) -> BTreeMap<String, crate::snapshot::BucketSnapshot> {
        let buckets = self.lock();
        buckets
            .iter()
            .map(|(name, b)| {
                let objects = b
                    .objects
                    .iter()
                    .map(|(key, o)| {
                        let state = crate::snapshot::ObjectState {
                            data: crate::snapshot::encode(&o.data),
                            etag: o.etag.clone(),
                            modified_ms: o.modified_ms,
                            content_type: o.content_type.clone(),
                        };
                        (key.clone(), state)
                    })
                    .collect();
                (name.clone(), crate::snapshot::BucketSnapshot { created_ms: b.created_ms, objects })
            })
            .collect()
    }

    /// Replaces every bucket with the snapshot's (uploads in progress dropped), or says which
    /// object is wrong and changes nothing.
    pub(crate) fn restore(&self, buckets: &BTreeMap<String, crate::snapshot::BucketSnapshot>) -> Result<(), String> {
        let mut restored = BTreeMap::new();
        for (name, b) in buckets {
            let mut objects = BTreeMap::new();
            for (key, o) in &b.objects {
                let data = crate::snapshot::decode(&o.data, &format!("s3://{name}/{key}"))?;
                let etag = o.etag.clone();
                let object = StoredObject {
                    data: data.into(),
                    etag,
                    modified_ms: o.modified_ms,
                    content_type: o.content_type.clone(),
                };
                objects.insert(key.clone(), object);
            }
            restored.insert(name.clone(), BucketState { created_ms: b.created_ms, objects });
        }
        *self.uploads() = Uploads::default();
        *self.lock() = restored;
        Ok(())
    }

    pub fn clear(&self) {
        let mut uploads = self.uploads();
        *uploads = Uploads::default();
        self.lock().clear();
    }

    pub(crate) fn list_buckets(&self) -> Reply {
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

    pub(crate) fn create_bucket(&self, name: &str) -> Result<Reply, S3Error> {
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

    pub(crate) fn delete_bucket(&self, name: &str) -> Result<Reply, S3Error> {
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

    pub(crate) fn put_object(&self, r: S3Request<'_>) -> Result<Reply, S3Error> {
        check_key(&r.key)?;
        let (data, digest) = self.body_of(&r)?;
        let mut b = self.lock();
        let written = self.put_object_checked(&mut b, &r, data.clone(), format!("{digest:x}"));
        // Under the buckets' lock: the journal's order is the order of application.
        let refused = written.as_ref().err().map(|e| e.status);
        self.note(&r, if refused.is_some() { Bytes::new() } else { data }, refused);
        written
    }

    /// A PutObject's or UploadPart's body: aws-chunked decoded, its length and Content-MD5
    /// checked; with its MD5.
    pub(crate) fn body_of(&self, r: &S3Request<'_>) -> Result<(Bytes, md5::digest::Output<Md5>), S3Error> {
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
        Ok((data, digest))
    }

    /// Stores a checked body under the request's key, its conditions holding.
    fn put_object_checked(
        &self,
        b: &mut BTreeMap<String, BucketState>,
        r: &S3Request<'_>,
        data: Bytes,
        etag: String,
    ) -> Result<Reply, S3Error> {
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

    pub(crate) fn get_object(&self, r: &S3Request<'_>) -> Result<Reply, S3Error> {
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
            Some(range) => match parse_range(range, total)? {
                None => Reply { status: 200, headers: Vec::new(), body: o.data.clone() },
                Some((start, end)) => Reply {
                    status: 206,
                    headers: vec![("content-range", format!("bytes {start}-{end}/{total}"))],
                    body: o.data.slice(start as usize..end as usize + 1),
                },
            },
        };
        if r.method == Method::HEAD {
            // HEAD answers the headers of a GET; hyper writes no body but keeps the length.
            reply.headers.push(("content-length", reply.body.len().to_string()));
            reply.body = Bytes::new();
        }
        Ok(common(reply))
    }

    pub(crate) fn delete_object(&self, r: &S3Request<'_>) -> Result<Reply, S3Error> {
        let mut b = self.lock();
        let bucket = b.get_mut(&r.bucket).ok_or_else(|| no_bucket(&r.bucket))?;
        bucket.objects.remove(&r.key);
        Ok(Reply { status: 204, ..Reply::ok() })
    }

    pub(crate) fn delete_objects(&self, r: &S3Request<'_>) -> Result<Reply, S3Error> {
        // S3 asks for an integrity header here (the SDKs send one); a web page's form cannot.
        if !r.headers.keys().any(|h| h == "content-md5" || h.as_str().starts_with("x-amz-checksum-")) {
            return Err(err(
                400,
                "InvalidRequest",
                "Missing required header for this request: Content-MD5 or x-amz-checksum-*",
            ));
        }
        if let Some(md5) = r.header("content-md5")
            && md5 != STANDARD.encode(Md5::digest(&r.body))
        {
            return Err(err(400, "BadDigest", "The Content-MD5 you specified did not match what we received."));
        }
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

    pub(crate) fn list_objects_v2(&self, r: &S3Request<'_>) -> Result<Reply, S3Error> {
        let q = ListQuery::of(r)?;
        let enc = |s: &str| escape(&if q.url { url_encode(s) } else { s.to_owned() });
        let b = self.lock();
        let bucket = b.get(&r.bucket).ok_or_else(|| no_bucket(&r.bucket))?;
        let page = q.page(bucket, &enc);
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"{XMLNS}\"><Name>{}</Name><Prefix>{}</Prefix><KeyCount>{}</KeyCount><MaxKeys>{}</MaxKeys><IsTruncated>{}</IsTruncated>",
            escape(&r.bucket),
            enc(&q.prefix),
            page.count,
            q.max_keys,
            page.truncated
        );
        if let Some(d) = &q.delimiter {
            xml.push_str(&format!("<Delimiter>{}</Delimiter>", enc(d)));
        }
        if q.url {
            xml.push_str("<EncodingType>url</EncodingType>");
        }
        if let Some(t) = r.q("continuation-token") {
            xml.push_str(&format!("<ContinuationToken>{}</ContinuationToken>", escape(t)));
        }
        if let Some(s) = r.q("start-after") {
            xml.push_str(&format!("<StartAfter>{}</StartAfter>", enc(s)));
        }
        if page.truncated
            && let Some((k, p)) = &page.last
        {
            xml.push_str(&format!("<NextContinuationToken>{}</NextContinuationToken>", token_encode(k, *p)));
        }
        xml.push_str(&page.contents);
        for p in page.prefixes {
            xml.push_str(&format!("<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>", enc(&p)));
        }
        xml.push_str("</ListBucketResult>");
        Ok(Reply::xml(xml))
    }
}

/// What a ListObjectsV2 request asks for.
struct ListQuery {
    max_keys: usize,
    prefix: String,
    delimiter: Option<String>,
    /// Resume strictly after this key, or after every key under this common prefix (`true`).
    resume: Option<(String, bool)>,
    /// `encoding-type=url`.
    url: bool,
}

/// One page of a listing.
struct ListPage {
    /// The `<Contents>` elements.
    contents: String,
    prefixes: Vec<String>,
    count: usize,
    truncated: bool,
    /// The last key or common prefix on the page (the next page resumes after it).
    last: Option<(String, bool)>,
}

impl ListQuery {
    fn of(r: &S3Request<'_>) -> Result<ListQuery, S3Error> {
        let max_keys = match r.q("max-keys") {
            None => 1000,
            Some(v) => v
                .parse::<i64>()
                .map_err(|_| err(400, "InvalidArgument", format!("max-keys {v} is not a number")))?
                .clamp(0, 1000) as usize,
        };
        let resume = match r.q("continuation-token") {
            Some(t) => Some(
                token_decode(t)
                    .ok_or_else(|| err(400, "InvalidArgument", "The continuation token provided is incorrect"))?,
            ),
            None => r.q("start-after").map(|k| (k.to_owned(), false)),
        };
        Ok(ListQuery {
            max_keys,
            prefix: r.q("prefix").unwrap_or_default().to_owned(),
            delimiter: r.q("delimiter").filter(|d| !d.is_empty()).map(str::to_owned),
            resume,
            url: r.q("encoding-type") == Some("url"),
        })
    }

    /// The page of `bucket` this query lists; keys written with `enc`.
    fn page(&self, bucket: &BucketState, enc: &dyn Fn(&str) -> String) -> ListPage {
        let prefix = &self.prefix;
        let from = match &self.resume {
            Some((k, _)) if k.as_str() > prefix.as_str() => k.clone(),
            _ => prefix.clone(),
        };
        let mut page =
            ListPage { contents: String::new(), prefixes: Vec::new(), count: 0, truncated: false, last: None };
        for (key, o) in bucket.objects.range(from..) {
            if !key.starts_with(prefix.as_str()) {
                break;
            }
            match &self.resume {
                Some((k, false)) if key <= k => continue,
                Some((p, true)) if key.starts_with(p.as_str()) => continue,
                _ => {}
            }
            let common = self.delimiter.as_ref().and_then(|d| {
                key[prefix.len()..].find(d.as_str()).map(|i| key[..prefix.len() + i + d.len()].to_owned())
            });
            if let Some(cp) = &common
                && page.prefixes.last() == Some(cp)
            {
                continue;
            }
            if page.count == self.max_keys {
                // S3 answers `max-keys=0` with an empty page that is not truncated.
                page.truncated = self.max_keys > 0;
                break;
            }
            page.count += 1;
            match common {
                Some(cp) => {
                    page.last = Some((cp.clone(), true));
                    page.prefixes.push(cp);
                }
                None => {
                    page.last = Some((key.clone(), false));
                    page.contents.push_str(&format!(
                        "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                        enc(key),
                        iso8601(o.modified_ms),
                        o.etag,
                        o.data.len()
                    ));
                }
            }
        }
        page
    }
}
