//! The main loop: signals read synchronously with sigtimedwait, reaping,
//! respawning consoles and services with back-off, and dispatching shutdown
//! requests.

use crate::os::{self, log, Reaped};
use crate::shutdown::{shutdown, Stopping};
use crate::spawn::{spawn, Stdio};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;
use kiln_init::config::Service;
use kiln_init::policy::{Backoff, Exit, Restart};
use kiln_init::sys::errno_text;
use kiln_init::Action;
use rustix::process::Pid;

pub enum Kind {
    Console { tty: String },
    Service { name: String, restart: Restart, stop_timeout_secs: u32 },
}

pub struct Child {
    kind: Kind,
    argv: Vec<String>,
    /// Who it runs as (`user=UID:GID`); `None`: root.
    user: Option<(u32, u32)>,
    pid: Option<Pid>,
    backoff: Backoff,
    next_start: Option<Duration>,
}

pub struct Supervisor {
    children: Vec<Child>,
    env: Vec<(String, String)>,
    /// Where services and shells start: `workdir`, else `HOME`, else `/`.
    cwd: String,
    consoles: Vec<String>,
}

impl Supervisor {
    /// `SIGCHLD` and friends are already blocked (see `main`); they queue up
    /// until read in [`Supervisor::run`].
    pub fn new(env: Vec<(String, String)>, consoles: Vec<String>, workdir: Option<&str>) -> Self {
        let home = env.iter().find(|(k, _)| k == "HOME").map(|(_, v)| v.as_str());
        let cwd = workdir
            .into_iter()
            .chain(home)
            .find(|d| os::is_dir(d))
            .unwrap_or("/")
            .to_string();
        Supervisor {
            children: Vec::new(),
            env,
            cwd,
            consoles,
        }
    }

    pub fn add_service(&mut self, s: &Service) {
        let kind = Kind::Service {
            name: s.name.clone(),
            restart: s.restart,
            stop_timeout_secs: s.stop_timeout_secs,
        };
        self.add(kind, s.argv.clone(), s.user);
    }

    pub fn add_console(&mut self, tty: String, argv: Vec<String>, user: Option<(u32, u32)>) {
        self.add(Kind::Console { tty }, argv, user);
    }

    fn add(&mut self, kind: Kind, argv: Vec<String>, user: Option<(u32, u32)>) {
        let now = os::now();
        let mut child = Child {
            kind,
            argv,
            user,
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
        match spawn(&c.argv, &self.env, &self.cwd, stdio, c.user) {
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
            Kind::Service { name, restart, .. } => {
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
            if let Some(action) = os::wait_signal(timeout).and_then(Action::from_signal) {
                self.shutdown(action);
            }
            self.reap();
        }
    }

    /// Hands the running services and console shells to [`shutdown`].
    fn shutdown(&self, action: Action) -> ! {
        let mut services = Vec::new();
        let mut shells = Vec::new();
        for c in &self.children {
            let Some(pid) = c.pid else { continue };
            match &c.kind {
                Kind::Service { name, stop_timeout_secs, .. } => services.push(Stopping {
                    pid,
                    name,
                    timeout_secs: *stop_timeout_secs,
                }),
                Kind::Console { .. } => shells.push(pid),
            }
        }
        shutdown(action, &self.consoles, &services, &shells)
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
