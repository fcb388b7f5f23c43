//! Orderly shutdown, and the fatal-failure path (`fatal`, panic hook).

use crate::os::{self, write_consoles, write_path, Reaped};
use crate::spawn::{spawn, Stdio};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use kiln_init::cmdline::Cmdline;
use kiln_init::config::DEFAULT_ENV;
use kiln_init::consoles::{parse_proc_consoles, FALLBACK_CONSOLE};
use rustix::fs::sync;
use rustix::mount::{unmount, UnmountFlags};
use rustix::process::{kill_process_group, Pid, Signal};
use rustix::system::{reboot, RebootCommand};

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

    fn command(self) -> RebootCommand {
        match self {
            Action::PowerOff => RebootCommand::PowerOff,
            Action::Reboot => RebootCommand::Restart,
            Action::Halt => RebootCommand::Halt,
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
                os::sleep(Duration::from_millis(20));
            }
            Reaped::Child(..) => {}
            Reaped::NoChildren => return,
        }
    }
}

/// Terminates everything, unmounts and powers off / reboots / halts.
pub fn shutdown(action: Action, consoles: &[String], mounted: &[String]) -> ! {
    write_consoles(consoles, &format!("kiln-init: {}\n", action.verb()));
    // kill(-1, SIG): every process but PID 1 itself.
    let all = |sig| kill_process_group(Pid::INIT, sig);
    let _ = all(Signal::TERM);
    // Interactive shells ignore SIGTERM but leave on a hangup, as on a closed terminal.
    let _ = all(Signal::HUP);
    let _ = all(Signal::CONT);
    reap_for(Duration::from_secs(2));
    let _ = all(Signal::KILL);
    reap_for(Duration::from_secs(1));
    sync();
    for target in mounted.iter().rev() {
        let _ = unmount(target.as_str(), UnmountFlags::DETACH);
    }
    sync();
    let _ = reboot(action.command());
    idle_forever()
}

/// PID 1 must never exit.
pub fn idle_forever() -> ! {
    loop {
        os::sleep(Duration::from_secs(3600));
    }
}

fn cmdline() -> Option<Cmdline> {
    if let Some(t) = os::read_to_string("/proc/cmdline") {
        return Some(Cmdline::parse(&t));
    }
    // /proc may not be mounted yet (or its mount failed): try once.
    let _ = os::mkdir_p("/proc");
    let _ = rustix::mount::mount("proc", "/proc", "proc", rustix::mount::MountFlags::empty(), None);
    os::read_to_string("/proc/cmdline").map(|t| Cmdline::parse(&t))
}

fn say(text: &str) {
    if write_path(FALLBACK_CONSOLE, text).is_err() {
        let _ = os::write_all(os::stderr(), text.as_bytes());
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
    power_off_now()
}

/// sync + power-off, with no allocation (the panic handler may need it).
fn power_off_now() -> ! {
    sync();
    let _ = reboot(RebootCommand::PowerOff);
    idle_forever()
}

fn rescue_shell() {
    // The device behind /dev/console can be a controlling tty; /dev/console can't.
    let tty = os::read_to_string("/proc/consoles")
        .and_then(|t| parse_proc_consoles(&t).into_iter().find(|c| c.preferred))
        .map(|c| c.path)
        .filter(|p| os::exists(p))
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
    let _ = os::wait_for(pid);
}

static PANICKING: AtomicBool = AtomicBool::new(false);

/// Routes panics through [`fatal`]. A panic inside that path (say, out of
/// memory) skips straight to a message, sync and power-off.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    if PANICKING.swap(true, Ordering::SeqCst) {
        say("kiln-init: fatal: panic while handling a failure\n");
        power_off_now()
    }
    let at = info
        .location()
        .map(|l| format!(" (at {}:{})", l.file(), l.line()))
        .unwrap_or_default();
    fatal(&format!("{}{at}", info.message()))
}
