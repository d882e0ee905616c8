//! S3, path style, over plain HTTP: buckets and objects in memory.
//!
//! Written by hand rather than on `s3s`: s3s 0.12 and 0.13 pin release candidates of md-5,
//! sha2 and hmac (`=0.11.0-rc.x`), which forces cargo to take the AWS SDK back 27 minor
//! versions. What this file needs of the protocol is small: path routing, the aws-chunked
//! bodies the SDKs send (with their CRC32 trailer checked), conditional writes, ranges and four
//! XML answers. Conditional writes (`If-None-Match: *`, `If-Match`) are checked and applied
//! under one lock, so two writers racing on a key get one 200 and one 412.

//!
//! `wire.rs`: errors, replies and encodings; `request.rs`: a request and its operation;
//! `store.rs`: buckets, objects and the operations; `multipart.rs`: multipart uploads and
//! copies; this file routes.

mod multipart;
mod request;
mod store;
mod uploads;
mod wire;

pub use request::S3Request;
pub use store::{BucketState, S3Write, Store, StoredObject};
pub use wire::{Reply, S3Error, decode_aws_chunked, escape, split_path, url_encode};
use wire::{err, no_bucket};

impl Store {
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
            "s3:CreateMultipartUpload" => self.create_multipart_upload(&r),
            "s3:UploadPart" | "s3:UploadPartCopy" => self.upload_part(r),
            "s3:CompleteMultipartUpload" => self.complete_multipart_upload(&r),
            "s3:AbortMultipartUpload" => self.abort_multipart_upload(&r),
            "s3:ListParts" => self.list_parts(&r),
            "s3:ListMultipartUploads" => self.list_multipart_uploads(&r),
            "s3:CopyObject" => self.copy_object(&r),
            "s3:PutObject" => self.put_object(r),
            "s3:GetObject" | "s3:HeadObject" => self.get_object(&r),
            "s3:DeleteObject" => self.delete_object(&r),
            _ => Err(err(405, "MethodNotAllowed", format!("{} is not allowed on {}/{}", r.method, r.bucket, r.key))),
        }
    }
}
