//! The supervisor's [`Host`] on the real system: shims are `/proc/self/exe shim NAME`.

use crate::console::say;
use kiln_ctr::manifest;
use kiln_ctr::state::State;
use kiln_ctr::supervisor::Host;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct System;

impl Host for System {
    fn spawn_shim(&self, name: &str) -> std::io::Result<Child> {
        Command::new("/proc/self/exe").arg("shim").arg(name).stdin(Stdio::null()).stdout(Stdio::piped()).spawn()
    }

    fn stop_shim(&self, pid: u32) {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
    }

    fn say(&self, line: &str) {
        say(line);
    }

    fn save(&self, state: &State) {
        if let Err(e) = state.write(Path::new(manifest::STATE_DIR)) {
            eprintln!("kiln-ctr: {e}");
        }
    }

    fn log_path(&self, name: &str) -> PathBuf {
        crate::shim::log_path(name)
    }
}
