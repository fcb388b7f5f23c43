//! Small OS helpers for the binary, on rustix's raw system calls: logging,
//! clock, files, stdio, signals, waiting for children, and the real [`Sys`].

use alloc::ffi::CString;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;
use kiln_init::sys::{errno_text, Sys};
use kiln_init::{Action, Exit};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::MountFlags;
use rustix::process::{Pid, WaitOptions};
use rustix::runtime::KernelSigSet;
use rustix::time::Timespec;

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
    // SAFETY: PID 1 never closes fd 2. If the kernel started it with fd 2
    // closed, writes fail with EBADF until `ensure_stdio` opens it; before
    // that, every file PID 1 opens is closed again before the next log call,
    // so fd 2 never names some other open file while it is used as stderr.
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

/// Whole file as UTF-8 text; text that is not UTF-8 is `Errno::ILSEQ`.
pub fn read_to_string(path: &str) -> Result<String, Errno> {
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(&fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    String::from_utf8(data).map_err(|_| Errno::ILSEQ)
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

pub fn is_block_device(path: &str) -> bool {
    file_type(path) == Some(FileType::BlockDevice)
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
/// initramfs had no /dev/console): opens /dev/console, else /dev/null, on
/// each closed one. open(2) returns the lowest free number, so opening until
/// the number is above 2 fills exactly the closed ones.
pub fn ensure_stdio() {
    loop {
        let fd = ["/dev/console", "/dev/null"]
            .iter()
            .find_map(|p| rustix::fs::open(*p, OFlags::RDWR | OFlags::NOCTTY, Mode::empty()).ok());
        match fd {
            Some(fd) if fd.as_raw_fd() <= 2 => core::mem::forget(fd), // it is stdio now
            _ => return, // dropping a number above 2 closes it again
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

/// Waits up to `timeout` (forever if `None`) for any signal. PID 1 blocks
/// all of them (see `main`), so they queue until taken here. Returns the
/// signal number, or `None` on timeout.
pub fn wait_signal(timeout: Option<Duration>) -> Option<i32> {
    let ts = timeout.map(|d| Timespec {
        tv_sec: d.as_secs().min(3600) as i64,
        tv_nsec: d.subsec_nanos() as i64,
    });
    // SAFETY: there is no libc, and neither PID 1 nor origin (built without
    // its signal features) installs a signal handler or relies on a signal
    // being delivered, so taking any signal from the queue here breaks no
    // one's expectations.
    let info = unsafe { rustix::runtime::kernel_sigtimedwait(&KernelSigSet::all(), ts.as_ref()) };
    // SAFETY: every siginfo the kernel fills in starts with si_signo, whichever
    // member of the union the rest of it is.
    info.ok().map(|i| unsafe { i.__bindgen_anon_1.__bindgen_anon_1.si_signo })
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
