//! `kiln-ctr daemon`: starts the manifest's containers in order, supervises them
//! (one thread and one shim each), serves the control socket, and on SIGTERM stops
//! them in reverse order, one console line each, then exits 0.

use crate::console::say;
use kiln_ctr::error::Context;
use kiln_ctr::manifest::{self, Manifest};
use kiln_ctr::proto::{self, Request, Response};
use kiln_ctr::state::Status;
use kiln_ctr::supervisor::Slot;
use kiln_ctr::Result;
use nix::sys::signal::{SigSet, Signal};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub fn run() -> Result<u8> {
    let m = Arc::new(Manifest::load(Path::new(manifest::MANIFEST_PATH))?);
    for dir in [manifest::STATE_DIR, manifest::LOG_DIR, "/var/lib/cni"] {
        std::fs::create_dir_all(dir).context(|| format!("creating {dir}"))?;
    }
    // Taken by sigwait below; blocked before any thread starts, so all inherit it
    // (std resets the mask of the processes it spawns).
    let mut sigs = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        sigs.add(s);
    }
    sigs.thread_block().context(|| "blocking signals".into())?;

    // Shims of an earlier daemon (it crashed and kiln-init restarted it) still own
    // their containers' netns and CNI attachments: stop them before starting anew.
    for c in &m.containers {
        if let Some(pid) = crate::shim::running_shim(&c.name) {
            eprintln!("kiln-ctr: stopping {}'s shim {pid}, left by an earlier daemon", c.name);
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
            let t0 = std::time::Instant::now();
            while crate::shim::running_shim(&c.name).is_some() && t0.elapsed() < Duration::from_secs(u64::from(c.stop_timeout) + 10) {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let host: Arc<dyn kiln_ctr::supervisor::Host> = Arc::new(crate::host::System);
    let shutdown = Arc::new(AtomicBool::new(false));
    let slots: Arc<Vec<Arc<Slot>>> = Arc::new(m.containers.iter().cloned().map(|c| Slot::new(with_limit(c), host.clone(), shutdown.clone())).collect());
    for s in slots.iter() {
        s.save();
    }
    let sock = Path::new(proto::SOCKET);
    let _ = std::fs::remove_file(sock);
    let listener = UnixListener::bind(sock).context(|| format!("listening on {}", sock.display()))?;
    let _ = std::fs::set_permissions(sock, std::fs::Permissions::from_mode(0o600));
    {
        let (m, slots) = (m.clone(), slots.clone());
        std::thread::spawn(move || serve(listener, &m, &slots));
    }
    for s in slots.iter() {
        let s2 = s.clone();
        std::thread::spawn(move || s2.supervise());
        s.wait_settled(Duration::from_secs(30));
    }
    let summary: Vec<String> = slots
        .iter()
        .map(|s| {
            let st = s.state();
            let mut facts: Vec<String> = Vec::new();
            if !st.ips.is_empty() {
                facts.push(st.address());
            }
            if let (Status::Running, Some(s)) = (st.status, st.startup) {
                facts.push(s.describe());
            }
            let facts = if facts.is_empty() { String::new() } else { format!(" ({})", facts.join(", ")) };
            format!("{} {}{facts}", st.name, st.word())
        })
        .collect();
    say(&format!("kiln-ctr: {}", summary.join(", ")));

    loop {
        match sigs.wait() {
            Ok(Signal::SIGHUP) => continue,
            Ok(_) => break,
            Err(e) => eprintln!("kiln-ctr: sigwait: {e}"),
        }
    }
    let shutdown_at = kiln_ctr::state::now();
    let wanted: Vec<bool> = slots.iter().map(|s| s.wanted()).collect();
    shutdown.store(true, Ordering::SeqCst);
    for s in slots.iter() {
        s.wake();
    }
    for (s, wanted) in slots.iter().zip(wanted).rev() {
        if s.is_running() {
            match s.stop() {
                Ok((exit, Some(took))) => say(&s.stopped_line(&exit, took)),
                Ok((exit, None)) => say(&format!("kiln-ctr: {}", s.stop_message(&exit, None))),
                Err(e) => say(&format!("kiln-ctr: {e}")),
            }
        } else {
            match s.last_exit() {
                // kiln-init sends SIGTERM to every process at shutdown: a container
                // may have ended on it just before this loop reached it.
                Some(exit) if wanted && exit.finished >= shutdown_at - 2.0 => {
                    let took = Duration::from_secs_f64((exit.finished - shutdown_at).max(0.0));
                    say(&s.stopped_line(&exit, took));
                }
                _ => say(&format!("kiln-ctr: {} was not running ({})", s.c.name, s.word())),
            }
        }
    }
    let _ = std::fs::remove_file(sock);
    Ok(0)
}

fn serve(listener: UnixListener, m: &Arc<Manifest>, slots: &Arc<Vec<Arc<Slot>>>) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let (m, slots) = (m.clone(), slots.clone());
        std::thread::spawn(move || {
            let r = proto::serve_one(conn, |req| handle(&m, &slots, req));
            if let Err(e) = r {
                eprintln!("kiln-ctr: {e}");
            }
        });
    }
}

fn handle(m: &Manifest, slots: &[Arc<Slot>], req: Request) -> Response {
    let Some(slot) = slots.iter().find(|s| s.c.name == req.name()) else {
        return Response::err(m.no_such(req.name()));
    };
    let stop = |slot: &Slot| slot.stop().map(|(exit, took)| slot.stop_message(&exit, took));
    let result = match req {
        Request::Start { .. } => slot.start(),
        Request::Stop { .. } => stop(slot),
        Request::Restart { .. } => {
            let stopped = match stop(slot) {
                Ok(s) => Ok(format!("{s}; ")),
                Err(_) if !slot.is_running() => Ok(String::new()),
                Err(e) => Err(e),
            };
            stopped.and_then(|s| slot.start().map(|started| s + &started))
        }
    };
    match result {
        Ok(msg) => Response::ok(msg),
        Err(e) => Response::err(e.0),
    }
}

/// The manifest's memory limit (for the OOM message), else the one in config.json.
fn with_limit(mut c: manifest::Container) -> manifest::Container {
    if c.memory_limit.is_none() {
        let path = Path::new(&c.bundle).join("config.json");
        let config: Option<serde_json::Value> = std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok());
        c.memory_limit = config.and_then(|v| v["linux"]["resources"]["memory"]["limit"].as_u64());
    }
    c
}
