//! The parts of shutdown that need no system calls: which signal asks for
//! what, and when each service's grace period runs out.
//!
//! Shutdown (in the binary) goes: SIGTERM (+ SIGCONT) to every process; wait
//! for the services, each up to its own stop timeout, then SIGKILL to the
//! ones still running ([`StopPlan`]); SIGHUP to the console shells' sessions
//! (interactive shells ignore SIGTERM); wait up to [`HANGUP_GRACE`] for
//! everything to end; SIGKILL to what is left; then the file systems
//! ([`crate::unmount`]) and reboot(2). SIGHUP goes only to the shells, after
//! the services are done: a pending SIGHUP is delivered before SIGTERM
//! (lower number) and would kill a service before its SIGTERM handler runs.

#[allow(unused_imports)]
use crate::prelude::*;

use core::time::Duration;
use rustix::process::Signal;

/// What PID 1 was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    PowerOff,
    Reboot,
    Halt,
}

impl Action {
    /// The BusyBox conventions: SIGUSR2 and SIGPWR power off, SIGTERM and
    /// SIGINT (Ctrl-Alt-Del) reboot, SIGUSR1 halts. Other signals ask nothing.
    pub fn from_signal(signo: i32) -> Option<Action> {
        let is = |s: Signal| s.as_raw() == signo;
        if is(Signal::USR2) || is(Signal::POWER) {
            Some(Action::PowerOff)
        } else if is(Signal::TERM) || is(Signal::INT) {
            Some(Action::Reboot)
        } else if is(Signal::USR1) {
            Some(Action::Halt)
        } else {
            None
        }
    }

    /// For `kiln-init: powering off` and friends.
    pub fn verb(self) -> &'static str {
        match self {
            Action::PowerOff => "powering off",
            Action::Reboot => "rebooting",
            Action::Halt => "halting",
        }
    }
}

/// How long the console shells, and anything else still running once the
/// services are done, get between SIGHUP and SIGKILL.
pub const HANGUP_GRACE: Duration = Duration::from_secs(2);

/// Services being stopped. All got SIGTERM at `start`; each one still
/// running when its stop timeout has passed is to be killed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopPlan {
    /// Per service: when its time is up; `None` once it ended or was killed.
    deadlines: Vec<Option<Duration>>,
}

impl StopPlan {
    /// `timeouts_secs[i]` is service `i`'s stop timeout.
    pub fn new(start: Duration, timeouts_secs: &[u32]) -> StopPlan {
        let deadlines = timeouts_secs
            .iter()
            .map(|&s| Some(start + Duration::from_secs(u64::from(s))))
            .collect();
        StopPlan { deadlines }
    }

    /// Service `i` has exited.
    pub fn ended(&mut self, i: usize) {
        if let Some(d) = self.deadlines.get_mut(i) {
            *d = None;
        }
    }

    /// The services whose time is up at `now`, each returned once: kill them.
    pub fn overdue(&mut self, now: Duration) -> Vec<usize> {
        let mut due = Vec::new();
        for (i, d) in self.deadlines.iter_mut().enumerate() {
            if d.is_some_and(|t| t <= now) {
                *d = None;
                due.push(i);
            }
        }
        due
    }

    /// The earliest deadline of the services still running.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Every service has ended or been killed.
    pub fn done(&self) -> bool {
        self.deadlines.iter().all(Option::is_none)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn signals_to_actions() {
        let a = |sig: Signal| Action::from_signal(sig.as_raw());
        assert_eq!(a(Signal::USR2), Some(Action::PowerOff));
        assert_eq!(a(Signal::POWER), Some(Action::PowerOff));
        assert_eq!(a(Signal::TERM), Some(Action::Reboot));
        assert_eq!(a(Signal::INT), Some(Action::Reboot));
        assert_eq!(a(Signal::USR1), Some(Action::Halt));
        assert_eq!(a(Signal::CHILD), None);
        assert_eq!(a(Signal::HUP), None);
        assert_eq!(Action::PowerOff.verb(), "powering off");
    }

    #[test]
    fn each_service_gets_its_own_timeout() {
        let mut p = StopPlan::new(s(100), &[10, 2, 5]);
        assert_eq!(p.next_deadline(), Some(s(102)));
        assert!(p.overdue(s(101)).is_empty());
        p.ended(2); // stopped in time
        assert_eq!(p.overdue(s(102)), [1]);
        assert!(p.overdue(s(103)).is_empty(), "killed once");
        assert_eq!(p.next_deadline(), Some(s(110)));
        assert!(!p.done());
        p.ended(0);
        assert!(p.done());
        assert_eq!(p.next_deadline(), None);
    }

    #[test]
    fn no_services_is_done_at_once() {
        let p = StopPlan::new(s(5), &[]);
        assert!(p.done());
        assert_eq!(p.next_deadline(), None);
    }

    #[test]
    fn late_exit_after_kill_is_harmless() {
        let mut p = StopPlan::new(s(0), &[1]);
        assert_eq!(p.overdue(s(1)), [0]);
        p.ended(0);
        p.ended(7); // not a service
        assert!(p.done());
    }
}
