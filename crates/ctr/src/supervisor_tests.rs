//! The supervisor against fake shims: shell scripts that print the shim's events and
//! stop on SIGTERM as a real shim does.

use super::*;
use crate::manifest::Restart;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const FAKE_SHIM: &str = r#"
d="$FAKE_DIR"; n="$2"
echo start >> "$d/$n.starts"
if [ -f "$d/$n.fail" ]; then
  echo '{"event":"exited","exit":{"error":"CNI plugin bridge (network kiln): ADD failed","finished":1.0}}'; exit 0
fi
echo "{\"event\":\"running\",\"pid\":$$,\"ips\":[\"10.88.0.9/16\"],\"started\":1.0}"
if [ -f "$d/$n.exit" ]; then
  echo "{\"event\":\"exited\",\"exit\":$(cat "$d/$n.exit")}"; exit 0
fi
trap 'echo "{\"event\":\"exited\",\"exit\":{\"code\":0,\"started\":1.0,\"finished\":2.0}}"; exit 0' TERM
while :; do sleep 0.05; done
"#;

struct Fake {
    dir: tempfile::TempDir,
    said: Mutex<Vec<String>>,
}

impl Host for Fake {
    fn spawn_shim(&self, name: &str) -> std::io::Result<Child> {
        Command::new("sh")
            .arg("-c")
            .arg(FAKE_SHIM)
            .arg("kiln-ctr")
            .arg("shim")
            .arg(name)
            .env("FAKE_DIR", self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
    }
    fn stop_shim(&self, pid: u32) {
        let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    }
    fn say(&self, line: &str) {
        self.said.lock().unwrap().push(line.to_string());
    }
    fn save(&self, state: &State) {
        state.write(self.dir.path()).unwrap();
    }
    fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }
}

impl Fake {
    fn starts(&self, name: &str) -> usize {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.starts"))).unwrap_or_default().lines().count()
    }
    fn set(&self, file: &str, text: &str) {
        std::fs::write(self.dir.path().join(file), text).unwrap();
    }
    fn said(&self) -> Vec<String> {
        self.said.lock().unwrap().clone()
    }
}

