//! Multipart uploads and copies: what the AWS CLI's `s3 cp` and `s3 sync` send for objects over
//! 8 MB (CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload) and between
//! keys (CopyObject), with AbortMultipartUpload, ListParts and ListMultipartUploads. AWS's rules:
//! part numbers 1 to 10,000, every part but the last at least 5 MiB, parts completed in
//! ascending order with their ETags, the object's ETag the MD5 of the parts' MD5s and `-N`.

use std::collections::BTreeMap;

use bytes::BytesMut;
use md5::{Digest, Md5};

use super::request::S3Request;
use super::store::{Store, StoredObject};
use super::uploads::{Part, Upload};
use super::wire::*;

/// The smallest part but the last.
pub(crate) const MIN_PART_BYTES: usize = 5 * 1024 * 1024;
/// Part numbers run from 1 to this.
pub(crate) const MAX_PART_NUMBER: u32 = 10_000;
/// Parts or uploads listed per page at most.
const MAX_LISTED: usize = 1000;

fn no_upload(id: &str) -> S3Error {
    err(
        404,
        "NoSuchUpload",
        format!(
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed: {}",
            shorten(id)
        ),
    )
}

fn shorten(s: &str) -> String {
    if s.len() <= 100 { s.to_owned() } else { format!("{}...", &s[..s.floor_char_boundary(100)]) }
}

fn invalid_part() -> S3Error {
    err(
        400,
        "InvalidPart",
        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
    )
}

/// `partNumber`, checked.
fn part_number(r: &S3Request<'_>) -> Result<u32, S3Error> {
    r.q("partNumber").and_then(|n| n.parse::<u32>().ok()).filter(|n| (1..=MAX_PART_NUMBER).contains(n)).ok_or_else(
        || {
            err(
                400,
                "InvalidArgument",
                format!("Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"),
            )
        },
    )
}

fn xml_doc(root: &str, inner: String) -> Reply {
    Reply::xml(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} xmlns=\"{XMLNS}\">{inner}</{root}>"))
}

impl Store {
    /// `POST /bucket/key?uploads`.
    pub(crate) fn create_multipart_upload(&self, r: &S3Request<'_>) -> Result<Reply, S3Error> {
        check_key(&r.key)?;
        if !self.lock().contains_key(&r.bucket) {
            return Err(no_bucket(&r.bucket));
        }
        let mut uploads = self.uploads();
        // Ids from a counter: the same run gives the same ids.
        let id = format!("minutely-upload-{:08}", uploads.next_id);
        uploads.next_id += 1;
        let upload = Upload {
            bucket: r.bucket.clone(),
            key: r.key.clone(),
            initiated_ms: self.now_ms(),
            content_type: r.header("content-type").map(str::to_owned),
            parts: BTreeMap::new(),
        };
        uploads.open.insert(id.clone(), upload);
        Ok(xml_doc(
            "InitiateMultipartUploadResult",
            format!("<Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId>", escape(&r.bucket), escape(&r.key)),
        ))
    }

    /// `PUT /bucket/key?partNumber=N&uploadId=ID`, with a body or `x-amz-copy-source`.
    pub(crate) fn upload_part(&self, r: S3Request<'_>) -> Result<Reply, S3Error> {
        let number = part_number(&r)?;
        let id = r.q("uploadId").unwrap_or_default().to_owned();
        self.upload_of(&r, &id)?;
        let copied = r.header("x-amz-copy-source").is_some();
        let (data, md5) = match r.header("x-amz-copy-source") {
            Some(source) => {
                let o = self.copy_source(source)?;
                let data = match r.header("x-amz-copy-source-range") {
                    None => o.data,
                    Some(range) => match parse_range(range, o.data.len() as u64)? {
                        Some((start, end)) => o.data.slice(start as usize..end as usize + 1),
                        None => return Err(err(400, "InvalidArgument", "The x-amz-copy-source-range is not valid")),
                    },
                };
                let md5 = Md5::digest(&data);
                (data, md5)
            }
            // Its MD5 was taken as the body was checked.
            None => self.body_of(&r)?,
        };
        let now = self.now_ms();
        let mut uploads = self.uploads();
        // Checked again under the lock: it may have been completed or aborted meanwhile.
        let upload = uploads.open.get_mut(&id).ok_or_else(|| no_upload(&id))?;
        let part = Part { data, md5, modified_ms: now };
        let etag = part.etag();
        upload.parts.insert(number, part);
        if copied {
            return Ok(xml_doc(
                "CopyPartResult",
                format!("<LastModified>{}</LastModified><ETag>\"{etag}\"</ETag>", iso8601(now)),
            ));
        }
        Ok(Reply::ok().header("etag", format!("\"{etag}\"")))
    }

