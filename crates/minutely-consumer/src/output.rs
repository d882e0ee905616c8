//! Where closed windows go: S3 (objects at deterministic paths, checkpoints beside them), or
//! the console and stdout (no checkpoints: a restart starts from `--from` again).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use rand::Rng;

use crate::aggregator::{Checkpoint, Content, Object};
use crate::layout;

/// Why output failed for good (after retries).
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("S3 {what} s3://{bucket}/{key}: {message}")]
    S3 { what: &'static str, bucket: String, key: String, message: String },
    #[error("checkpoint s3://{bucket}/{key} is not readable: {message}")]
    BadCheckpoint { bucket: String, key: String, message: String },
    #[error("writing to stdout")]
    Io(#[from] std::io::Error),
    #[error("fault injection: a crash after {objects} object writes, {at}")]
    InjectedCrash { objects: u64, at: CrashPoint },
    #[error(
        "another consumer wrote the checkpoint {key} since this one read it: stopping (run one consumer per stream and prefix)"
    )]
    Fenced { key: String },
}

/// What a conditional write expects to find: the ETag it last saw, or no object at all.
pub type Expected = Option<String>;

/// Where, around the checkpoint that follows the objects, an injected crash happens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CrashPoint {
    /// Between an object write and its checkpoint: the worst moment (the objects are written
    /// again after the restart, to the same paths).
    #[default]
    BeforeCheckpoint,
    /// Right after the checkpoint that follows the objects: a clean point.
    AfterCheckpoint,
}

impl std::fmt::Display for CrashPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CrashPoint::BeforeCheckpoint => "before the checkpoint",
            CrashPoint::AfterCheckpoint => "after the checkpoint",
        })
    }
}

/// A crash after a number of object writes, before or after the checkpoint that follows them:
/// how the tests and scenarios kill a consumer at a chosen moment. Fires once.
#[derive(Debug)]
pub struct CrashAfter {
    pub objects: u64,
    pub at: CrashPoint,
    /// Exit the process (`true`), or fail the write so that the run ends with
    /// [`OutputError::InjectedCrash`] (in-process runs, which then start a new consumer).
    pub exit: bool,
    written: AtomicU64,
    /// The objects are written; the crash waits for the next checkpoint.
    armed: std::sync::atomic::AtomicBool,
}

impl CrashAfter {
    pub fn new(objects: u64, exit: bool) -> CrashAfter {
        CrashAfter::at(objects, CrashPoint::BeforeCheckpoint, exit)
    }

    pub fn at(objects: u64, at: CrashPoint, exit: bool) -> CrashAfter {
        CrashAfter { objects, at, exit, written: AtomicU64::new(0), armed: Default::default() }
    }

    fn object_written(&self) -> Result<(), OutputError> {
        if self.written.fetch_add(1, Ordering::SeqCst) + 1 != self.objects {
            return Ok(());
        }
        match self.at {
            CrashPoint::BeforeCheckpoint => self.crash(),
            CrashPoint::AfterCheckpoint => {
                self.armed.store(true, Ordering::SeqCst);
                Ok(())
            }
        }
    }

    fn checkpoint_written(&self) -> Result<(), OutputError> {
        if self.armed.swap(false, Ordering::SeqCst) { self.crash() } else { Ok(()) }
    }

    fn crash(&self) -> Result<(), OutputError> {
        if self.exit {
            eprintln!("minutely: fault injection: exiting after {} object writes, {}", self.objects, self.at);
            std::process::exit(86);
        }
        Err(OutputError::InjectedCrash { objects: self.objects, at: self.at })
    }
}

#[derive(Clone, Debug)]
pub struct S3Output {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
    pub prefix: String,
    /// Keep retrying a failed write this long.
    pub retry_deadline: Duration,
    pub crash_after: Option<Arc<CrashAfter>>,
}

/// Objects and checkpoints in memory, for tests and in-process pipelines. With `fail_after`,
/// the write after that many fails: a crash at that point, as far as the worker can tell.
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub objects: std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
    pub fail_after: std::sync::Mutex<Option<u64>>,
    /// The ETag of each object: a write counter.
    etags: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
    writes: AtomicU64,
}

