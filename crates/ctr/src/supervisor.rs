//! The supervisor of one container (the daemon runs one thread each): runs its
//! shim, records its state, restarts it by policy; and the operations the control
//! socket and shutdown call. The processes and the console are behind [`Host`], so
//! the tests drive it with fake shims (`supervisor_tests.rs`).

use crate::manifest::Container;
use crate::policy::{should_restart, Backoff};
use crate::proto::ShimEvent;
use crate::state::{now, Exit, State, Status};
use crate::{report, Error, Result};
use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the supervisor needs from the system.
pub trait Host: Send + Sync {
    /// Starts the shim of `name` with its stdout piped (the [`ShimEvent`] lines).
    fn spawn_shim(&self, name: &str) -> std::io::Result<Child>;
    /// Asks a shim to stop its container (SIGTERM).
    fn stop_shim(&self, pid: u32);
    /// A line for the operator (`kiln-ctr: ...`).
    fn say(&self, line: &str);
    /// Records a container's state (`STATE_DIR/NAME/state.json`).
    fn save(&self, state: &State);
    /// The container's log file, for its last line.
    fn log_path(&self, name: &str) -> std::path::PathBuf;
}

pub struct Slot {
    pub c: Container,
    host: Arc<dyn Host>,
    /// Set at shutdown (shared by all slots): nothing starts any more.
    shutdown: Arc<AtomicBool>,
    inner: Mutex<Inner>,
    cv: Condvar,
}

struct Inner {
    state: State,
    /// The operator (or the policy) wants it running.
    want_run: bool,
    /// The shim of the current run.
    shim: Option<u32>,
    backoff: Backoff,
}

impl Slot {
    pub fn new(c: Container, host: Arc<dyn Host>, shutdown: Arc<AtomicBool>) -> Arc<Slot> {
        let state = State::new(&c.name);
        let inner = Mutex::new(Inner { state, want_run: true, shim: None, backoff: Backoff::default() });
        Arc::new(Slot { c, host, shutdown, inner, cv: Condvar::new() })
    }

