//! Small OS helpers for the binary, on rustix's raw system calls: logging,
//! clock, files, stdio, waiting for children, and the real [`Sys`].

use alloc::ffi::CString;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;
use kiln_init::sys::{errno_text, Sys};
use kiln_init::Exit;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::MountFlags;
use rustix::process::{Pid, WaitOptions};

/// Writes all of `bytes` to `fd`, retrying short writes and EINTR.
pub fn write_all(fd: impl AsFd, mut bytes: &[u8]) -> Result<(), Errno> {
    let fd = fd.as_fd();
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return Err(Errno::IO),
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub fn stderr() -> BorrowedFd<'static> {
    // SAFETY: fd 2 is kept open for PID 1's whole life (see `ensure_stdio`).
    unsafe { rustix::stdio::stderr() }
}

/// Writes `kiln-init: MSG` to stderr (normally /dev/console). Never fails.
pub fn log(msg: &str) {
    let _ = write_all(stderr(), format!("kiln-init: {msg}\n").as_bytes());
}

/// Time since boot (CLOCK_BOOTTIME).
pub fn now() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

pub fn sleep(d: Duration) {
    let ts = rustix::time::Timespec {
        tv_sec: d.as_secs() as i64,
        tv_nsec: d.subsec_nanos() as i64,
    };
    let _ = rustix::thread::nanosleep(&ts);
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

/// Whole file as UTF-8 text.
pub fn read_to_string(path: &str) -> Option<String> {
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(&fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(Errno::INTR) => {}
            Err(_) => return None,
        }
    }
    String::from_utf8(data).ok()
}

fn file_type(path: &str) -> Option<FileType> {
    let st = rustix::fs::stat(path).ok()?;
    Some(FileType::from_raw_mode(st.st_mode))
}

pub fn exists(path: &str) -> bool {
    file_type(path).is_some()
}

pub fn is_dir(path: &str) -> bool {
    file_type(path) == Some(FileType::Directory)
}

pub fn is_file(path: &str) -> bool {
    file_type(path) == Some(FileType::RegularFile)
}

/// `mkdir -p PATH` with mode 0755.
pub fn mkdir_p(path: &str) -> Result<(), Errno> {
    let mut end = 0;
    while end < path.len() {
        end = path[end + 1..].find('/').map_or(path.len(), |i| end + 1 + i);
        let prefix = &path[..end];
        if prefix.is_empty() || prefix == "/" {
            continue;
        }
        match rustix::fs::mkdir(prefix, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e),
        }
    }
    if is_dir(path) {
        Ok(())
    } else {
        Err(Errno::NOTDIR)
    }
}

/// A NUL-terminated copy of `s`, or an error naming it.
pub fn cstr(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("'{}' contains a NUL byte", s.escape_debug()))
}

/// Makes sure fds 0, 1 and 2 are open (the kernel leaves them closed if the
/// initramfs had no /dev/console): opens /dev/console, else /dev/null.
pub fn ensure_stdio() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only asks whether the number is an open descriptor.
        if rustix::io::fcntl_getfd(unsafe { BorrowedFd::borrow_raw(fd) }).is_ok() {
            continue;
        }
        for path in ["/dev/console", "/dev/null"] {
            let Ok(new) = rustix::fs::open(path, OFlags::RDWR | OFlags::NOCTTY, Mode::empty())
            else {
                continue;
            };
            let _ = match fd {
                0 => rustix::stdio::dup2_stdin(&new),
                1 => rustix::stdio::dup2_stdout(&new),
                _ => rustix::stdio::dup2_stderr(&new),
            };
            // The lowest free number is `fd` itself: keep it open.
            if rustix::fd::AsRawFd::as_raw_fd(&new) == fd {
                core::mem::forget(new);
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
        let data = data.map(cstr).transpose().map_err(|_| Errno::INVAL)?;
        let flags = MountFlags::from_bits_retain(flags as _);
        rustix::mount::mount(source, target, fstype, flags, data.as_deref())
    }

    fn mkdir_p(&mut self, path: &str) -> Result<(), Errno> {
        mkdir_p(path)
    }

    fn read_file(&mut self, path: &str) -> Option<String> {
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

/// Blocks until `pid` exits, reaping any other child that ends meanwhile. `None` if
/// there are no children left to wait for.
pub fn wait_for(pid: Pid) -> Option<Exit> {
    loop {
        match wait_any(true) {
            Reaped::Child(p, exit) if p == pid => return Some(exit),
            Reaped::Child(..) | Reaped::NoneYet => {}
            Reaped::NoChildren => return None,
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
