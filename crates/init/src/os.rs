//! The binary's OS layer, on rustix's raw system calls: kiln-guest's helpers
//! (logging, clock, files, stdio, signals), and kiln-init's own: writing to
//! consoles and files, waiting for children, and the real [`Sys`].

use alloc::format;
use alloc::string::String;
use core::time::Duration;
use kiln_guest::{cstr, Logger};
use kiln_init::sys::{errno_text, Sys};
use kiln_init::{Action, Exit};
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::MountFlags;
use rustix::process::{Pid, WaitOptions};

/// The helpers kiln-boot needs too: see the kiln-guest crate.
pub use kiln_guest::{
    ensure_stdio, exists, is_block_device, is_dir, is_file, mkdir_p, now, read_to_string, stderr,
    wait_signal, write_all,
};

/// `kiln-init: MSG` lines on stderr (normally /dev/console).
pub const LOGGER: Logger = Logger::new("kiln-init");

/// Writes `kiln-init: MSG` to stderr. Never fails.
pub fn log(msg: &str) {
    LOGGER.log(msg);
}

/// Opens `path` for writing without making it our controlling tty.
fn open_write(path: &str, extra: OFlags) -> Result<OwnedFd, Errno> {
    let flags = OFlags::WRONLY | OFlags::NOCTTY | OFlags::CLOEXEC | extra;
    rustix::fs::open(path, flags, Mode::from_raw_mode(0o644))
}

/// Writes `text` to a tty or file (not truncated, not our controlling tty).
pub fn write_path(path: &str, text: &str) -> Result<(), Errno> {
    write_all(open_write(path, OFlags::empty())?, text.as_bytes())
}

/// Replaces `path` with `text`.
pub fn write_file(path: &str, text: &str) -> Result<(), Errno> {
    write_all(open_write(path, OFlags::CREATE | OFlags::TRUNC)?, text.as_bytes())
}

/// Opens `path` for appending, creating it (mode 0644).
pub fn open_append(path: &str) -> Result<OwnedFd, Errno> {
    open_write(path, OFlags::CREATE | OFlags::APPEND)
}

/// Writes `text` to each console; falls back to stderr if none worked.
pub fn write_consoles(consoles: &[String], text: &str) {
    let mut any = false;
    for c in consoles {
        any |= write_path(c, text).is_ok();
    }
    if !any {
        let _ = write_all(stderr(), text.as_bytes());
    }
}

pub struct RealSys;

impl Sys for RealSys {
    fn mount(
        &mut self,
        source: &str,
        target: &str,
        fstype: &str,
        flags: u64,
        data: Option<&str>,
    ) -> Result<(), Errno> {
        let data = data.map(cstr).transpose()?;
        let flags = MountFlags::from_bits_retain(flags as _);
        rustix::mount::mount(source, target, fstype, flags, data.as_deref())
    }

    fn unmount(&mut self, target: &str, detach: bool) -> Result<(), Errno> {
        let flags = if detach {
            rustix::mount::UnmountFlags::DETACH
        } else {
            rustix::mount::UnmountFlags::empty()
        };
        rustix::mount::unmount(target, flags)
    }

    fn is_block_device(&mut self, path: &str) -> bool {
        is_block_device(path)
    }

    fn mkdir_p(&mut self, path: &str) -> Result<(), Errno> {
        mkdir_p(path)
    }

    fn read_file(&mut self, path: &str) -> Result<String, Errno> {
        read_to_string(path)
    }

    fn log(&mut self, msg: &str) {
        log(msg)
    }
}

/// Logs `what: reason` for a failed system call.
pub fn log_err(what: &str, e: Errno) {
    log(&format!("{what}: {}", errno_text(e)));
}

pub enum Reaped {
    Child(Pid, Exit),
    /// Children exist but none has exited.
    NoneYet,
    /// ECHILD: no children left.
    NoChildren,
}

/// One `waitpid(-1, WNOHANG)`.
pub fn reap_one() -> Reaped {
    wait_any(false)
}

/// How [`wait_child`] ended.
pub enum Waited {
    Exited(Exit),
    /// The deadline passed; the child is still running.
    TimedOut,
    /// A shutdown signal arrived meanwhile.
    Shutdown(Action),
    /// No children left (someone else reaped it).
    Gone,
}

/// Waits for `pid` to exit, until `deadline` (time since boot; `None` is no
/// deadline), reaping every other child that ends meanwhile. PID 1 keeps
/// answering: a shutdown signal ends the wait.
pub fn wait_child(pid: Pid, deadline: Option<Duration>) -> Waited {
    loop {
        loop {
            match wait_any(false) {
                Reaped::Child(p, exit) if p == pid => return Waited::Exited(exit),
                Reaped::Child(..) => {}
                Reaped::NoneYet => break,
                Reaped::NoChildren => return Waited::Gone,
            }
        }
        let left = deadline.map(|d| d.saturating_sub(now()));
        if left == Some(Duration::ZERO) {
            return Waited::TimedOut;
        }
        // SIGCHLD wakes us to reap; other signals that ask for nothing are dropped.
        if let Some(action) = wait_signal(left).and_then(Action::from_signal) {
            return Waited::Shutdown(action);
        }
    }
}

/// One `waitpid(-1, ...)`; blocks until a child exits if `block`.
fn wait_any(block: bool) -> Reaped {
    let opts = if block {
        WaitOptions::empty()
    } else {
        WaitOptions::NOHANG
    };
    loop {
        // `wait` is waitpid(-1): any child. (rustix's `waitpid(None)` is pid 0, our group.)
        match rustix::process::wait(opts) {
            Ok(Some((pid, status))) => {
                let exit = if let Some(code) = status.exit_status() {
                    Exit::Code(code)
                } else if let Some(sig) = status.terminating_signal() {
                    Exit::Signal(sig)
                } else {
                    continue; // stopped/continued: not an exit
                };
                return Reaped::Child(pid, exit);
            }
            Ok(None) => return Reaped::NoneYet,
            Err(Errno::INTR) => {}
            Err(_) => return Reaped::NoChildren,
        }
    }
}
