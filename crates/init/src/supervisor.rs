//! The main loop: signals via signalfd, reaping, respawning consoles and
//! services with back-off, and dispatching shutdown requests.

use crate::os::{self, log, Reaped};
use crate::shutdown::{shutdown, Action};
use crate::spawn::{spawn, Stdio};
use kiln_init::policy::{Backoff, Exit, Restart};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;
use std::fs::OpenOptions;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

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
    sigfd: SignalFd,
}

impl Supervisor {
    /// `SIGCHLD` and friends are already blocked (see `main`); they queue up
    /// until read here.
    pub fn new(env: Vec<(String, String)>, consoles: Vec<String>, mounted: Vec<String>) -> Self {
        let sigfd = SignalFd::with_flags(
            &SigSet::all(),
            SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC,
        )
        .unwrap_or_else(|e| crate::shutdown::fatal(&format!("signalfd failed: {e}")));
        let home = env
            .iter()
            .find(|(k, _)| k == "HOME")
            .map(|(_, v)| v.clone())
            .filter(|h| std::path::Path::new(h).is_dir())
            .unwrap_or_else(|| "/".to_string());
        Supervisor {
            children: Vec::new(),
            env,
            home,
            consoles,
            mounted,
            sigfd,
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
            let mut children = std::mem::take(&mut self.children);
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
            let timeout = match timeout {
                None => PollTimeout::NONE,
                // Round up so we do not wake just before the deadline.
                Some(d) => {
                    PollTimeout::try_from(d.as_millis().saturating_add(1).min(60_000) as u32)
                        .unwrap_or(PollTimeout::MAX)
                }
            };
            let mut fds = [PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, timeout);

            while let Ok(Some(info)) = self.sigfd.read_signal() {
                let action = match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGUSR2) | Ok(Signal::SIGPWR) => Some(Action::PowerOff),
                    Ok(Signal::SIGTERM) | Ok(Signal::SIGINT) => Some(Action::Reboot),
                    Ok(Signal::SIGUSR1) => Some(Action::Halt),
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
            let mut children = std::mem::take(&mut self.children);
            if let Some(c) = children
                .iter_mut()
                .find(|c| c.pid == Some(Pid::from_raw(pid)))
            {
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
    match OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(&path)
    {
        Ok(f) => Stdio::Log(OwnedFd::from(f)),
        Err(e) => {
            log(&format!("cannot open {path}: {e}; logging to the console"));
            Stdio::Inherit
        }
    }
}
