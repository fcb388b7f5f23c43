//! The restart policy and its back-off, as pure functions.
//!
//! - `no`: never restarted.
//! - `on-failure`: restarted after a non-zero exit, a death by signal (OOM kills
//!   included) or a failure to start.
//! - `always`: restarted after any exit.
//!
//! A container stopped by the operator (`kiln-ctr stop`) or by shutdown is never
//! restarted, whatever its policy: the caller asks [`should_restart`] only for exits
//! nobody asked for.
//!
//! Back-off: the first restart waits 1 s, each next one twice as long, up to 30 s; a
//! run of 10 s or more resets it to 1 s.

use crate::manifest::Restart;
use crate::state::Exit;
use std::time::Duration;

pub const FIRST_DELAY: Duration = Duration::from_secs(1);
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// A run at least this long resets the back-off.
pub const RESET_AFTER: Duration = Duration::from_secs(10);

/// Whether a container that ended on its own is started again.
pub fn should_restart(policy: Restart, exit: &Exit) -> bool {
    match policy {
        Restart::No => false,
        Restart::Always => true,
        Restart::OnFailure => exit.failed(),
    }
}

/// The back-off of one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST_DELAY }
    }
}

impl Backoff {
    /// The wait before the next start, after a run of `ran_for`; doubles the one after.
    pub fn delay(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= RESET_AFTER {
            self.next = FIRST_DELAY;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(MAX_DELAY);
        delay
    }

    /// Forget earlier failures (an operator's `start` or `restart`).
    pub fn reset(&mut self) {
        self.next = FIRST_DELAY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(code: Option<i32>, signal: Option<i32>) -> Exit {
        Exit { code, signal, ..Exit::default() }
    }

    #[test]
    fn policies() {
        let ok = exit(Some(0), None);
        let bad = exit(Some(3), None);
        let killed = exit(None, Some(9));
        let failed = Exit { error: Some("CNI plugin bridge failed".into()), ..Exit::default() };
        for e in [&ok, &bad, &killed, &failed] {
            assert!(!should_restart(Restart::No, e));
            assert!(should_restart(Restart::Always, e));
        }
        assert!(!should_restart(Restart::OnFailure, &ok));
        assert!(should_restart(Restart::OnFailure, &bad));
        assert!(should_restart(Restart::OnFailure, &killed));
        assert!(should_restart(Restart::OnFailure, &failed));
        let oom = Exit { oom_killed: true, ..exit(None, Some(9)) };
        assert!(should_restart(Restart::OnFailure, &oom));
    }

    #[test]
    fn backoff_doubles_to_30_s() {
        let mut b = Backoff::default();
        let short = Duration::from_millis(200);
        let got: Vec<u64> = (0..8).map(|_| b.delay(short).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn a_long_run_resets_it() {
        let mut b = Backoff::default();
        b.delay(Duration::ZERO);
        b.delay(Duration::ZERO);
        assert_eq!(b.delay(Duration::from_secs(9)), Duration::from_secs(4));
        assert_eq!(b.delay(Duration::from_secs(10)), Duration::from_secs(1));
        assert_eq!(b.delay(Duration::ZERO), Duration::from_secs(2));
        b.reset();
        assert_eq!(b.delay(Duration::ZERO), Duration::from_secs(1));
    }
}
