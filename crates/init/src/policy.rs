//! Restart policy and back-off. Time is passed in explicitly (as a
//! [`Duration`] since any fixed origin, e.g. boot) so this is testable.

#[allow(unused_imports)]
use crate::prelude::*;

use core::time::Duration;

/// A child that died this soon after starting counts as a crash loop.
pub const FAST_EXIT: Duration = Duration::from_secs(1);
/// A child that ran at least this long resets the back-off.
pub const STABLE_RUN: Duration = Duration::from_secs(10);
/// First back-off delay; doubled on each fast exit.
pub const BACKOFF_START: Duration = Duration::from_secs(1);
/// Back-off ceiling.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// `service NAME RESTART ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    Always,
    OnFailure,
    Never,
}

impl Restart {
    pub fn parse(s: &str) -> Option<Restart> {
        match s {
            "always" => Some(Restart::Always),
            "on-failure" => Some(Restart::OnFailure),
            "never" => Some(Restart::Never),
            _ => None,
        }
    }

    /// [`Restart::parse`] with the message every reader of a config gives.
    pub fn from_word(s: &str) -> Result<Restart, String> {
        Restart::parse(s).ok_or_else(|| {
            format!(
                "unknown restart policy {} (want always, on-failure or never)",
                crate::rules::shown(s)
            )
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Restart::Always => "always",
            Restart::OnFailure => "on-failure",
            Restart::Never => "never",
        }
    }

    /// Whether a child that ended with `exit` should be started again.
    pub fn should_restart(self, exit: Exit) -> bool {
        match self {
            Restart::Always => true,
            Restart::OnFailure => !exit.success(),
            Restart::Never => false,
        }
    }
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `exit(code)`.
    Code(i32),
    /// Killed by this signal number.
    Signal(i32),
}

impl Exit {
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

/// Crash-loop back-off: a child that dies within [`FAST_EXIT`] of starting
/// waits 1 s, 2 s, 4 s ... (max 30 s) before its next start; one that ran
/// for [`STABLE_RUN`] or more resets the delay. Exits in between restart at
/// once and keep the current delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    next_delay: Duration,
    started_at: Option<Duration>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next_delay: BACKOFF_START,
            started_at: None,
        }
    }
}

impl Backoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the child was started at `now`.
    pub fn started(&mut self, now: Duration) {
        self.started_at = Some(now);
    }

    /// Records that the child exited at `now`; returns how long to wait
    /// before starting it again.
    pub fn exited(&mut self, now: Duration) -> Duration {
        let ran = now.saturating_sub(self.started_at.take().unwrap_or(now));
        if ran >= STABLE_RUN {
            self.next_delay = BACKOFF_START;
            Duration::ZERO
        } else if ran < FAST_EXIT {
            let delay = self.next_delay;
            self.next_delay = (self.next_delay * 2).min(BACKOFF_MAX);
            delay
        } else {
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn restart_policy() {
        for r in [Restart::Always, Restart::OnFailure, Restart::Never] {
            assert_eq!(Restart::parse(r.as_str()), Some(r));
        }
        assert_eq!(Restart::parse("sometimes"), None);
        assert_eq!(
            Restart::from_word("sometimes").unwrap_err(),
            "unknown restart policy 'sometimes' (want always, on-failure or never)"
        );
        let ok = Exit::Code(0);
        let bad = Exit::Code(3);
        let sig = Exit::Signal(9);
        assert!(Restart::Always.should_restart(ok));
        assert!(Restart::Always.should_restart(sig));
        assert!(!Restart::OnFailure.should_restart(ok));
        assert!(Restart::OnFailure.should_restart(bad));
        assert!(Restart::OnFailure.should_restart(sig));
        assert!(!Restart::Never.should_restart(bad));
    }

    #[test]
    fn fast_exits_double_up_to_max() {
        let mut b = Backoff::new();
        let mut now = s(100);
        let mut delays = Vec::new();
        for _ in 0..8 {
            b.started(now);
            now += Duration::from_millis(200);
            let d = b.exited(now);
            delays.push(d.as_secs());
            now += d;
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn stable_run_resets_and_medium_run_keeps() {
        let mut b = Backoff::new();
        b.started(s(0));
        assert_eq!(b.exited(Duration::from_millis(10)), s(1));
        b.started(s(1));
        assert_eq!(b.exited(Duration::from_millis(1500)), s(2));
        // Ran 5 s: immediate restart, delay kept.
        b.started(s(10));
        assert_eq!(b.exited(s(15)), Duration::ZERO);
        b.started(s(15));
        assert_eq!(b.exited(s(15)), s(4));
        // Ran 10 s: reset.
        b.started(s(20));
        assert_eq!(b.exited(s(30)), Duration::ZERO);
        b.started(s(30));
        assert_eq!(b.exited(s(30)), s(1));
    }

    #[test]
    fn exit_without_start_counts_as_fast() {
        let mut b = Backoff::new();
        assert_eq!(b.exited(s(5)), s(1));
        assert_eq!(b.exited(s(5)), s(2));
    }
}