    /// `POST /bucket/key?uploadId=ID` with the parts to join, in ascending order.
    pub(crate) fn complete_multipart_upload(&self, r: &S3Request<'_>) -> Result<Reply, S3Error> {
        let id = r.q("uploadId").unwrap_or_default().to_owned();
        let listed = parse_complete(&r.body)?;
        if listed.is_empty() {
            return Err(malformed("CompleteMultipartUpload names no <Part>"));
        }
        if listed.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(err(
                400,
                "InvalidPartOrder",
                "The list of parts was not in ascending order. Parts must be ordered by part number.",
            ));
        }
        let mut uploads = self.uploads();
        let upload = uploads.open.get(&id).filter(|u| u.bucket == r.bucket && u.key == r.key);
        let upload = upload.ok_or_else(|| no_upload(&id))?;
        let mut parts = Vec::with_capacity(listed.len());
        for (number, etag) in &listed {
            let part = upload.parts.get(number).filter(|p| p.etag() == *etag).ok_or_else(invalid_part)?;
            parts.push(part);
        }
        if let Some(small) = parts[..parts.len() - 1].iter().position(|p| p.data.len() < MIN_PART_BYTES) {
            return Err(err(
                400,
                "EntityTooSmall",
                format!(
                    "Your proposed upload is smaller than the minimum allowed object size: part {} holds {} bytes, where every part but the last needs at least {MIN_PART_BYTES}",
                    listed[small].0,
                    parts[small].data.len()
                ),
            ));
        }
        let mut data = BytesMut::with_capacity(parts.iter().map(|p| p.data.len()).sum());
        let mut md5s = Md5::new();
        for p in &parts {
            data.extend_from_slice(&p.data);
            md5s.update(p.md5);
        }
        let etag = format!("{:x}-{}", md5s.finalize(), parts.len());
        let content_type = upload.content_type.clone();
        let object = StoredObject { data: data.freeze(), etag: etag.clone(), modified_ms: self.now_ms(), content_type };
        {
            let mut b = self.lock();
            let bucket = b.get_mut(&r.bucket).ok_or_else(|| no_bucket(&r.bucket))?;
            bucket.objects.insert(r.key.clone(), object);
        }
        uploads.open.remove(&id);
        Ok(xml_doc(
            "CompleteMultipartUploadResult",
            format!(
                "<Location>/{0}/{1}</Location><Bucket>{0}</Bucket><Key>{1}</Key><ETag>\"{etag}\"</ETag>",
                escape(&r.bucket),
                escape(&r.key)
            ),
        ))
    }

    /// `DELETE /bucket/key?uploadId=ID`.
    pub(crate) fn abort_multipart_upload(&self, r: &S3Request<'_>) -> Result<Reply, S3Error> {
        let id = r.q("uploadId").unwrap_or_default();
        self.upload_of(r, id)?;
        self.uploads().open.remove(id);
        Ok(Reply { status: 204, ..Reply::ok() })
    }

    /// `GET /bucket/key?uploadId=ID`: the parts so far, from `part-number-marker`.
    pub(crate) fn list_parts(&self, r: &S3Request<'_>) -> Result<Reply, S3Error> {
        let id = r.q("uploadId").unwrap_or_default();
        self.upload_of(r, id)?;
        let max = r.q("max-parts").and_then(|n| n.parse::<usize>().ok()).unwrap_or(MAX_LISTED).min(MAX_LISTED);
        let marker = r.q("part-number-marker").and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
        let uploads = self.uploads();
        let upload = uploads.open.get(id).ok_or_else(|| no_upload(id))?;
        let after: Vec<(&u32, &Part)> = upload.parts.range(marker.saturating_add(1)..).collect();
        let shown = &after[..after.len().min(max)];
        let mut xml = format!(
            "<Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId><PartNumberMarker>{marker}</PartNumberMarker><MaxParts>{max}</MaxParts><IsTruncated>{}</IsTruncated>",
            escape(&r.bucket),
            escape(&r.key),
            escape(id),
            after.len() > max
        );
        if let Some((n, _)) = shown.last() {
            xml.push_str(&format!("<NextPartNumberMarker>{n}</NextPartNumberMarker>"));
        }
        for (n, p) in shown {
            xml.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><LastModified>{}</LastModified><ETag>\"{}\"</ETag><Size>{}</Size></Part>",
                iso8601(p.modified_ms),
                p.etag(),
                p.data.len()
            ));
        }
        Ok(xml_doc("ListPartsResult", xml))
    }

    /// `GET /bucket?uploads`: the bucket's open uploads (under `prefix`), up to 1,000.
    pub(crate) fn list_multipart_uploads(&self, r: &S3Request<'_>) -> Result<Reply, S3Error> {
        if !self.lock().contains_key(&r.bucket) {
            return Err(no_bucket(&r.bucket));
        }
        let prefix = r.q("prefix").unwrap_or_default();
        let uploads = self.uploads();
        let mut open: Vec<(&String, &Upload)> =
            uploads.open.iter().filter(|(_, u)| u.bucket == r.bucket && u.key.starts_with(prefix)).collect();
        open.sort_by(|a, b| (&a.1.key, a.0).cmp(&(&b.1.key, b.0)));
        let mut xml = format!(
            "<Bucket>{}</Bucket><Prefix>{}</Prefix><MaxUploads>{MAX_LISTED}</MaxUploads><IsTruncated>{}</IsTruncated>",
            escape(&r.bucket),
            escape(prefix),
            open.len() > MAX_LISTED
        );
        for (id, u) in open.iter().take(MAX_LISTED) {
            xml.push_str(&format!(
                "<Upload><Key>{}</Key><UploadId>{id}</UploadId><Initiated>{}</Initiated><StorageClass>STANDARD</StorageClass></Upload>",
                escape(&u.key),
                iso8601(u.initiated_ms)
            ));
        }
        Ok(xml_doc("ListMultipartUploadsResult", xml))
    }

    /// `PUT /bucket/key` with `x-amz-copy-source`: the source's bytes under a new key, its
    /// content type kept (`x-amz-metadata-directive: COPY`) or the request's (`REPLACE`).
    pub(crate) fn copy_object(&self, r: &S3Request<'_>) -> Result<Reply, S3Error> {
        check_key(&r.key)?;
        let source = r.header("x-amz-copy-source").unwrap_or_default();
        let replace = r.header("x-amz-metadata-directive").is_some_and(|d| d.eq_ignore_ascii_case("REPLACE"));
        let (src_bucket, src_key) = copy_source_path(source)?;
        if (src_bucket.as_str(), src_key.as_str()) == (r.bucket.as_str(), r.key.as_str()) && !replace {
            return Err(err(
                400,
                "InvalidRequest",
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
            ));
        }
        let mut o = self.copy_source(source)?;
        if replace {
            o.content_type = r.header("content-type").map(str::to_owned);
        }
        o.modified_ms = self.now_ms();
        let reply = xml_doc(
            "CopyObjectResult",
            format!("<LastModified>{}</LastModified><ETag>\"{}\"</ETag>", iso8601(o.modified_ms), o.etag),
        );
        let mut b = self.lock();
        let bucket = b.get_mut(&r.bucket).ok_or_else(|| no_bucket(&r.bucket))?;
        bucket.objects.insert(r.key.clone(), o);
        Ok(reply)
    }

    /// The object `x-amz-copy-source` names (`bucket/key` or `/bucket/key`, URL-encoded).
    fn copy_source(&self, source: &str) -> Result<StoredObject, S3Error> {
        let (bucket, key) = copy_source_path(source)?;
        let b = self.lock();
        let objects = &b.get(&bucket).ok_or_else(|| no_bucket(&bucket))?.objects;
        objects.get(&key).cloned().ok_or_else(|| no_key(&key))
    }

    /// The upload `id`, which must be of the request's bucket and key.
    fn upload_of(&self, r: &S3Request<'_>, id: &str) -> Result<(), S3Error> {
        match self.uploads().open.get(id) {
            Some(u) if u.bucket == r.bucket && u.key == r.key => Ok(()),
            _ => Err(no_upload(id)),
        }
    }
}

