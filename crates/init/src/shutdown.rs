//! Orderly shutdown, and the fatal-failure path (`fatal`, panic hook).

use crate::os::{self, write_consoles, write_path, Reaped};
use crate::spawn::{spawn, Stdio};
use kiln_init::cmdline::Cmdline;
use kiln_init::config::DEFAULT_ENV;
use kiln_init::consoles::{parse_proc_consoles, FALLBACK_CONSOLE};
use nix::mount::{umount2, MntFlags};
use nix::sys::reboot::{reboot, RebootMode};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{sync, Pid};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    PowerOff,
    Reboot,
    Halt,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::PowerOff => "powering off",
            Action::Reboot => "rebooting",
            Action::Halt => "halting",
        }
    }

    fn mode(self) -> RebootMode {
        match self {
            Action::PowerOff => RebootMode::RB_POWER_OFF,
            Action::Reboot => RebootMode::RB_AUTOBOOT,
            Action::Halt => RebootMode::RB_HALT_SYSTEM,
        }
    }
}

/// Reaps children until none are left or `limit` has passed.
fn reap_for(limit: Duration) {
    let deadline = os::now() + limit;
    loop {
        match os::reap_one() {
            Reaped::NoneYet => {
                if os::now() >= deadline {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Reaped::Child(..) => {}
            Reaped::NoChildren => return,
        }
    }
}

/// Terminates everything, unmounts and powers off / reboots / halts.
pub fn shutdown(action: Action, consoles: &[String], mounted: &[String]) -> ! {
    write_consoles(consoles, &format!("kiln-init: {}\n", action.verb()));
    let all = Pid::from_raw(-1);
    let _ = kill(all, Signal::SIGTERM);
    let _ = kill(all, Signal::SIGCONT);
    reap_for(Duration::from_secs(2));
    let _ = kill(all, Signal::SIGKILL);
    reap_for(Duration::from_secs(1));
    sync();
    for target in mounted.iter().rev() {
        let _ = umount2(target.as_str(), MntFlags::MNT_DETACH);
    }
    sync();
    let _ = reboot(action.mode());
    idle_forever()
}

/// PID 1 must never exit.
pub fn idle_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn cmdline() -> Option<Cmdline> {
    if let Ok(t) = std::fs::read_to_string("/proc/cmdline") {
        return Some(Cmdline::parse(&t));
    }
    // /proc may not be mounted yet (or its mount failed): try once.
    let _ = os::mkdir_p("/proc");
    let _ = nix::mount::mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    );
    std::fs::read_to_string("/proc/cmdline")
        .ok()
        .map(|t| Cmdline::parse(&t))
}

fn say(text: &str) {
    if write_path(FALLBACK_CONSOLE, text).is_err() {
        use std::io::Write;
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

/// Reports a fatal failure on /dev/console, offers a rescue shell if
/// `kiln.rescue` is on the command line, then powers off. Never returns.
pub fn fatal(msg: &str) -> ! {
    say(&format!("kiln-init: fatal: {msg}\n"));
    if cmdline().is_some_and(|c| c.rescue) {
        say("kiln-init: rescue shell (exit to power off)\n");
        rescue_shell();
    }
    sync();
    let _ = reboot(RebootMode::RB_POWER_OFF);
    idle_forever()
}

fn rescue_shell() {
    // The device behind /dev/console can be a controlling tty; /dev/console can't.
    let tty = std::fs::read_to_string("/proc/consoles")
        .ok()
        .and_then(|t| parse_proc_consoles(&t).into_iter().find(|c| c.preferred))
        .map(|c| c.path)
        .filter(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| FALLBACK_CONSOLE.to_string());
    let env: Vec<(String, String)> = DEFAULT_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let argv = ["/bin/sh".to_string()];
    let pid = match spawn(&argv, &env, "/", Stdio::Tty(tty)) {
        Ok(pid) => pid,
        Err(e) => {
            say(&format!("kiln-init: cannot start rescue shell: {e}\n"));
            return;
        }
    };
    loop {
        match os::wait_any(true) {
            Reaped::Child(p, _) if p == pid.as_raw() => return,
            Reaped::Child(..) | Reaped::NoneYet => {}
            Reaped::NoChildren => return,
        }
    }
}

/// Routes panics through [`fatal`] (the binary is built with panic=abort;
/// the hook runs first and never returns).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("panic");
        let at = info
            .location()
            .map(|l| format!(" (at {}:{})", l.file(), l.line()))
            .unwrap_or_default();
        fatal(&format!("{msg}{at}"))
    }));
}