struct Run {
    fake: Arc<Fake>,
    slot: Arc<Slot>,
    shutdown: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn container(name: &str, restart: Restart) -> Container {
    Container {
        name: name.into(),
        bundle: format!("/containers/{name}"),
        restart,
        stop_timeout: 5,
        stop_signal: "SIGTERM".into(),
        network: false,
        ports: vec![],
        memory_limit: Some(16 << 20),
    }
}

/// Starts a supervisor; `files` are written first (`NAME.exit`, `NAME.fail`).
fn run(name: &str, restart: Restart, files: &[(&str, &str)]) -> Run {
    let fake = Arc::new(Fake { dir: tempfile::tempdir().unwrap(), said: Mutex::new(vec![]) });
    for (f, text) in files {
        fake.set(f, text);
    }
    let shutdown = Arc::new(AtomicBool::new(false));
    let slot = Slot::new(container(name, restart), fake.clone(), shutdown.clone());
    let s2 = slot.clone();
    let thread = Some(std::thread::spawn(move || s2.supervise()));
    Run { fake, slot, shutdown, thread }
}

impl Run {
    fn wait_for(&self, what: &str, pred: impl Fn(&State) -> bool) {
        let t0 = Instant::now();
        while !pred(&self.slot.state()) {
            assert!(t0.elapsed() < Duration::from_secs(5), "timed out waiting for {what}: {:?}", self.slot.state());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        if self.slot.is_running() {
            let _ = self.slot.stop();
        }
        self.slot.wake();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

#[test]
fn a_user_stop_is_not_undone_by_the_policy_and_start_works() {
    let r = run("web", Restart::Always, &[]);
    r.wait_for("running", |s| s.status == Status::Running);
    let st = State::read(r.fake.dir.path(), "web").unwrap().unwrap();
    assert_eq!((st.word(), st.address()), ("running".to_string(), "10.88.0.9".to_string()));

    let (exit, took) = r.slot.stop().unwrap();
    assert_eq!(exit.code, Some(0));
    assert!(took.is_some());
    assert_eq!(r.slot.stop_message(&exit, took).split(" after").next().unwrap(), "stopped web (SIGTERM, exited 0");
    assert_eq!(r.slot.state().status, Status::Stopped);
    assert_eq!(r.slot.state().address(), "-");
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(r.fake.starts("web"), 1, "`always` must not restart a stopped container");
    assert_eq!(r.slot.state().word(), "stopped");
    assert_eq!(r.slot.stop().unwrap_err().0, "web is not running (stopped)");

    let msg = r.slot.start().unwrap();
    assert!(msg.starts_with("started web (pid "), "{msg}");
    assert_eq!(r.fake.starts("web"), 2);
    assert_eq!(r.slot.start().unwrap_err().0, "web is already running");
    assert_eq!(r.slot.state().restarts, 0, "operator starts are not restarts");
}

#[test]
fn on_failure_restarts_after_the_backoff() {
    let r = run("job", Restart::OnFailure, &[("job.exit", r#"{"code":3,"started":1.0,"finished":1.1}"#)]);
    let t0 = Instant::now();
    r.wait_for("the first restart", |s| s.restarts >= 1);
    assert_eq!(r.slot.state().last_exit.unwrap().code, Some(3));
    let t = Instant::now();
    while r.fake.starts("job") < 2 {
        assert!(t.elapsed() < Duration::from_secs(3), "no second start");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(t0.elapsed() >= Duration::from_millis(900), "the first restart waits 1 s: {:?}", t0.elapsed());
    // Now a clean exit: on-failure leaves it exited.
    r.fake.set("job.exit", r#"{"code":0,"started":1.0,"finished":1.1}"#);
    r.wait_for("exited (0)", |s| s.status == Status::Exited && s.last_exit.as_ref().and_then(|e| e.code) == Some(0));
    assert_eq!(r.slot.state().word(), "exited (0)");
}

#[test]
fn stopping_one_that_waits_to_restart() {
    let r = run("job", Restart::Always, &[("job.exit", r#"{"code":0,"started":1.0,"finished":1.1}"#)]);
    r.wait_for("restarting", |s| s.status == Status::Restarting);
    let (exit, took) = r.slot.stop().unwrap();
    assert_eq!(took, None);
    assert_eq!(r.slot.stop_message(&exit, took), "stopped job (it was waiting to restart after it exited 0)");
    r.wait_for("stopped", |s| s.status == Status::Stopped);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(r.fake.starts("job"), 1);
}

#[test]
fn policy_no_leaves_it_exited_and_says_why() {
    let r = run("hog", Restart::No, &[("hog.exit", r#"{"signal":9,"oom_killed":true,"started":1.0,"finished":3.0}"#)]);
    r.wait_for("exited", |s| s.status == Status::Exited);
    assert_eq!(r.slot.state().word(), "oom-killed");
    assert_eq!(r.fake.said(), ["kiln-ctr: hog was killed by the OOM killer (memory limit 16 MiB)"]);
    assert_eq!(r.slot.stop().unwrap_err().0, "hog is not running (oom-killed)");
    assert!(!r.slot.wanted());

    let f = run("web", Restart::No, &[("web.fail", "")]);
    f.wait_for("failed", |s| s.status == Status::Exited);
    assert_eq!(f.slot.state().word(), "failed");
    assert_eq!(f.fake.said(), ["kiln-ctr: web failed: CNI plugin bridge (network kiln): ADD failed"]);
    let e = f.slot.start().unwrap_err().0;
    assert_eq!(e, "web did not stay up: failed: CNI plugin bridge (network kiln): ADD failed");
}

#[test]
fn the_shutdown_line_quotes_the_last_log_line() {
    let r = run("web", Restart::Always, &[]);
    r.fake.set("web.log", "hello\ncaught SIGTERM, bye\n");
    r.wait_for("running", |s| s.status == Status::Running);
    let (exit, took) = r.slot.stop().unwrap();
    let line = r.slot.stopped_line(&exit, took.unwrap());
    assert!(line.starts_with("kiln-ctr: stopped web (SIGTERM, exited 0 after "), "{line}");
    assert!(line.ends_with(" s); last log line: \"caught SIGTERM, bye\""), "{line}");
}