    fn down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// A copy of the current state.
    pub fn state(&self) -> State {
        self.lock().state.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn save(&self) {
        let g = self.lock();
        self.host.save(&g.state);
    }

    pub fn is_running(&self) -> bool {
        self.lock().shim.is_some()
    }

    /// Whether it is meant to be up (not stopped by the operator, not ended for good).
    pub fn wanted(&self) -> bool {
        self.lock().want_run
    }

    pub fn last_exit(&self) -> Option<Exit> {
        self.lock().state.last_exit.clone()
    }

    pub fn word(&self) -> String {
        self.lock().state.word()
    }

    /// The supervisor loop; returns at shutdown.
    pub fn supervise(self: Arc<Slot>) {
        loop {
            let mut g = self.lock();
            while !g.want_run && !self.down() {
                g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            if self.down() {
                return;
            }
            g.state.status = Status::Created;
            g.state.pid = None;
            g.state.ips.clear();
            self.host.save(&g.state);
            let child = self.host.spawn_shim(&self.c.name);
            let mut child = match child {
                Ok(ch) => ch,
                Err(e) => {
                    drop(g);
                    self.ended(Exit { error: Some(format!("cannot run the shim: {e}")), finished: now(), ..Exit::default() });
                    continue;
                }
            };
            g.shim = Some(child.id());
            drop(g);

            let mut exit = None;
            if let Some(out) = child.stdout.take() {
                for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
                    match serde_json::from_str::<ShimEvent>(&line) {
                        Ok(ShimEvent::Running { pid, ips, started, startup }) => {
                            let mut g = self.lock();
                            g.state.status = Status::Running;
                            g.state.pid = Some(pid);
                            g.state.ips = ips;
                            g.state.started = Some(started);
                            g.state.startup = Some(startup);
                            self.host.save(&g.state);
                            self.cv.notify_all();
                        }
                        Ok(ShimEvent::Exited { exit: e }) => exit = Some(e),
                        Err(_) => self.host.say(&format!("kiln-ctr: {}: shim: {line}", self.c.name)),
                    }
                }
            }
            let status = child.wait();
            let exit = exit.unwrap_or_else(|| Exit {
                error: Some(format!("the shim died ({})", status.map_or_else(|e| e.to_string(), |s| s.to_string()))),
                finished: now(),
                ..Exit::default()
            });
            self.ended(exit);
        }
    }

    /// A run is over: record it, say so if the OOM killer did it, then stop or
    /// restart by policy (waiting out the back-off).
    fn ended(&self, exit: Exit) {
        let mut g = self.lock();
        g.shim = None;
        g.state.pid = None;
        g.state.ips.clear();
        if exit.oom_killed {
            self.host.say(&report::oom_line(&self.c.name, self.c.memory_limit));
        } else if let Some(e) = &exit.error {
            self.host.say(&format!("kiln-ctr: {} failed: {e}", self.c.name));
        }
        let ran_for = exit.ran_for();
        let restart = g.want_run && !self.down() && should_restart(self.c.restart, &exit);
        g.state.last_exit = Some(exit);
        if !g.want_run || self.down() {
            g.state.status = Status::Stopped;
        } else if restart {
            g.state.status = Status::Restarting;
            g.state.restarts += 1;
            let delay = g.backoff.delay(ran_for);
            self.host.save(&g.state);
            self.cv.notify_all();
            let until = Instant::now() + delay;
            while g.want_run && !self.down() && Instant::now() < until {
                let left = until.saturating_duration_since(Instant::now());
                g = self.cv.wait_timeout(g, left).unwrap_or_else(|e| e.into_inner()).0;
            }
            if !g.want_run || self.down() {
                g.state.status = Status::Stopped;
            }
        } else {
            g.state.status = Status::Exited;
            g.want_run = false;
        }
        self.host.save(&g.state);
        self.cv.notify_all();
    }

    /// Stops the container and waits for its shim to clean up; returns how it
    /// ended and how long the stop took (none if it was only waiting to restart).
    /// Not running is an error naming the state.
    pub fn stop(&self) -> Result<(Exit, Option<Duration>)> {
        let mut g = self.lock();
        if g.shim.is_none() {
            if g.want_run && g.state.status == Status::Restarting {
                g.want_run = false;
                self.cv.notify_all();
                let exit = g.state.last_exit.clone().unwrap_or_default();
                return Ok((exit, None));
            }
            return Err(Error(format!("{} is not running ({})", self.c.name, g.state.word())));
        }
        g.want_run = false;
        let t0 = Instant::now();
        if let Some(pid) = g.shim {
            self.host.stop_shim(pid);
        }
        // The shim waits the stop timeout, then kills; give it a margin for cleanup.
        let limit = Duration::from_secs(u64::from(self.c.stop_timeout) + 30);
        while g.shim.is_some() && t0.elapsed() < limit {
            g = self.cv.wait_timeout(g, Duration::from_millis(200)).unwrap_or_else(|e| e.into_inner()).0;
        }
        if g.shim.is_some() {
            return Err(Error(format!("{}'s shim did not finish within {} s", self.c.name, limit.as_secs())));
        }
        Ok((g.state.last_exit.clone().unwrap_or_default(), Some(t0.elapsed())))
    }

    /// Starts a container that is not running, and waits (up to 10 s) to see it run.
    pub fn start(&self) -> Result<String> {
        let mut g = self.lock();
        if g.shim.is_some() || (g.want_run && g.state.status == Status::Restarting) {
            return Err(Error(format!("{} is already {}", self.c.name, g.state.word())));
        }
        if self.down() {
            return Err(Error("shutting down".into()));
        }
        g.want_run = true;
        g.backoff.reset();
        g.state.status = Status::Created;
        self.cv.notify_all();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            g = self.cv.wait_timeout(g, Duration::from_millis(200)).unwrap_or_else(|e| e.into_inner()).0;
            match g.state.status {
                Status::Running => return Ok(format!("started {} (pid {})", self.c.name, g.state.pid.unwrap_or(0))),
                Status::Exited | Status::Restarting | Status::Stopped if g.shim.is_none() => {
                    let how = g.state.last_exit.as_ref().map_or_else(|| g.state.word(), Exit::describe);
                    return Err(Error(format!("{} did not stay up: {how}", self.c.name)));
                }
                _ => {}
            }
        }
        Ok(format!("starting {} ({})", self.c.name, g.state.word()))
    }

    /// Wakes the supervisor (at shutdown).
    pub fn wake(&self) {
        let _g = self.lock();
        self.cv.notify_all();
    }

    /// Waits until the first run is up, or over, or `limit` passed (start order).
    pub fn wait_settled(&self, limit: Duration) {
        let t0 = Instant::now();
        let mut g = self.lock();
        while g.want_run && g.state.status == Status::Created && t0.elapsed() < limit {
            g = self.cv.wait_timeout(g, Duration::from_millis(100)).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// The answer to a `stop`: `stopped web (SIGTERM, exited 0 after 1.0 s)`.
    pub fn stop_message(&self, exit: &Exit, took: Option<Duration>) -> String {
        match took {
            Some(t) => format!("stopped {} ({}, {} after {:.1} s)", self.c.name, self.c.stop_signal, exit.describe(), t.as_secs_f64()),
            None => format!("stopped {} (it was waiting to restart after it {})", self.c.name, exit.describe()),
        }
    }

    /// The console line of a stop at shutdown.
    pub fn stopped_line(&self, exit: &Exit, took: Duration) -> String {
        let last = report::last_line(&self.host.log_path(&self.c.name));
        report::stopped_line(&self.c.name, &self.c.stop_signal, exit, took, last.as_deref())
    }
}

#[cfg(test)]
#[path = "supervisor_tests.rs"]
mod tests;
