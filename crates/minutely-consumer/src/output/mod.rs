//! Where closed windows go: S3 (objects at deterministic paths, checkpoints beside them), or
//! the console and stdout (no checkpoints: a restart starts from `--from` again), or memory.
//! This file dispatches; `s3.rs`, `memory.rs` and `console.rs` do the writing, `crash.rs` wraps
//! an output with an injected crash, `deadline.rs` with a lease's deadline, `error.rs` says why
//! a write failed.

use std::io::Write;
use std::sync::Arc;

use crate::aggregator::{Checkpoint, Content, Object};
use crate::layout;

mod console;
mod crash;
mod deadline;
mod error;
mod memory;
mod s3;

pub use crash::CrashAfter;
pub use deadline::Deadline;
pub use error::{CrashPoint, IfMatch, OutputError};
pub use memory::MemoryStore;
pub use s3::S3Output;

#[derive(Clone, Debug)]
pub enum Output {
    S3(S3Output),
    Memory(Arc<MemoryStore>),
    /// Readable lines on stdout; rejects on stderr.
    Console,
    /// JSON lines on stdout (the objects' lines); rejects on stderr.
    Stdout,
    /// Another output, with a crash injected after a number of object writes (fault injection,
    /// `crash.rs`): the faults wrap an output rather than live in its write path.
    Crashing(Arc<CrashAfter>, Box<Output>),
    /// Another output, that sends nothing once a lease's deadline has passed (`deadline.rs`).
    Within(Deadline, Box<Output>),
}

impl Output {
    /// Whether checkpoints can be kept (S3, and the in-memory store).
    pub fn keeps_checkpoints(&self) -> bool {
        match self {
            Output::S3(_) | Output::Memory(_) => true,
            Output::Console | Output::Stdout => false,
            Output::Crashing(_, inner) | Output::Within(_, inner) => inner.keeps_checkpoints(),
        }
    }

    /// `self`, sending nothing once `deadline` has passed: the check is the last step before
    /// the writing output, beneath any injected fault (a pause ends in the check, not past it).
    pub fn within(self, deadline: Deadline) -> Output {
        match self {
            Output::Crashing(crash, inner) => Output::Crashing(crash, Box::new(inner.within(deadline))),
            other => Output::Within(deadline, Box::new(other)),
        }
    }

    /// `self`, naming `writer` on every S3 object it writes (`x-amz-meta-minutely-writer`):
    /// which worker wrote what, for a person looking at the bucket and for the scenario
    /// engine's fence check.
    pub fn with_writer(self, writer: &str) -> Output {
        match self {
            Output::S3(s3) => Output::S3(S3Output { writer: Some(writer.to_owned()), ..s3 }),
            Output::Crashing(crash, inner) => Output::Crashing(crash, Box::new(inner.with_writer(writer))),
            Output::Within(deadline, inner) => Output::Within(deadline, Box::new(inner.with_writer(writer))),
            other => other,
        }
    }

    /// `self`, crashing after `crash.objects` object writes.
    pub fn crashing(self, crash: CrashAfter) -> Output {
        Output::Crashing(Arc::new(crash), Box::new(self))
    }

