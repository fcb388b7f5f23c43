//! The main loop: signals read synchronously with sigtimedwait, reaping,
//! respawning consoles and services with back-off, and dispatching shutdown
//! requests.

use crate::os::{self, log, Reaped};
use crate::shutdown::{shutdown, Action};
use crate::spawn::{spawn, Stdio};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;
use kiln_init::policy::{Backoff, Exit, Restart};
use kiln_init::sys::errno_text;
use rustix::process::{Pid, Signal};
use rustix::runtime::KernelSigSet;
use rustix::time::Timespec;

pub enum Kind {
    Console { tty: String },
    Service { name: String, restart: Restart },
}

pub struct Child {
    kind: Kind,
    argv: Vec<String>,
    pid: Option<Pid>,
    backoff: Backoff,
    next_start: Option<Duration>,
}

pub struct Supervisor {
    children: Vec<Child>,
    env: Vec<(String, String)>,
    home: String,
    consoles: Vec<String>,
    mounted: Vec<String>,
}

impl Supervisor {
    /// `SIGCHLD` and friends are already blocked (see `main`); they queue up
    /// until read in [`Supervisor::run`].
    pub fn new(env: Vec<(String, String)>, consoles: Vec<String>, mounted: Vec<String>) -> Self {
        let home = env
            .iter()
            .find(|(k, _)| k == "HOME")
            .map(|(_, v)| v.clone())
            .filter(|h| os::is_dir(h))
            .unwrap_or_else(|| "/".to_string());
        Supervisor {
            children: Vec::new(),
            env,
            home,
            consoles,
            mounted,
        }
    }

    pub fn add_service(&mut self, name: String, restart: Restart, argv: Vec<String>) {
        self.add(Kind::Service { name, restart }, argv);
    }

    pub fn add_console(&mut self, tty: String, argv: Vec<String>) {
        self.add(Kind::Console { tty }, argv);
    }

    fn add(&mut self, kind: Kind, argv: Vec<String>) {
        let now = os::now();
        let mut child = Child {
            kind,
            argv,
            pid: None,
            backoff: Backoff::new(),
            next_start: None,
        };
        self.start(&mut child, now);
        self.children.push(child);
    }

    fn start(&self, c: &mut Child, now: Duration) {
        c.next_start = None;
        c.backoff.started(now);
        let (stdio, what) = match &c.kind {
            Kind::Console { tty } => (Stdio::Tty(tty.clone()), format!("shell on {tty}")),
            Kind::Service { name, .. } => (service_log(name), format!("service {name}")),
        };
        match spawn(&c.argv, &self.env, &self.home, stdio) {
            Ok(pid) => c.pid = Some(pid),
            Err(e) => {
                log(&format!("cannot start {what}: {e}"));
                self.after_exit(c, Exit::Code(127), now);
            }
        }
    }

    /// Decides what happens after `c` ended with `exit` at `now`.
    fn after_exit(&self, c: &mut Child, exit: Exit, now: Duration) {
        c.pid = None;
        let (restart, what) = match &c.kind {
            Kind::Console { tty } => (true, format!("shell on {tty}")),
            Kind::Service { name, restart } => {
                (restart.should_restart(exit), format!("service {name}"))
            }
        };
        let status = match exit {
            Exit::Code(n) => format!("exit status {n}"),
            Exit::Signal(s) => format!("signal {s}"),
        };
        if !restart {
            log(&format!("{what} ended ({status}); not restarting"));
            return;
        }
        let delay = c.backoff.exited(now);
        let is_service = matches!(c.kind, Kind::Service { .. });
        if !delay.is_zero() {
            log(&format!(
                "{what} ended ({status}); restarting in {} s",
                delay.as_secs()
            ));
        } else if is_service {
            log(&format!("{what} ended ({status}); restarting"));
        }
        c.next_start = Some(now + delay);
    }

    /// Never returns: runs until a shutdown signal arrives.
    pub fn run(mut self) -> ! {
        loop {
            let now = os::now();
            let mut children = core::mem::take(&mut self.children);
            for c in children.iter_mut() {
                if c.next_start.is_some_and(|t| t <= now) {
                    self.start(c, now);
                }
            }
            self.children = children;

            let timeout = self
                .children
                .iter()
                .filter_map(|c| c.next_start)
                .min()
                .map(|t| t.saturating_sub(os::now()));
            // Round up so we do not wake just before the deadline.
            let timeout = timeout.map(|d| d.saturating_add(Duration::from_millis(1)));
            if let Some(sig) = wait_signal(timeout) {
                let action = match sig {
                    s if s == Signal::USR2.as_raw() || s == Signal::POWER.as_raw() => {
                        Some(Action::PowerOff)
                    }
                    s if s == Signal::TERM.as_raw() || s == Signal::INT.as_raw() => {
                        Some(Action::Reboot)
                    }
                    s if s == Signal::USR1.as_raw() => Some(Action::Halt),
                    _ => None,
                };
                if let Some(action) = action {
                    shutdown(action, &self.consoles, &self.mounted);
                }
            }
            self.reap();
        }
    }

    /// Reaps every exited child; unknown pids are orphans and just reaped.
    fn reap(&mut self) {
        while let Reaped::Child(pid, exit) = os::reap_one() {
            let now = os::now();
            let mut children = core::mem::take(&mut self.children);
            if let Some(c) = children.iter_mut().find(|c| c.pid == Some(pid)) {
                self.after_exit(c, exit, now);
            }
            self.children = children;
        }
    }
}

/// Opens `/var/log/NAME.log` for appending (console on failure).
fn service_log(name: &str) -> Stdio {
    let _ = os::mkdir_p("/var/log");
    let path = format!("/var/log/{name}.log");
    match os::open_append(&path) {
        Ok(fd) => Stdio::Log(fd),
        Err(e) => {
            let e = errno_text(e);
            log(&format!("cannot open {path}: {e}; logging to the console"));
            Stdio::Inherit
        }
    }
}

/// Waits up to `timeout` (forever if `None`) for any signal; all of them are
/// blocked, so they queue until taken here. Returns the signal number.
fn wait_signal(timeout: Option<Duration>) -> Option<i32> {
    let ts = timeout.map(|d| Timespec {
        tv_sec: d.as_secs().min(3600) as i64,
        tv_nsec: d.subsec_nanos() as i64,
    });
    // SAFETY: PID 1 installs no signal handlers, so taking any signal from
    // the queue cannot starve a handler that expected it.
    let info = unsafe { rustix::runtime::kernel_sigtimedwait(&KernelSigSet::all(), ts.as_ref()) };
    // SAFETY: every siginfo the kernel returns starts with si_signo.
    info.ok().map(|i| unsafe { i.__bindgen_anon_1.__bindgen_anon_1.si_signo })
}
