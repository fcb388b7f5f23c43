//! Orderly shutdown, and the fatal-failure path (`fatal`, panic hook). The
//! order and the reasons for it are in `kiln_init::stop`.

use crate::os::{self, log, write_consoles, write_path, Reaped, Waited};
use crate::spawn::{spawn, Stdio};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use kiln_guest::{idle_forever, power_off};
use kiln_init::cmdline::Cmdline;
use kiln_init::config::DEFAULT_ENV;
use kiln_init::consoles::{parse_proc_consoles, FALLBACK_CONSOLE};
use kiln_init::stop::{StopPlan, HANGUP_GRACE};
use kiln_init::unmount::release_mounts;
use kiln_init::Action;
use rustix::fs::sync;
use rustix::process::{kill_process_group, Pid, Signal};
use rustix::system::{reboot, RebootCommand};

/// A running service to stop. Services run in their own session, so `pid`
/// is also their process group.
pub struct Stopping<'a> {
    pub pid: Pid,
    pub name: &'a str,
    pub timeout_secs: u32,
}

fn reboot_command(action: Action) -> RebootCommand {
    match action {
        Action::PowerOff => RebootCommand::PowerOff,
        Action::Reboot => RebootCommand::Restart,
        Action::Halt => RebootCommand::Halt,
    }
}

/// Reaps every child that has exited, telling `on_exit`; `false` once no
/// children are left at all.
fn reap_all(mut on_exit: impl FnMut(Pid)) -> bool {
    loop {
        match os::reap_one() {
            Reaped::Child(pid, _) => on_exit(pid),
            Reaped::NoneYet => return true,
            Reaped::NoChildren => return false,
        }
    }
}

/// Sleeps until a signal (normally SIGCHLD) or `deadline`; `false` if the
/// deadline had already passed.
fn nap_until(deadline: Duration) -> bool {
    let left = deadline.saturating_sub(os::now());
    if left.is_zero() {
        return false;
    }
    let _ = os::wait_signal(Some(left));
    true
}

/// Reaps until no children are left or `limit` has passed.
fn reap_for(limit: Duration) {
    let deadline = os::now() + limit;
    while reap_all(|_| {}) && nap_until(deadline) {}
}

/// Waits for the services (which have had SIGTERM), each up to its stop
/// timeout; kills the process group of each one that overstays.
fn stop_services(services: &[Stopping]) {
    let timeouts: Vec<u32> = services.iter().map(|s| s.timeout_secs).collect();
    let mut plan = StopPlan::new(os::now(), &timeouts);
    loop {
        let any_left = reap_all(|pid| {
            if let Some(i) = services.iter().position(|s| s.pid == pid) {
                plan.ended(i);
            }
        });
        for i in plan.overdue(os::now()) {
            let s = &services[i];
            log(&format!(
                "service {} did not stop within {} s; killing it",
                s.name, s.timeout_secs
            ));
            let _ = kill_process_group(s.pid, Signal::KILL);
        }
        match plan.next_deadline() {
            Some(deadline) if any_left => {
                nap_until(deadline);
            }
            _ => return,
        }
    }
}

/// Stops everything, releases the file systems and powers off / reboots /
/// halts. `shells` are the console shells (their sessions get SIGHUP).
pub fn shutdown(action: Action, consoles: &[String], services: &[Stopping], shells: &[Pid]) -> ! {
    write_consoles(consoles, &format!("kiln-init: {}\n", action.verb()));
    // kill(-1, SIG): every process but PID 1 itself.
    let all = |sig| kill_process_group(Pid::INIT, sig);
    let _ = all(Signal::TERM);
    // A stopped process must run to act on SIGTERM; SIGTERM (15) is delivered first.
    let _ = all(Signal::CONT);
    stop_services(services);
    // Interactive shells ignore SIGTERM but leave on a hangup, as on a closed
    // terminal; as session leaders they then hang up their foreground job.
    for &pid in shells {
        let _ = kill_process_group(pid, Signal::HUP);
        let _ = kill_process_group(pid, Signal::CONT);
    }
    reap_for(HANGUP_GRACE);
    let _ = all(Signal::KILL);
    reap_for(Duration::from_secs(1));
    sync();
    if let Ok(mounts) = os::read_to_string("/proc/mounts") {
        release_mounts(&mut os::RealSys, &mounts);
    }
    sync();
    let _ = reboot(reboot_command(action));
    idle_forever()
}

fn cmdline() -> Option<Cmdline> {
    if let Ok(t) = os::read_to_string("/proc/cmdline") {
        return Some(Cmdline::parse(&t));
    }
    // /proc may not be mounted yet (or its mount failed): try once.
    let _ = os::mkdir_p("/proc");
    let _ = rustix::mount::mount("proc", "/proc", "proc", rustix::mount::MountFlags::empty(), None);
    os::read_to_string("/proc/cmdline").ok().map(|t| Cmdline::parse(&t))
}

fn say(text: &str) {
    if write_path(FALLBACK_CONSOLE, text).is_err() {
        let _ = os::write_all(os::stderr(), text.as_bytes());
    }
}

/// Reports a fatal failure on /dev/console, offers a rescue shell if
/// `kiln.rescue` is on the command line, then powers off. Never returns.
/// `poweroff`, `reboot` and `halt` in the rescue shell work as usual.
pub fn fatal(msg: &str) -> ! {
    say(&format!("kiln-init: fatal: {msg}\n"));
    if cmdline().is_some_and(|c| c.rescue) {
        say("kiln-init: rescue shell (exit to power off)\n");
        rescue_shell();
    }
    power_off()
}

fn rescue_shell() {
    // The device behind /dev/console can be a controlling tty; /dev/console can't.
    let tty = os::read_to_string("/proc/consoles")
        .ok()
        .and_then(|t| parse_proc_consoles(&t).into_iter().find(|c| c.preferred))
        .map(|c| c.path)
        .filter(|p| os::exists(p))
        .unwrap_or_else(|| FALLBACK_CONSOLE.to_string());
    let env: Vec<(String, String)> = DEFAULT_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let argv = ["/bin/sh".to_string()];
    let pid = match spawn(&argv, &env, "/", Stdio::Tty(tty.clone()), None) {
        Ok(pid) => pid,
        Err(e) => {
            say(&format!("kiln-init: cannot start rescue shell: {e}\n"));
            return;
        }
    };
    if let Waited::Shutdown(action) = os::wait_child(pid, None) {
        shutdown(action, &[tty], &[], &[pid]);
    }
}

static PANICKING: AtomicBool = AtomicBool::new(false);

/// Routes panics through [`fatal`]. A panic inside that path (say, out of
/// memory) skips straight to a message, sync and power-off.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    if PANICKING.swap(true, Ordering::SeqCst) {
        say("kiln-init: fatal: panic while handling a failure\n");
        power_off()
    }
    let at = info
        .location()
        .map(|l| format!(" (at {}:{})", l.file(), l.line()))
        .unwrap_or_default();
    fatal(&format!("{}{at}", info.message()))
}
