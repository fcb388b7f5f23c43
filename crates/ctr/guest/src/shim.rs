//! `kiln-ctr shim NAME`: one run of one container, in its own process because
//! libcontainer forks (and wants a single-threaded caller), and so that one
//! container's failure cannot take the daemon down.
//!
//! Order: netns file → CNI ADD (loopback, then the network) → libcontainer create +
//! start → wait for the init pid (forwarding a stop request: the stop signal, then
//! SIGKILL after the stop timeout) → read the OOM count → libcontainer delete → CNI
//! DEL → remove the netns → the exit record. Events go to the daemon as JSON lines
//! on stdout ([`ShimEvent`]); the exit record is also left in `STATE_DIR/NAME/exit.json`.

use crate::network::Network;
use kiln_ctr::error::Context;
use kiln_ctr::manifest::{self, Container, Manifest};
use kiln_ctr::proto::{encode, ShimEvent};
use kiln_ctr::state::{now, write_json, Exit, Startup};
use kiln_ctr::{bail, signals, Error, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container as Lc;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::signal::{kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: std::ffi::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

extern "C" fn on_pipe(_: std::ffi::c_int) {}

/// libcontainer's state directory (`ROOT/NAME/state.json` and its fifos).
pub fn runtime_root() -> PathBuf {
    Path::new(manifest::STATE_DIR).join("runtime")
}

/// `STATE_DIR/NAME/shim.pid`, while a shim runs.
pub fn shim_pid_path(name: &str) -> PathBuf {
    Path::new(manifest::STATE_DIR).join(name).join("shim.pid")
}

/// [`runtime_root`], made if missing, without a leftover container `id` (from a
/// process that died: libcontainer refuses an existing id).
pub(crate) fn prepare_root(id: &str) -> Result<PathBuf> {
    let root = runtime_root();
    if root.join(id).exists() {
        if let Ok(mut old) = Lc::load(root.join(id)) {
            let _ = old.delete(true);
        }
        let _ = std::fs::remove_dir_all(root.join(id));
    }
    std::fs::create_dir_all(&root).context(|| format!("creating {}", root.display()))?;
    Ok(root)
}

/// The pid of a shim of `name` that is still running (from an earlier daemon).
pub fn running_shim(name: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(shim_pid_path(name)).ok()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let want = format!("shim\0{name}\0");
    cmdline.windows(want.len()).any(|w| w == want.as_bytes()).then_some(pid)
}

pub fn log_path(name: &str) -> PathBuf {
    Path::new(manifest::LOG_DIR).join(format!("{name}.log"))
}

/// The signal handling of a process that runs a container and waits for it (a shim,
/// `kiln-ctr run`): SIGTERM, SIGINT and SIGHUP ask it to stop the container ([`stopping`]);
/// SIGPIPE does nothing; every signal unblocked.
pub(crate) fn install_handlers() -> Result<()> {
    // A handler, not a blocked mask: libcontainer's children inherit the mask, and
    // handlers are reset by exec.
    let act = SigAction::new(SigHandler::Handler(on_stop), SaFlags::SA_RESTART, SigSet::empty());
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(sig, &act) }.context(|| "installing signal handlers".into())?;
    }
    // Rust starts with SIGPIPE ignored, and an ignored signal stays ignored across
    // libcontainer's clone and exec: the container would never die of a broken pipe.
    // A handler that does nothing keeps the shim alive (a write fails with EPIPE)
    // and is reset to the default by exec.
    let noop = SigAction::new(SigHandler::Handler(on_pipe), SaFlags::SA_RESTART, SigSet::empty());
    // SAFETY: the handler does nothing.
    unsafe { sigaction(Signal::SIGPIPE, &noop) }.context(|| "installing signal handlers".into())?;
    // The daemon blocks the signals it takes with sigwait, and the mask survives
    // exec: unblock them (after the handlers are in place, so a pending SIGTERM is a
    // stop request), or the container would inherit a blocked SIGTERM.
    SigSet::all().thread_unblock().context(|| "unblocking signals".into())
}

/// Whether a stop was asked for (SIGTERM, SIGINT, SIGHUP) since [`install_handlers`].
pub(crate) fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

pub fn run(name: &str) -> Result<u8> {
    install_handlers()?;
    let m = Manifest::load(Path::new(manifest::MANIFEST_PATH))?;
    let c = m.get(name)?.clone();
    // So that a restarted daemon can find and stop a shim it did not start.
    let pid_file = shim_pid_path(name);
    let _ = std::fs::create_dir_all(Path::new(manifest::STATE_DIR).join(name));
    let _ = std::fs::write(&pid_file, format!("{}\n", std::process::id()));
    let mut exit = Exit { finished: 0.0, ..Exit::default() };
    let mut shim = Shim { m: &m, c: &c, net: Network::new(name, c.ports.clone()) };
    match shim.run_container(&mut exit) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("kiln-ctr: {name}: {e}");
            exit.error = Some(e.0);
        }
    }
    shim.net.teardown();
    exit.finished = now();
    let _ = write_json(&Path::new(manifest::STATE_DIR).join(name).join("exit.json"), &exit);
    emit(&ShimEvent::Exited { exit });
    let _ = std::fs::remove_file(pid_file);
    Ok(0)
}

