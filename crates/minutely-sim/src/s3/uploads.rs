//! The multipart uploads in progress: their own lock in [`super::Store`], taken before the
//! buckets' when both are held; the operations on them are in `multipart.rs`.

use std::collections::BTreeMap;

use bytes::Bytes;

/// The open multipart uploads, by id.
#[derive(Debug, Default)]
pub(crate) struct Uploads {
    pub(crate) next_id: u64,
    pub(crate) open: BTreeMap<String, Upload>,
}

/// An upload begun and not yet completed or aborted.
#[derive(Debug)]
pub(crate) struct Upload {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) initiated_ms: i64,
    pub(crate) content_type: Option<String>,
    pub(crate) parts: BTreeMap<u32, Part>,
}

#[derive(Debug)]
pub(crate) struct Part {
    pub(crate) data: Bytes,
    pub(crate) md5: md5::digest::Output<md5::Md5>,
    pub(crate) modified_ms: i64,
}

impl Part {
    pub(crate) fn etag(&self) -> String {
        format!("{:x}", self.md5)
    }
}
