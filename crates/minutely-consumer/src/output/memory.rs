//! Objects and checkpoints in memory: the output of tests and in-process pipelines, with ETags
//! and an injected failure.

use std::sync::atomic::{AtomicU64, Ordering};

use minutely_aws::{AwsError, Cause};

use super::error::{IfMatch, OutputError};

/// Objects and checkpoints in memory, for tests and in-process pipelines. With `fail_after`,
/// the write after that many fails: a crash at that point, as far as the worker can tell.
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub objects: std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
    pub fail_after: std::sync::Mutex<Option<u64>>,
    /// The ETag of each object: a write counter.
    pub(crate) etags: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
    writes: AtomicU64,
}

impl MemoryStore {
    /// A write that succeeds only if the object's ETag is `expected` (`None`: no object);
    /// `Ok(None)` when it is not.
    pub(crate) fn put_if(&self, path: &str, body: Vec<u8>, expected: &IfMatch) -> Result<Option<String>, OutputError> {
        let current = self.etags.lock().expect("store lock").get(path).cloned();
        if current != *expected {
            return Ok(None);
        }
        self.put(path, body)?;
        let etag = format!("\"{}\"", self.writes.fetch_add(1, Ordering::SeqCst));
        self.etags.lock().expect("store lock").insert(path.to_owned(), etag.clone());
        Ok(Some(etag))
    }

    pub(crate) fn put(&self, path: &str, body: Vec<u8>) -> Result<(), OutputError> {
        let mut fail = self.fail_after.lock().expect("store lock");
        match fail.as_mut() {
            Some(0) => {
                let target = format!("memory:{path}");
                return Err(AwsError::new("PutObject", target, Cause::Other, "injected failure").into());
            }
            Some(n) => *n -= 1,
            None => {}
        }
        self.objects.lock().expect("store lock").insert(path.to_owned(), body);
        Ok(())
    }

    /// The objects under `prefix`, by path.
    pub fn under(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        let objects = self.objects.lock().expect("store lock");
        objects
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}