    pub async fn write(&self, object: &Object) -> Result<(), OutputError> {
        match self {
            Output::S3(s3) => {
                let content_type = "application/x-ndjson";
                s3.put(&layout::join(&s3.prefix, &object.path), object.body(), content_type).await?;
                Ok(())
            }
            Output::Crashing(crash, inner) => {
                crash.gate().await;
                Box::pin(inner.write(object)).await?;
                crash.object_written()
            }
            Output::Within(deadline, inner) => {
                deadline.check(|| inner.place(&object.path))?;
                Box::pin(inner.write(object)).await
            }
            Output::Memory(m) => m.put(&object.path, object.body()),
            Output::Console | Output::Stdout => {
                let readable = matches!(self, Output::Console);
                match &object.content {
                    Content::Counts { lines } => {
                        let mut out = std::io::stdout().lock();
                        if readable {
                            out.write_all(console::render(lines).as_bytes())?;
                        } else {
                            out.write_all(&object.body())?;
                        }
                        out.flush()?;
                    }
                    Content::Rejects { lines } => {
                        for l in lines {
                            eprintln!("{}: {}", l.place(), l.error);
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// The object at `path` (under the prefix) and its ETag, if there is one, with where it is
    /// for messages. Only outputs that keep checkpoints have objects to read.
    pub async fn read(&self, path: &str) -> Result<Option<(Vec<u8>, IfMatch)>, OutputError> {
        match self {
            Output::Memory(m) => {
                let bytes = m.objects.lock().expect("store lock").get(path).cloned();
                let etag = m.etags.lock().expect("store lock").get(path).cloned();
                Ok(bytes.map(|b| (b, etag)))
            }
            Output::S3(s3) => s3.get(&layout::join(&s3.prefix, path)).await,
            Output::Console | Output::Stdout => Ok(None),
            Output::Crashing(crash, inner) => {
                crash.gate().await;
                Box::pin(inner.read(path)).await
            }
            Output::Within(_, inner) => Box::pin(inner.read(path)).await,
        }
    }

    /// Where `path` is, for messages: `s3://bucket/prefix/path`, or `memory:path`.
    pub fn place(&self, path: &str) -> String {
        match self {
            Output::S3(s3) => format!("s3://{}/{}", s3.bucket, layout::join(&s3.prefix, path)),
            Output::Crashing(_, inner) | Output::Within(_, inner) => inner.place(path),
            _ => format!("memory:{path}"),
        }
    }

    /// The checkpoint at `path` and its ETag, if there is one.
    pub async fn load_checkpoint(&self, path: &str) -> Result<Option<(Checkpoint, IfMatch)>, OutputError> {
        let Some((bytes, etag)) = self.read(path).await? else { return Ok(None) };
        let checkpoint = serde_json::from_slice(&bytes).map_err(|e| OutputError::Unreadable {
            what: "checkpoint",
            place: self.place(path),
            message: e.to_string(),
        })?;
        Ok(Some((checkpoint, etag)))
    }

    /// Writes `body` at `path` only if the object there is still `expected` (its ETag, or
    /// `None` for no object). `Ok(None)`: it was not (another writer came first); `Ok(Some)`:
    /// written, with the new ETag. A lost answer to a write that went through counts as written.
    pub async fn write_if(
        &self,
        path: &str,
        body: Vec<u8>,
        expected: &IfMatch,
    ) -> Result<Option<IfMatch>, OutputError> {
        match self {
            Output::Memory(m) => Ok(m.put_if(path, body, expected)?.map(Some)),
            Output::S3(s3) => s3.put_if(&layout::join(&s3.prefix, path), body, expected).await,
            Output::Crashing(crash, inner) => {
                crash.gate().await;
                Box::pin(inner.write_if(path, body, expected)).await
            }
            Output::Within(deadline, inner) => {
                deadline.check(|| inner.place(path))?;
                Box::pin(inner.write_if(path, body, expected)).await
            }
            Output::Console | Output::Stdout => Ok(Some(None)),
        }
    }

    /// Writes the checkpoint at `path` only if it is still the one this worker last saw
    /// (`expected`: its ETag, or `None` for none yet): two consumers on one shard cannot both
    /// go on. Returns the new ETag.
    pub async fn save_checkpoint(
        &self,
        path: &str,
        checkpoint: &Checkpoint,
        expected: &IfMatch,
    ) -> Result<IfMatch, OutputError> {
        let body = serde_json::to_vec(checkpoint).expect("serialising to a Vec cannot fail");
        if let Output::Crashing(crash, inner) = self {
            crash.gate().await;
            let etag = Box::pin(inner.save_checkpoint(path, checkpoint, expected)).await?;
            crash.checkpoint_written()?;
            return Ok(etag);
        }
        self.write_if(path, body, expected).await?.ok_or_else(|| OutputError::Fenced { key: self.place(path) })
    }
}
