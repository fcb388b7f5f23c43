//! Small OS helpers for the binary: logging, clock, console writes, and the
//! real [`Sys`] implementation.

use kiln_init::sys::Sys;
use nix::errno::Errno;
use nix::libc;
use nix::mount::{mount, MsFlags};
use nix::time::{clock_gettime, ClockId};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::time::Duration;

/// Writes `kiln-init: MSG` to stderr (normally /dev/console). Never fails.
pub fn log(msg: &str) {
    let line = format!("kiln-init: {msg}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Time since boot (CLOCK_BOOTTIME).
pub fn now() -> Duration {
    match clock_gettime(ClockId::CLOCK_BOOTTIME) {
        Ok(ts) => Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32),
        Err(_) => Duration::ZERO,
    }
}

/// Writes `text` to a tty or file without making it our controlling tty.
pub fn write_path(path: &str, text: &str) -> std::io::Result<()> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(path)?
        .write_all(text.as_bytes())
}

/// Writes `text` to each console; falls back to stderr if none worked.
pub fn write_consoles(consoles: &[String], text: &str) {
    let mut any = false;
    for c in consoles {
        any |= write_path(c, text).is_ok();
    }
    if !any {
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

pub fn mkdir_p(path: &str) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
}

/// Makes sure fds 0, 1 and 2 are open (the kernel leaves them closed if the
/// initramfs had no /dev/console): opens /dev/console, else /dev/null.
pub fn ensure_stdio() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only queries the descriptor.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1 {
            continue;
        }
        for path in [c"/dev/console", c"/dev/null"] {
            // SAFETY: plain open/dup2/close on descriptors we own.
            unsafe {
                let new = libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
                if new < 0 {
                    continue;
                }
                if new != fd {
                    libc::dup2(new, fd);
                    libc::close(new);
                }
            }
            break;
        }
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
        mount(
            Some(source),
            target,
            Some(fstype),
            MsFlags::from_bits_truncate(flags),
            data,
        )
    }

    fn mkdir_p(&mut self, path: &str) -> Result<(), Errno> {
        mkdir_p(path).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    }

    fn read_file(&mut self, path: &str) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }

    fn log(&mut self, msg: &str) {
        log(msg)
    }
}

pub enum Reaped {
    Child(i32, kiln_init::Exit),
    /// Children exist but none has exited.
    NoneYet,
    /// ECHILD: no children left.
    NoChildren,
}

/// One `waitpid(-1, WNOHANG)` (raw libc so that any signal number works).
pub fn reap_one() -> Reaped {
    wait_any(false)
}

/// One `waitpid(-1, ...)`; blocks until a child exits if `block`.
pub fn wait_any(block: bool) -> Reaped {
    let flags = if block { 0 } else { libc::WNOHANG };
    let mut status = 0;
    loop {
        // SAFETY: plain waitpid with a valid status pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, flags) };
        if pid > 0 {
            let exit = if libc::WIFEXITED(status) {
                kiln_init::Exit::Code(libc::WEXITSTATUS(status))
            } else if libc::WIFSIGNALED(status) {
                kiln_init::Exit::Signal(libc::WTERMSIG(status))
            } else {
                continue; // stopped/continued: not an exit
            };
            return Reaped::Child(pid, exit);
        }
        if pid == 0 {
            return Reaped::NoneYet;
        }
        if Errno::last() == Errno::EINTR {
            continue;
        }
        return Reaped::NoChildren;
    }
}
