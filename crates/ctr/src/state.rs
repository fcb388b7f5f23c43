//! The state of each container, `STATE_DIR/NAME/state.json`, written by the daemon
//! (atomically) and read by the CLI; the exit record the shim leaves beside it; the
//! `list` table.

use crate::error::Context;
use crate::{signals, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Known, not started yet (or being set up by its shim).
    Created,
    Running,
    /// Ended on its own and not restarted (its policy said no).
    Exited,
    /// Ended on its own; waiting out the back-off before the next start.
    Restarting,
    /// Stopped by the operator or by shutdown.
    Stopped,
}

/// Where a run's start went, in seconds: the network namespace and CNI ADD
/// (`network`), then libcontainer's create and start (`runtime`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Startup {
    pub network: f64,
    pub runtime: f64,
}

impl Startup {
    /// `started in 2.9 s: network 2.1 s, runtime 0.8 s`.
    pub fn describe(&self) -> String {
        format!("started in {:.2} s: network {:.2} s, runtime {:.2} s", self.network + self.runtime, self.network, self.runtime)
    }
}

/// How one run ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Exit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// The signal that killed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// The cgroup's `memory.events` counted an `oom_kill`.
    #[serde(default)]
    pub oom_killed: bool,
    /// It never ran: the shim failed to set it up (netns, CNI, libcontainer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<f64>,
    #[serde(default)]
    pub finished: f64,
}

impl Exit {
    /// A non-zero exit, a death by signal, or a failure to start.
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.signal.is_some() || self.code != Some(0)
    }

    /// `exited 0`, `killed by SIGKILL`, `failed: MSG`.
    pub fn describe(&self) -> String {
        match (&self.error, self.signal, self.code) {
            (Some(e), _, _) => format!("failed: {e}"),
            (None, Some(s), _) => format!("killed by {}", signals::name(s)),
            (None, None, Some(c)) => format!("exited {c}"),
            (None, None, None) => "ended".into(),
        }
    }

    /// How long the run lasted (0 if it never started).
    pub fn ran_for(&self) -> std::time::Duration {
        let secs = self.started.map_or(0.0, |s| (self.finished - s).max(0.0));
        std::time::Duration::from_secs_f64(secs)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub name: String,
    pub status: Status,
    /// The container's init process (in the guest's pid namespace) while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// The addresses CNI gave it, `10.88.0.2/16`.
    #[serde(default)]
    pub ips: Vec<String>,
    /// Restarts by the policy (not the operator's).
    #[serde(default)]
    pub restarts: u32,
    /// When the current (or last) run started, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<f64>,
    /// How long the current (or last) run took to start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<Startup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<Exit>,
}

impl State {
    pub fn new(name: &str) -> State {
        State { name: name.into(), status: Status::Created, pid: None, ips: vec![], restarts: 0, started: None, startup: None, last_exit: None }
    }

    /// `ROOT/NAME/state.json`.
    pub fn path(root: &Path, name: &str) -> PathBuf {
        root.join(name).join("state.json")
    }

    /// The state file, or `None` if there is none yet.
    pub fn read(root: &Path, name: &str) -> Result<Option<State>> {
        let path = State::path(root, name);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).context(|| path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(crate::Error(format!("{}: {e}", path.display()))),
        }
    }

    /// Writes the state file atomically (a temporary file renamed over it).
    pub fn write(&self, root: &Path) -> Result<()> {
        write_json(&State::path(root, &self.name), self)
    }

    /// The word in `list`'s STATE column: `running`, `exited (0)`, `exited (SIGKILL)`,
    /// `oom-killed`, `failed`, `restarting`, `stopped`, `created`.
    pub fn word(&self) -> String {
        match self.status {
            Status::Created => "created".into(),
            Status::Running => "running".into(),
            Status::Stopped => "stopped".into(),
            Status::Restarting => "restarting".into(),
            Status::Exited => match &self.last_exit {
                Some(e) if e.oom_killed => "oom-killed".into(),
                Some(e) if e.error.is_some() => "failed".into(),
                Some(Exit { signal: Some(s), .. }) => format!("exited ({})", signals::name(*s)),
                Some(Exit { code: Some(c), .. }) => format!("exited ({c})"),
                _ => "exited".into(),
            },
        }
    }

    /// The addresses without their prefix length, comma-separated, or `-`.
    pub fn address(&self) -> String {
        if self.ips.is_empty() {
            return "-".into();
        }
        self.ips.iter().map(|ip| ip.split('/').next().unwrap_or(ip)).collect::<Vec<_>>().join(",")
    }
}

