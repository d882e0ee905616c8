//! Request bodies held at once, bounded: each body reserves its declared length (its
//! operation's cap when it declares none) before it is read, and gives it back when its call
//! is answered. Without it, a thousand connections each sending a 256 MiB PutObject would hold
//! 256 GiB; with it, a call that does not fit is answered 503 at once, before its body is read.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The default budget: 1 GiB of bodies being read at once.
pub(crate) const DEFAULT_BYTES: usize = 1024 * 1024 * 1024;

#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    max: usize,
}

/// Bytes reserved until dropped.
#[derive(Debug)]
pub(crate) struct Reservation<'a> {
    budget: &'a Budget,
    bytes: usize,
}

impl Budget {
    pub(crate) fn new(max: usize) -> Budget {
        Budget { used: AtomicUsize::new(0), max }
    }

    /// Reserves what a body of `declared` bytes (`None`: undeclared) needs, at most `cap`.
    /// `None`: it does not fit beside the bodies being read.
    pub(crate) fn reserve(&self, declared: Option<usize>, cap: usize) -> Option<Reservation<'_>> {
        let bytes = declared.unwrap_or(cap).min(cap);
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let next = used.checked_add(bytes).filter(|n| *n <= self.max)?;
            match self.used.compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Some(Reservation { budget: self, bytes }),
                Err(now) => used = now,
            }
        }
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// The body length a request declares.
pub(crate) fn declared(headers: &http::HeaderMap) -> Option<usize> {
    headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_the_budget_and_are_given_back() {
        let b = Budget::new(100);
        let a = b.reserve(Some(60), 1000).unwrap();
        assert!(b.reserve(Some(50), 1000).is_none(), "60 + 50 > 100");
        let c = b.reserve(None, 40).unwrap();
        assert!(b.reserve(Some(1), 1000).is_none(), "full");
        drop(a);
        assert!(b.reserve(Some(60), 1000).is_some());
        drop(c);
        assert!(b.reserve(Some(usize::MAX), usize::MAX).is_none(), "no overflow");
        assert_eq!(b.used.load(Ordering::Relaxed), 0);
    }
}
