//! A parsed S3 request, and the one place it is classified into an operation.

use bytes::Bytes;
use http::{HeaderMap, Method};

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
        let copy = self.headers.contains_key("x-amz-copy-source");
        match (self.bucket.is_empty(), self.key.is_empty(), self.method.as_str()) {
            (false, true, "GET") if self.has("uploads") => return "s3:ListMultipartUploads",
            (false, false, "POST") if self.has("uploads") => return "s3:CreateMultipartUpload",
            (false, false, "PUT") if self.has("uploadId") && copy => return "s3:UploadPartCopy",
            (false, false, "PUT") if self.has("uploadId") => return "s3:UploadPart",
            (false, false, "POST") if self.has("uploadId") => return "s3:CompleteMultipartUpload",
            (false, false, "DELETE") if self.has("uploadId") => return "s3:AbortMultipartUpload",
            (false, false, "GET") if self.has("uploadId") => return "s3:ListParts",
            _ if self.has("uploads") || self.has("uploadId") => return "s3:Other",
            _ => {}
        }
        match (self.bucket.is_empty(), self.key.is_empty(), self.method.as_str()) {
            (true, _, "GET") => "s3:ListBuckets",
            (false, true, "PUT") => "s3:CreateBucket",
            (false, true, "HEAD") => "s3:HeadBucket",
            (false, true, "DELETE") => "s3:DeleteBucket",
            (false, true, "POST") if self.has("delete") => "s3:DeleteObjects",
            (false, true, "GET") if self.q("list-type") == Some("2") => "s3:ListObjectsV2",
            (false, true, "GET") => "s3:ListObjects",
            (false, false, "PUT") if copy => "s3:CopyObject",
            (false, false, "PUT") => "s3:PutObject",
            (false, false, "GET") => "s3:GetObject",
            (false, false, "HEAD") => "s3:HeadObject",
            (false, false, "DELETE") => "s3:DeleteObject",
            _ => "s3:Other",
        }
    }

    pub(crate) fn q(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    pub(crate) fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::S3_OPERATIONS;

    /// Every method, path shape and query gives a name in [`S3_OPERATIONS`].
    #[test]
    fn every_operation_is_listed() {
        let headers = [HeaderMap::new(), {
            let mut h = HeaderMap::new();
            h.insert("x-amz-copy-source", "b/k".parse().unwrap());
            h
        }];
        for method in ["GET", "PUT", "HEAD", "DELETE", "POST", "PATCH", "OPTIONS"] {
            let method: Method = method.parse().unwrap();
            for (bucket, key) in [("", ""), ("b", ""), ("b", "k")] {
                for query in
                    [&[][..], &[("list-type", "2")], &[("delete", "")], &[("uploads", "")], &[("uploadId", "1")]]
                {
                    for headers in &headers {
                        let r = S3Request {
                            method: &method,
                            bucket: bucket.to_owned(),
                            key: key.to_owned(),
                            query: query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                            headers,
                            body: Bytes::new(),
                        };
                        assert!(
                            S3_OPERATIONS.contains(&r.operation()),
                            "{method} {bucket}/{key} {query:?}: {}",
                            r.operation()
                        );
                    }
                }
            }
        }
    }
}