impl MemoryStore {
    /// A write that succeeds only if the object's ETag is `expected` (`None`: no object).
    fn put_if(&self, path: &str, body: Vec<u8>, expected: &Expected) -> Result<String, OutputError> {
        let current = self.etags.lock().expect("store lock").get(path).cloned();
        if current != *expected {
            return Err(OutputError::Fenced { key: path.to_owned() });
        }
        self.put(path, body)?;
        let etag = format!("\"{}\"", self.writes.fetch_add(1, Ordering::SeqCst));
        self.etags.lock().expect("store lock").insert(path.to_owned(), etag.clone());
        Ok(etag)
    }

    fn put(&self, path: &str, body: Vec<u8>) -> Result<(), OutputError> {
        let mut fail = self.fail_after.lock().expect("store lock");
        match fail.as_mut() {
            Some(0) => {
                return Err(OutputError::S3 {
                    what: "put",
                    bucket: "memory".into(),
                    key: path.into(),
                    message: "injected failure".into(),
                });
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

#[derive(Clone, Debug)]
pub enum Output {
    S3(S3Output),
    Memory(Arc<MemoryStore>),
    /// Readable lines on stdout; rejects on stderr.
    Console,
    /// JSON lines on stdout (the objects' lines); rejects on stderr.
    Stdout,
}

impl Output {
    /// Whether checkpoints can be kept (S3, and the in-memory store).
    pub fn keeps_checkpoints(&self) -> bool {
        matches!(self, Output::S3(_) | Output::Memory(_))
    }

    pub async fn write(&self, object: &Object) -> Result<(), OutputError> {
        match self {
            Output::S3(s3) => {
                let content_type = "application/x-ndjson";
                s3.put(&layout::join(&s3.prefix, &object.path), object.body(), content_type).await?;
                match &s3.crash_after {
                    Some(c) => c.object_written(),
                    None => Ok(()),
                }
            }
            Output::Memory(m) => m.put(&object.path, object.body()),
            Output::Console | Output::Stdout => {
                let readable = matches!(self, Output::Console);
                match &object.content {
                    Content::Counts { lines } => {
                        let mut out = std::io::stdout().lock();
                        if readable {
                            out.write_all(crate::console::render(lines).as_bytes())?;
                        } else {
                            out.write_all(&object.body())?;
                        }
                        out.flush()?;
                    }
                    Content::Rejects { lines } => {
                        for l in lines {
                            eprintln!("{}:{}: {}", l.worker, l.position, l.error);
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// The checkpoint at `path` and its ETag, if there is one.
    pub async fn load_checkpoint(&self, path: &str) -> Result<Option<(Checkpoint, Expected)>, OutputError> {
        let (key, found) = match self {
            Output::Memory(m) => {
                let bytes = m.objects.lock().expect("store lock").get(path).cloned();
                let etag = m.etags.lock().expect("store lock").get(path).cloned();
                (path.to_owned(), bytes.map(|b| (b, etag)))
            }
            Output::S3(s3) => {
                let key = layout::join(&s3.prefix, path);
                let found = s3.get(&key).await?;
                (key, found)
            }
            Output::Console | Output::Stdout => return Ok(None),
        };
        let Some((bytes, etag)) = found else { return Ok(None) };
        let bucket = match self {
            Output::S3(s3) => s3.bucket.clone(),
            _ => "memory".into(),
        };
        let checkpoint = serde_json::from_slice(&bytes).map_err(|e| OutputError::BadCheckpoint {
            bucket,
            key,
            message: e.to_string(),
        })?;
        Ok(Some((checkpoint, etag)))
    }

    /// Writes the checkpoint at `path` only if it is still the one this worker last saw
    /// (`expected`: its ETag, or `None` for none yet): two consumers on one shard cannot both
    /// go on. Returns the new ETag.
    pub async fn save_checkpoint(
        &self,
        path: &str,
        checkpoint: &Checkpoint,
        expected: &Expected,
    ) -> Result<Expected, OutputError> {
        let body = serde_json::to_vec(checkpoint).expect("serialising to a Vec cannot fail");
        match self {
            Output::Memory(m) => m.put_if(path, body, expected).map(Some),
            Output::S3(s3) => {
                let etag = s3.put_checkpoint(&layout::join(&s3.prefix, path), body, expected).await?;
                if let Some(c) = &s3.crash_after {
                    c.checkpoint_written()?;
                }
                Ok(etag)
            }
            Output::Console | Output::Stdout => Ok(None),
        }
    }
}

impl S3Output {
    fn error(&self, what: &'static str, key: &str, message: String) -> OutputError {
        OutputError::S3 { what, bucket: self.bucket.clone(), key: key.to_owned(), message }
    }

    /// Fails with a clear message when the bucket is missing or not ours.
    pub async fn check_bucket(&self) -> Result<(), OutputError> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let message = match status {
                    Some(404) => "the bucket does not exist (create it, or pass --create-bucket)".to_owned(),
                    Some(403) => "access denied to the bucket".to_owned(),
                    _ => aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
                };
                Err(self.error("bucket", "", message))
            }
        }
    }

    pub async fn create_bucket(&self) -> Result<(), OutputError> {
        match self.client.create_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => Ok(()),
            Err(e) => Err(self.error("create bucket", "", aws_sdk_s3::error::DisplayErrorContext(&e).to_string())),
        }
    }

    /// PutObject, retried (see [`S3Output::retrying`]).
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), OutputError> {
        self.retrying("put", key, || async {
            let put = self.client.put_object().bucket(&self.bucket).key(key).content_type(content_type);
            match put.body(ByteStream::from(body.clone())).send().await {
                Ok(_) => Ok(()),
                Err(e) => Err(failure(&e)),
            }
        })
        .await
    }

    /// PutObject with `If-Match: <expected>` (or `If-None-Match: *` when no checkpoint was seen).
    /// A failed precondition is checked against what is there: the same bytes mean an earlier
    /// attempt of this write went through (its answer was lost); anything else means another
    /// consumer wrote it.
    async fn put_checkpoint(&self, key: &str, body: Vec<u8>, expected: &Expected) -> Result<Expected, OutputError> {
        let sent = self
            .retrying("put", key, || async {
                let mut put = self.client.put_object().bucket(&self.bucket).key(key).content_type("application/json");
                put = match expected {
                    Some(etag) => put.if_match(etag),
                    None => put.if_none_match("*"),
                };
                match put.body(ByteStream::from(body.clone())).send().await {
                    Ok(out) => Ok(Ok(out.e_tag().map(str::to_owned))),
                    // 412: precondition failed; 404: If-Match on an object that is gone.
                    Err(e) if matches!(e.raw_response().map(|r| r.status().as_u16()), Some(412 | 404)) => Ok(Err(())),
                    Err(e) => Err(failure(&e)),
                }
            })
            .await?;
        match sent {
            Ok(etag) => Ok(etag),
            Err(()) => match self.get(key).await? {
                Some((there, etag)) if there == body => Ok(etag),
                _ => Err(OutputError::Fenced { key: format!("s3://{}/{key}", self.bucket) }),
            },
        }
    }

    /// GetObject: the bytes and the ETag; `None` when there is no such key.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Expected)>, OutputError> {
        self.retrying("get", key, || async {
            match self.client.get_object().bucket(&self.bucket).key(key).send().await {
                Ok(out) => {
                    let etag = out.e_tag().map(str::to_owned);
                    match out.body.collect().await {
                        Ok(bytes) => Ok(Some((bytes.into_bytes().to_vec(), etag))),
                        Err(e) => Err((None, e.to_string())),
                    }
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
                Err(e) => Err(failure(&e)),
            }
        })
        .await
    }

    /// Retries `call` with jittered exponential backoff on throttling, 5xx and network errors
    /// until the retry deadline; a 4xx (missing bucket, access denied) fails at once.
    async fn retrying<T, F, Fut>(&self, what: &'static str, key: &str, mut call: F) -> Result<T, OutputError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, (Option<u16>, String)>>,
    {
        let start = tokio::time::Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            let (status, message) = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let fatal = status.is_some_and(|s| (400..500).contains(&s) && s != 408 && s != 429);
            if fatal || start.elapsed() + backoff > self.retry_deadline {
                return Err(self.error(what, key, message));
            }
            let wait = rand::rng().random_range(backoff / 2..=backoff);
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// The HTTP status (if there was a response) and the full message of an SDK error.
fn failure<E: std::error::Error + 'static>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> (Option<u16>, String) {
    (e.raw_response().map(|r| r.status().as_u16()), aws_sdk_s3::error::DisplayErrorContext(e).to_string())
}
