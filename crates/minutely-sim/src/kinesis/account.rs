//! The account's settings: its MinimumThroughputBillingCommitment (UpdateAccountSettings), which
//! warm throughput needs (`on_demand.rs`).

use serde::Serialize;

use super::wire::Timestamp;

/// How long a commitment lasts at least.
const COMMITMENT_MIN_MS: i64 = 24 * 3600 * 1000;

/// The account's MinimumThroughputBillingCommitment.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Commitment {
    started_ms: i64,
    /// When a disable takes effect (it was asked before the earliest end).
    ends_ms: Option<i64>,
    /// When the last commitment ended, if one did.
    ended_ms: Option<i64>,
    enabled: bool,
}

impl Commitment {
    fn earliest_end(&self) -> i64 {
        self.started_ms.saturating_add(COMMITMENT_MIN_MS)
    }

    /// Whether it holds at `now_ms` (a scheduled disable that came due has ended it).
    pub(super) fn active(&mut self, now_ms: i64) -> bool {
        if let Some(end) = self.ends_ms.filter(|&e| now_ms >= e) {
            (self.enabled, self.ends_ms, self.ended_ms) = (false, None, Some(end));
        }
        self.enabled
    }

    /// Enables it (or cancels a scheduled disable), or disables it: at once after its 24 hours,
    /// else scheduled for their end.
    pub(super) fn set(&mut self, enable: bool, now_ms: i64) {
        match (enable, self.active(now_ms)) {
            (true, true) => self.ends_ms = None,
            (true, false) => *self = Commitment { started_ms: now_ms, enabled: true, ..*self },
            (false, false) => {}
            (false, true) if now_ms >= self.earliest_end() => {
                (self.enabled, self.ends_ms, self.ended_ms) = (false, None, Some(now_ms));
            }
            (false, true) => self.ends_ms = Some(self.earliest_end()),
        }
    }

    pub(super) fn out(&mut self, now_ms: i64) -> CommitmentOut {
        let active = self.active(now_ms);
        let status = match (active, self.ends_ms) {
            (false, _) => "DISABLED",
            (true, None) => "ENABLED",
            (true, Some(_)) => "ENABLED_UNTIL_EARLIEST_ALLOWED_END",
        };
        CommitmentOut {
            status,
            started_at: active.then_some(Timestamp(self.started_ms)),
            ended_at: self.ended_ms.filter(|_| !active).map(Timestamp),
            earliest_allowed_end_at: active.then_some(Timestamp(self.earliest_end())),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommitmentOut {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub earliest_allowed_end_at: Option<Timestamp>,
}