/// `list`: NAME STATE PID ADDRESS RESTARTS, columns padded to their widest cell.
pub fn table(states: &[State]) -> String {
    let mut rows = vec![["NAME".to_string(), "STATE".into(), "PID".into(), "ADDRESS".into(), "RESTARTS".into()]];
    for s in states {
        let pid = s.pid.filter(|_| s.status == Status::Running).map_or("-".into(), |p| p.to_string());
        rows.push([s.name.clone(), s.word(), pid, s.address(), s.restarts.to_string()]);
    }
    let widths: Vec<usize> = (0..5).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Writes JSON to `path` through a temporary name in the same directory (made if
/// missing), so a reader never sees half a file.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut bytes = serde_json::to_vec_pretty(value).context(|| path.display().to_string())?;
    bytes.push(b'\n');
    std::fs::write(&tmp, bytes).context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// Now, in seconds since the epoch.
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(name: &str, status: Status, exit: Option<Exit>) -> State {
        State { status, last_exit: exit, ..State::new(name) }
    }

    #[test]
    fn state_words() {
        assert_eq!(st("a", Status::Running, None).word(), "running");
        assert_eq!(st("a", Status::Exited, Some(Exit { code: Some(0), ..Exit::default() })).word(), "exited (0)");
        assert_eq!(st("a", Status::Exited, Some(Exit { code: Some(1), ..Exit::default() })).word(), "exited (1)");
        assert_eq!(st("a", Status::Exited, Some(Exit { signal: Some(9), ..Exit::default() })).word(), "exited (SIGKILL)");
        let oom = Exit { signal: Some(9), oom_killed: true, ..Exit::default() };
        assert_eq!(st("a", Status::Exited, Some(oom)).word(), "oom-killed");
        assert_eq!(st("a", Status::Exited, Some(Exit { error: Some("x".into()), ..Exit::default() })).word(), "failed");
        assert_eq!(st("a", Status::Stopped, Some(Exit { code: Some(0), ..Exit::default() })).word(), "stopped");
        assert_eq!(st("a", Status::Restarting, None).word(), "restarting");
    }

    #[test]
    fn list_table() {
        let web = State { pid: Some(412), ips: vec!["10.88.0.2/16".into()], ..st("web", Status::Running, None) };
        let hog = State { restarts: 3, ..st("hog", Status::Exited, Some(Exit { signal: Some(9), oom_killed: true, ..Exit::default() })) };
        let idle = State { pid: Some(5), ..st("idle-worker", Status::Stopped, None) };
        let t = table(&[web, hog, idle]);
        assert_eq!(
            t,
            "NAME         STATE       PID  ADDRESS    RESTARTS\n\
             web          running     412  10.88.0.2  0\n\
             hog          oom-killed  -    -          3\n\
             idle-worker  stopped     -    -          0\n"
        );
    }

    #[test]
    fn exit_descriptions() {
        assert_eq!(Exit { code: Some(0), ..Exit::default() }.describe(), "exited 0");
        assert_eq!(Exit { signal: Some(15), ..Exit::default() }.describe(), "killed by SIGTERM");
        assert!(!Exit { code: Some(0), ..Exit::default() }.failed());
        assert!(Exit::default().failed());
        let e = Exit { started: Some(100.0), finished: 101.5, ..Exit::default() };
        assert_eq!(e.ran_for().as_millis(), 1500);
    }

    #[test]
    fn state_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::read(dir.path(), "web").unwrap(), None);
        let s = State { pid: Some(7), ips: vec!["10.88.0.5/16".into()], restarts: 2, ..State::new("web") };
        s.write(dir.path()).unwrap();
        assert_eq!(State::read(dir.path(), "web").unwrap(), Some(s));
        let names: Vec<_> = std::fs::read_dir(dir.path().join("web")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["state.json"], "no temporaries left");
        std::fs::write(State::path(dir.path(), "web"), "{").unwrap();
        let e = State::read(dir.path(), "web").unwrap_err().0;
        assert!(e.contains("web/state.json: EOF"), "{e}");
    }
}