/// `x-amz-copy-source`: `bucket/key` or `/bucket/key`, URL-encoded, maybe `?versionId=`.
fn copy_source_path(source: &str) -> Result<(String, String), S3Error> {
    let source = source.split_once("?versionId=").map_or(source, |(p, _)| p);
    let decoded: String = percent_encoding::percent_decode_str(source.trim_start_matches('/'))
        .decode_utf8()
        .map_err(|_| err(400, "InvalidArgument", "x-amz-copy-source is not UTF-8 once decoded"))?
        .into_owned();
    match decoded.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok((bucket.to_owned(), key.to_owned())),
        _ => Err(err(
            400,
            "InvalidArgument",
            format!("Invalid copy source object key: {} (use bucket/key)", shorten(&decoded)),
        )),
    }
}

/// The (part number, ETag without quotes) pairs of a CompleteMultipartUpload body, in order.
fn parse_complete(body: &[u8]) -> Result<Vec<(u32, String)>, S3Error> {
    let mut parts: Vec<(Option<u32>, Option<String>)> = Vec::new();
    let mut bad = None;
    walk_xml(body, "CompleteMultipartUpload", "<Part>s", |path, text| match (path, text) {
        (["CompleteMultipartUpload", "Part"], None) => parts.push((None, None)),
        (["CompleteMultipartUpload", "Part", "PartNumber"], Some(n)) => match (parts.last_mut(), n.trim().parse()) {
            (Some(p), Ok(n)) => p.0 = Some(n),
            _ => bad = Some(format!("PartNumber {n:?} is not a number")),
        },
        (["CompleteMultipartUpload", "Part", "ETag"], Some(e)) => {
            if let Some(p) = parts.last_mut() {
                p.1 = Some(e.trim().trim_matches('"').to_owned());
            }
        }
        _ => {}
    })?;
    if let Some(why) = bad {
        return Err(malformed(why));
    }
    parts
        .into_iter()
        .map(|p| match p {
            (Some(n), Some(e)) => Ok((n, e)),
            _ => Err(malformed("every <Part> needs a <PartNumber> and an <ETag>")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_bodies_are_read_in_order_and_bad_ones_named() {
        let body = br#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"aa"</ETag><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber><ETag>&quot;bb&quot;</ETag><ChecksumCRC32>x</ChecksumCRC32></Part></CompleteMultipartUpload>"#;
        assert_eq!(parse_complete(body).unwrap(), [(1, "aa".to_owned()), (2, "bb".to_owned())]);
        for bad in [
            &b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>"[..],
            b"<CompleteMultipartUpload><Part><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"<Delete><Part/></Delete>",
            b"<CompleteMultipartUpload><Part>",
        ] {
            assert_eq!(parse_complete(bad).unwrap_err().code, "MalformedXML", "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn copy_sources_are_decoded() {
        assert_eq!(copy_source_path("/b/a%20key?versionId=3").unwrap(), ("b".to_owned(), "a key".to_owned()));
        assert_eq!(copy_source_path("b/dir/k").unwrap(), ("b".to_owned(), "dir/k".to_owned()));
        assert!(copy_source_path("b").is_err());
        assert!(copy_source_path("/b/").is_err());
    }
}