/// libcontainer's create, as every run does it (the shim, `bench-run`): detached, no
/// systemd, stdio `[stdin, stdout, stderr]`; the container's init waits for `start`.
pub(crate) fn create(id: &str, root: &Path, bundle: &Path, stdio: [std::fs::File; 3]) -> Result<(Lc, Pid)> {
    let [stdin, stdout, stderr] = stdio;
    let mut ctr = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(root)
        .map_err(|e| Error(format!("libcontainer root {}: {e}", root.display())))?
        .with_stdin(stdin)
        .with_stdout(stdout)
        .with_stderr(stderr)
        .with_executor(crate::seccomp::Seccomp::for_bundle(bundle)?)
        .as_init(bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(|e| Error(format!("creating the container from {}: {e}", bundle.display())))?;
    let Some(pid) = ctr.pid() else {
        let _ = ctr.delete(true);
        bail!("libcontainer created the container but gave no pid");
    };
    Ok((ctr, pid))
}

fn emit(ev: &ShimEvent) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(encode(ev).as_bytes());
    let _ = out.flush();
}

struct Shim<'a> {
    m: &'a Manifest,
    c: &'a Container,
    net: Network,
}

impl Shim<'_> {
    fn run_container(&mut self, exit: &mut Exit) -> Result<()> {
        let c = self.c;
        std::fs::create_dir_all(manifest::LOG_DIR).context(|| format!("creating {}", manifest::LOG_DIR))?;
        let bundle = PathBuf::from(&c.bundle);
        let config: Value = {
            let p = bundle.join("config.json");
            let text = std::fs::read_to_string(&p).context(|| p.display().to_string())?;
            serde_json::from_str(&text).context(|| p.display().to_string())?
        };
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path(&c.name)).context(|| log_path(&c.name).display().to_string())?;

        let t0 = Instant::now();
        let ips = self.net.attach(self.m, c.network)?;
        let _ = write_json(&Path::new(manifest::STATE_DIR).join(&c.name).join("cni.json"), &self.net.results());
        let network = t0.elapsed().as_secs_f64();
        if stopping() {
            bail!("stopped before it started");
        }

        let root = prepare_root(&c.name)?;
        let devnull = std::fs::File::open("/dev/null").context(|| "/dev/null".into())?;
        let log2 = log.try_clone().context(|| "duplicating the log file".into())?;
        let (mut ctr, pid) = create(&c.name, &root, &bundle, [devnull, log, log2])?;
        if stopping() {
            let _ = ctr.delete(true);
            bail!("stopped before it started");
        }
        if let Err(e) = ctr.start() {
            let _ = ctr.delete(true);
            bail!("starting the container: {e}");
        }
        let started = now();
        exit.started = Some(started);
        let startup = Startup { network, runtime: t0.elapsed().as_secs_f64() - network };
        emit(&ShimEvent::Running { pid: pid.as_raw(), ips, started, startup });

        let sig = signals::parse(&c.stop_signal).and_then(|n| Signal::try_from(n).ok()).unwrap_or(Signal::SIGTERM);
        let status = wait(&mut ctr, pid, sig, Duration::from_secs(c.stop_timeout.into()));
        match status {
            WaitStatus::Exited(_, code) => exit.code = Some(code),
            WaitStatus::Signaled(_, sig, _) => exit.signal = Some(sig as i32),
            _ => {}
        }
        exit.oom_killed = oom_kills(&config, &c.name) > 0;
        if let Err(e) = ctr.delete(true) {
            eprintln!("kiln-ctr: {}: deleting the container: {e}", c.name);
        }
        Ok(())
    }
}

/// Reaps children until the container's init is gone; a stop request
/// ([`stopping`]) sends `stop_signal` to init, and SIGKILL to every process of the
/// container after `stop_timeout`.
pub(crate) fn wait(ctr: &mut Lc, pid: Pid, stop_signal: Signal, stop_timeout: Duration) -> WaitStatus {
    let mut deadline: Option<Instant> = None;
    let mut killed = false;
    loop {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(s @ (WaitStatus::Exited(p, _) | WaitStatus::Signaled(p, _, _))) if p == pid => return s,
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) => continue,
                // No children left: init is gone without our seeing its status.
                Err(_) => return WaitStatus::StillAlive,
            }
        }
        if stopping() && deadline.is_none() {
            let _ = kill(pid, stop_signal);
            deadline = Some(Instant::now() + stop_timeout);
        }
        if let Some(d) = deadline {
            if !killed && Instant::now() >= d {
                killed = true;
                if ctr.kill(Signal::SIGKILL, true).is_err() {
                    let _ = kill(pid, Signal::SIGKILL);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `oom_kill` from the container cgroup's `memory.events` (0 if unreadable).
fn oom_kills(config: &Value, name: &str) -> u64 {
    let cg = config["linux"]["cgroupsPath"].as_str().map_or_else(|| manifest::cgroup_path(name), String::from);
    let path = format!("/sys/fs/cgroup/{}/memory.events", cg.trim_start_matches('/'));
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().find_map(|l| l.strip_prefix("oom_kill ")).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
}
