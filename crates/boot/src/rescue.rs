//! The failure path: the message, a rescue shell on the console if the
//! initramfs has one, then power-off. Also the `rd.break` shell and the
//! panic handler. PID 1 never returns.

use crate::os::{self, cstr, log, unblock_signals};
use kiln_guest::power_off;
use alloc::format;
use alloc::string::{String, ToString};
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use kiln_init::consoles::{parse_proc_consoles, FALLBACK_CONSOLE};
use kiln_init::stop::Action;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{kill_process_group, Pid, Signal, WaitOptions};
use rustix::runtime::Fork;
use rustix::system::{reboot, RebootCommand};

const SHELL: &str = "/bin/sh";

/// Says what failed, offers the rescue shell, powers off.
pub fn fail(msg: &str) -> ! {
    log(msg);
    if os::is_file(SHELL) {
        log("rescue shell; exit it to power off");
        shell();
    } else {
        log("no /bin/sh for a rescue shell; powering off in 10 s");
        os::sleep(Duration::from_secs(10));
    }
    power_off()
}

/// The device behind /dev/console (which cannot be a controlling tty), if
/// /proc/consoles names one that exists; else /dev/console.
fn console_tty() -> String {
    os::read_to_string("/proc/consoles")
        .ok()
        .and_then(|t| parse_proc_consoles(&t).into_iter().find(|c| c.preferred))
        .map(|c| c.path)
        .filter(|p| os::exists(p))
        .unwrap_or_else(|| FALLBACK_CONSOLE.to_string())
}

/// Runs `/bin/sh` on the console with job control and waits for it. While
/// it runs, `poweroff`, `reboot` and `halt` (BusyBox's signals to PID 1) work.
pub fn shell() {
    let tty = console_tty();
    // Signals are taken with sigtimedwait while the shell runs; the child
    // unblocks them again before exec.
    kiln_guest::block_signals();
    match spawn(&tty) {
        Ok(pid) => wait(pid),
        Err(e) => log(&format!("cannot start {SHELL} on {tty}: {}", kiln_boot::sys::errno_text(e))),
    }
    unblock_signals();
}

fn spawn(tty: &str) -> Result<Pid, Errno> {
    let (path, tty) = (cstr(SHELL)?, cstr(tty)?);
    let env = [c"PATH=/bin:/sbin:/usr/bin:/usr/sbin", c"HOME=/", c"TERM=linux"];
    let envp = [env[0].as_ptr().cast::<u8>(), env[1].as_ptr().cast(), env[2].as_ptr().cast(), core::ptr::null()];
    let argv = [path.as_ptr().cast::<u8>(), core::ptr::null()];
    // SAFETY: PID 1 has one thread, so the child meets no lock held by
    // another; it only makes system calls on the data prepared above (no
    // allocation), then execs or exits.
    match unsafe { rustix::runtime::kernel_fork() }? {
        Fork::ParentOf(pid) => Ok(pid),
        Fork::Child(_) => {
            unblock_signals();
            let _ = rustix::process::setsid();
            if let Ok(fd) = rustix::fs::open(&*tty, OFlags::RDWR, Mode::empty()) {
                let _ = rustix::process::ioctl_tiocsctty(&fd);
                let _ = rustix::termios::tcsetpgrp(&fd, rustix::process::getpid());
                let _ = rustix::stdio::dup2_stdin(&fd);
                let _ = rustix::stdio::dup2_stdout(&fd);
                let _ = rustix::stdio::dup2_stderr(&fd);
            }
            // SAFETY: `argv` and `envp` are NULL-terminated arrays of pointers
            // to NUL-terminated strings that live until exec.
            let _ = unsafe { rustix::runtime::execve(&path, argv.as_ptr(), envp.as_ptr()) };
            rustix::runtime::exit_group(127)
        }
    }
}

/// Waits for `pid`, reaping others; a power-off/reboot/halt signal is carried out.
fn wait(pid: Pid) {
    loop {
        loop {
            match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some((p, _))) if p == pid => return,
                Ok(Some(_)) | Err(Errno::INTR) => {}
                Ok(None) => break,
                Err(_) => return, // no children left
            }
        }
        if let Some(action) = kiln_guest::wait_signal(None).and_then(Action::from_signal) {
            log(action.verb());
            let _ = kill_process_group(Pid::INIT, Signal::KILL); // kill(-1): all but us
            rustix::fs::sync();
            let _ = reboot(match action {
                Action::PowerOff => RebootCommand::PowerOff,
                Action::Reboot => RebootCommand::Restart,
                Action::Halt => RebootCommand::Halt,
            });
        }
    }
}

static PANICKING: AtomicBool = AtomicBool::new(false);

/// A panic is a failure like any other; a panic on that path powers off.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    if PANICKING.swap(true, Ordering::SeqCst) {
        let _ = os::write_all(os::stderr(), b"kiln-boot: panic while handling a failure\n");
        power_off()
    }
    let at = info.location().map(|l| format!(" (at {}:{})", l.file(), l.line())).unwrap_or_default();
    fail(&format!("panic: {}{at}", info.message()))
}
