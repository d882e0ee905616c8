//! The one retry policy: full-jitter exponential backoff (AWS's "Exponential Backoff And
//! Jitter") from a seeded RNG, with an optional deadline, retrying only what
//! [`AwsError::retryable`] says another attempt can fix; and [`RetryLog`], which says that a run
//! is retrying (what, how often, the last error) at least every 10 s.
//!
//! Time is tokio's clock (`tokio::time`): a test that pauses it runs a retry storm of minutes
//! in microseconds, and the same seed gives the same waits.

use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;

use crate::clock::{self, Instant};
use crate::rng;

use crate::error::{AwsError, Cause};

/// How long and how often to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first backoff's cap; each retry doubles it.
    pub base: Duration,
    /// The largest cap.
    pub max_backoff: Duration,
    /// Give up this long after the first attempt (`None`: retry until stopped).
    pub deadline: Option<Duration>,
    /// Whether a connection that fails ([`Cause::Unreachable`]) is tried again: yes during a
    /// run (a dropped connection), no for the first calls of a run, where it means a wrong
    /// endpoint or an emulator that is not running.
    pub retry_unreachable: bool,
}

impl Default for RetryPolicy {
    /// 50 ms doubling to 5 s, for two minutes.
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            deadline: Some(Duration::from_secs(120)),
            retry_unreachable: true,
        }
    }
}

impl RetryPolicy {
    /// The first calls of a run (a stream's status, its shards, the bucket): retried only
    /// when throttled or failing on the service's side, for at most a minute; an endpoint that
    /// does not answer fails at once.
    pub const FIRST_CALLS: RetryPolicy = RetryPolicy {
        base: Duration::from_millis(100),
        max_backoff: Duration::from_secs(2),
        deadline: Some(Duration::from_secs(60)),
        retry_unreachable: false,
    };

    /// Whether `e` is worth another attempt under this policy.
    pub fn retries(&self, e: &AwsError) -> bool {
        e.retryable() && (self.retry_unreachable || e.cause != Cause::Unreachable)
    }

    /// Full jitter: uniform in `[0, min(max_backoff, base * 2^attempt)]`.
    pub fn backoff(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let cap = self.base.saturating_mul(1u32 << attempt.min(20)).min(self.max_backoff);
        Duration::from_secs_f64(rng.random::<f64>() * cap.as_secs_f64())
    }
}

/// The retries of one piece of work (a batch, a call, a shard's reads): the attempts so far and
/// when it started.
#[derive(Debug)]
pub struct Backoff {
    policy: RetryPolicy,
    attempt: u32,
    started: Instant,
    rng: rng::Rng,
}

impl Backoff {
    /// Jitter drawn from `seed`: the same seed, the same waits.
    pub fn new(policy: RetryPolicy, seed: u64) -> Backoff {
        Backoff { policy, attempt: 0, started: clock::now(), rng: rng::seeded(seed) }
    }

    /// The wait before the next attempt, or `None` when it would end past the deadline.
    pub fn next_wait(&mut self) -> Option<Duration> {
        let wait = self.policy.backoff(self.attempt, &mut self.rng);
        self.attempt = self.attempt.saturating_add(1);
        match self.policy.deadline {
            Some(deadline) if self.started.elapsed() + wait > deadline => None,
            _ => Some(wait),
        }
    }

    /// A success: the next failure starts from the base again, and the deadline from now.
    pub fn reset(&mut self) {
        self.attempt = 0;
        self.started = clock::now();
    }
}

/// Says that something is retrying, at most once per [`RetryLog::EVERY`]: how many retries
/// since it last said so, over how long, and the last error. Shared by every task retrying the
/// same thing (clones share the count).
#[derive(Clone)]
pub struct RetryLog {
    what: Arc<str>,
    state: Arc<Mutex<LogState>>,
    say: Arc<dyn Fn(&str) + Send + Sync>,
}

#[derive(Debug, Default)]
struct LogState {
    /// The start of the span the next report covers: the last report, or the first retry after
    /// a quiet spell.
    since: Option<Instant>,
    /// The last retry noted.
    last: Option<Instant>,
    retries: u64,
    total: u64,
}

impl std::fmt::Debug for RetryLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryLog").field("what", &self.what).field("state", &self.state).finish_non_exhaustive()
    }
}

impl RetryLog {
    /// How often a retrying run says so.
    pub const EVERY: Duration = Duration::from_secs(10);

    /// Reports on stderr, as `minutely: retrying WHAT: ...`.
    pub fn stderr(what: impl Into<String>) -> RetryLog {
        RetryLog::to(what, |line| eprintln!("minutely: {line}"))
    }

    /// Reports to `say` (tests collect the lines).
    pub fn to(what: impl Into<String>, say: impl Fn(&str) + Send + Sync + 'static) -> RetryLog {
        RetryLog { what: what.into().into(), state: Arc::default(), say: Arc::new(say) }
    }

    /// `retries` more retries because of `last`; reports when the span since the last report
    /// (or since retrying began) is [`RetryLog::EVERY`] long. Retries after a quiet spell longer
    /// than that begin a new span.
    pub fn retried(&self, retries: u64, last: &dyn Display) {
        let now = clock::now();
        let line = {
            let mut s = self.state.lock().expect("retry log lock");
            if s.last.is_some_and(|l| now - l > RetryLog::EVERY) {
                s.since = None;
                s.retries = 0;
            }
            s.last = Some(now);
            s.retries += retries;
            s.total += retries;
            let since = *s.since.get_or_insert(now);
            let span = now - since;
            if span < RetryLog::EVERY {
                return;
            }
            let line = format!(
                "retrying {}: {} retries in the last {:.0} s ({} in all), last: {last}",
                self.what,
                s.retries,
                span.as_secs_f64(),
                s.total
            );
            s.since = Some(now);
            s.retries = 0;
            line
        };
        (self.say)(&line);
    }

    /// Retries reported or not, in all.
    pub fn total(&self) -> u64 {
        self.state.lock().expect("retry log lock").total
    }
}

/// Calls `call` until it succeeds, fails with an error that retrying cannot fix, or the policy's
/// deadline passes (the last error is returned then).
pub async fn retry<T, F, Fut>(policy: RetryPolicy, seed: u64, log: &RetryLog, mut call: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let mut backoff = Backoff::new(policy, seed);
    loop {
        let e = match call().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !policy.retries(&e) {
            return Err(e);
        }
        let Some(wait) = backoff.next_wait() else { return Err(e) };
        log.retried(1, &e);
        clock::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(cause: Cause) -> AwsError {
        AwsError::new("GetObject", "s3://b/k", cause, format!("{cause:?}"))
    }

    #[test]
    fn backoff_stays_under_its_cap_and_the_same_seed_waits_the_same() {
        let p = RetryPolicy { deadline: None, ..RetryPolicy::default() };
        let mut rng = rng::seeded(7);
        for attempt in 0..40 {
            let cap = (Duration::from_millis(50) * 2u32.pow(attempt.min(20))).min(Duration::from_secs(5));
            assert!(p.backoff(attempt, &mut rng) <= cap);
        }
        let waits = |seed| {
            let mut b = Backoff::new(p, seed);
            (0..10).map(|_| b.next_wait().unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(waits(3), waits(3));
        assert_ne!(waits(3), waits(4));
    }

    /// Five minutes of a service that keeps failing, under tokio's paused clock: retried with
    /// growing waits until the deadline, reported every 10 s, and over in no real time.
    #[tokio::test(start_paused = true)]
    async fn a_retry_storm_gives_up_at_the_deadline_and_says_so_every_ten_seconds() {
        let policy = RetryPolicy {
            base: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            deadline: Some(Duration::from_secs(60)),
            retry_unreachable: true,
        };
        let lines = Arc::new(Mutex::new(Vec::new()));
        let log = {
            let lines = lines.clone();
            RetryLog::to("GetObject s3://b/k", move |l| lines.lock().unwrap().push(l.to_owned()))
        };
        let started = clock::now();
        let real = std::time::Instant::now();
        let mut calls = 0u32;
        let r: Result<(), _> = retry(policy, 42, &log, || {
            calls += 1;
            async { Err(error(Cause::Throttled)) }
        })
        .await;
        let e = r.unwrap_err();
        assert_eq!(e.cause, Cause::Throttled);
        let virtual_elapsed = started.elapsed();
        assert!(
            virtual_elapsed <= Duration::from_secs(60) && virtual_elapsed > Duration::from_secs(55),
            "{virtual_elapsed:?}"
        );
        assert!(real.elapsed() < Duration::from_secs(5));
        // Waits average 1 s once capped: about 60 calls.
        assert!((40..=90).contains(&calls), "{calls}");
        let lines = lines.lock().unwrap().clone();
        assert!((5..=6).contains(&lines.len()), "{lines:?}");
        assert!(lines.iter().all(|l| l.contains(" retries in the last 1")), "{lines:?}");
        assert!(
            lines[0].starts_with("retrying GetObject s3://b/k: ")
                && lines[0].ends_with("last: GetObject s3://b/k: Throttled"),
            "{}",
            lines[0]
        );
        assert_eq!(log.total(), u64::from(calls) - 1);
        // The same seed: the same number of calls.
        let mut again = 0u32;
        let _ = retry(policy, 42, &RetryLog::to("x", |_| {}), || {
            again += 1;
            async { Err::<(), _>(error(Cause::Throttled)) }
        })
        .await;
        assert_eq!(again, calls);
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_retrying_cannot_fix_ends_at_once() {
        let log = RetryLog::to("x", |_| panic!("nothing to report"));
        for cause in [Cause::NoCredentials, Cause::NoRegion, Cause::Denied, Cause::NotFound, Cause::Invalid] {
            let mut calls = 0;
            let r: Result<(), _> = retry(RetryPolicy::default(), 1, &log, || {
                calls += 1;
                async move { Err(error(cause)) }
            })
            .await;
            assert_eq!((calls, r.unwrap_err().cause), (1, cause));
        }
        let mut calls = 0;
        let r: Result<(), _> = retry(RetryPolicy::FIRST_CALLS, 1, &log, || {
            calls += 1;
            async { Err(error(Cause::Unreachable)) }
        })
        .await;
        assert_eq!((calls, r.unwrap_err().cause), (1, Cause::Unreachable));
        let mut calls = 0;
        let r = retry(RetryPolicy::default(), 1, &log, || {
            calls += 1;
            let n = calls;
            async move { if n < 3 { Err(error(Cause::ServerError)) } else { Ok(n) } }
        })
        .await;
        assert_eq!(r.unwrap(), 3);
    }
}
