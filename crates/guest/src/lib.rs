//! kiln-guest: the binary-side helpers that Kiln's two libc-free guest programs
//! share, kiln-init (PID 1 of an image) and kiln-boot (the `/init` of a live
//! initramfs).
//!
//! Both run as PID 1 with no libc, on rustix's raw system calls, and each used to
//! carry its own copy of the same layer: writing to stderr, `NAME: message` logs,
//! reading files, `mkdir -p`, the clock, opening stdio, taking signals, power-off,
//! the start as PID 1, and the program runtime. This crate is that layer once.
//! It is `no_std` (with `alloc`) and builds on the host, so it is tested there;
//! the runtime (origin's `_start`, the heap, `rust_eh_personality`) is behind
//! the `rt` feature, which only the static guest build turns on.
//!
//! It is for those two programs: the SAFETY arguments below rest on what both
//! of them do (one thread, no signal handlers, fd 2 never closed). The
//! workspace lints deny `unsafe_op_in_unsafe_fn` and want a SAFETY comment on
//! every `unsafe` block (`clippy::undocumented_unsafe_blocks`).
//!
//! Every function is `#[inline]`, so it is compiled into the program that calls
//! it, next to the program's own instances of rustix's generic calls
//! (`open::<&str>`, ...); compiled here they were a second copy of those, and
//! the two binaries 1.3 KB larger each.

#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

use alloc::ffi::CString;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::runtime::{How, KernelSigSet};
use rustix::system::{reboot, RebootCommand};
use rustix::time::Timespec;

#[cfg(feature = "rt")]
mod rt {
    // Links origin, whose `_start` calls the program's `origin_main`: a crate that
    // is never named is not linked, and the entry point would be 0.
    extern crate origin;

    #[global_allocator]
    static HEAP: rustix_dlmalloc::GlobalDlmalloc = rustix_dlmalloc::GlobalDlmalloc;

    /// The precompiled `core` refers to the unwinder's personality routine even
    /// under panic=abort; it is never called.
    #[no_mangle]
    extern "C" fn rust_eh_personality() {}
}

/// Writes all of `bytes` to `fd`, retrying short writes and EINTR.
#[inline]
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

/// fd 2, normally /dev/console.
#[inline]
pub fn stderr() -> BorrowedFd<'static> {
    // SAFETY: neither program ever closes fd 2. If the kernel started one with
    // fd 2 closed, writes fail with EBADF until `ensure_stdio` opens it (kiln-boot
    // calls it first thing; kiln-init once devtmpfs is mounted); before that,
    // every file the program opens is closed again before the next write to
    // stderr, so fd 2 never names some other open file while it is used as stderr.
    // (rustix makes this call safe when its `std` feature is on, as another crate
    // turns it on in a host workspace build; the guest build has no std.)
    #[allow(unused_unsafe)]
    unsafe {
        rustix::stdio::stderr()
    }
}

/// A program's messages on stderr, `NAME: MSG` a line.
#[derive(Clone, Copy)]
pub struct Logger {
    name: &'static str,
}

impl Logger {
    /// Messages prefixed with `name` (`kiln-init`, `kiln-boot`).
    #[inline]
    pub const fn new(name: &'static str) -> Self {
        Logger { name }
    }

    /// Writes `NAME: MSG` and a newline to stderr. Never fails.
    #[inline]
    pub fn log(&self, msg: &str) {
        let _ = write_all(stderr(), format!("{}: {msg}\n", self.name).as_bytes());
    }
}

/// The start both programs make in `origin_main`: checks that this process is
/// PID 1, then sets umask 022 and the working directory `/`. If it is not PID 1,
/// says `NAME: must run as pid 1` and `detail`, changes nothing and returns
/// false (the program then returns 1).
#[inline]
pub fn start_pid1(log: Logger, detail: &str) -> bool {
    if rustix::process::getpid() != rustix::process::Pid::INIT {
        log.log(&format!("must run as pid 1{detail}"));
        return false;
    }
    rustix::process::umask(Mode::from_raw_mode(0o022));
    let _ = rustix::process::chdir("/");
    true
}

/// Time since boot (CLOCK_BOOTTIME).
#[inline]
pub fn now() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Sleeps for `d` (less if a signal interrupts it).
#[inline]
pub fn sleep(d: Duration) {
    let ts = Timespec { tv_sec: d.as_secs() as i64, tv_nsec: d.subsec_nanos() as i64 };
    let _ = rustix::thread::nanosleep(&ts);
}

/// PID 1 must never exit: sleeps forever.
#[inline]
pub fn idle_forever() -> ! {
    loop {
        sleep(Duration::from_secs(3600));
    }
}

/// sync + power-off, without allocating (a panic handler may need it).
#[inline]
pub fn power_off() -> ! {
    rustix::fs::sync();
    let _ = reboot(RebootCommand::PowerOff);
    idle_forever()
}

/// Whole file as UTF-8 text; text that is not UTF-8 is `Errno::ILSEQ`.
#[inline]
pub fn read_to_string(path: &str) -> Result<String, Errno> {
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd = rustix::fs::open(path, flags, Mode::empty())?;
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

/// The type of what `path` names (following symlinks), if it exists.
#[inline]
pub fn file_type(path: &str) -> Option<FileType> {
    rustix::fs::stat(path).ok().map(|st| FileType::from_raw_mode(st.st_mode))
}

#[inline]
pub fn exists(path: &str) -> bool {
    file_type(path).is_some()
}

#[inline]
pub fn is_dir(path: &str) -> bool {
    file_type(path) == Some(FileType::Directory)
}

#[inline]
pub fn is_file(path: &str) -> bool {
    file_type(path) == Some(FileType::RegularFile)
}

#[inline]
pub fn is_block_device(path: &str) -> bool {
    file_type(path) == Some(FileType::BlockDevice)
}

/// `mkdir -p PATH` with mode 0755.
#[inline]
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

/// A NUL-terminated copy of `s`; a NUL inside is `Errno::INVAL` (what the
/// kernel says of a path it cannot take).
#[inline]
pub fn cstr(s: &str) -> Result<CString, Errno> {
    CString::new(s).map_err(|_| Errno::INVAL)
}

/// Makes sure fds 0, 1 and 2 are open (the kernel leaves them closed if the
/// initramfs had no /dev/console): opens /dev/console, else /dev/null, on each
/// closed one. open(2) returns the lowest free number, so opening until the
/// number is above 2 fills exactly the closed ones.
#[inline]
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

/// Blocks every signal: they queue until [`wait_signal`] takes them.
#[inline]
pub fn block_signals() {
    // SAFETY: there is no libc reserving signals, and neither program nor origin
    // (built without its signal features) installs a handler or relies on a
    // signal being delivered.
    let _ = unsafe { rustix::runtime::kernel_sigprocmask(How::BLOCK, Some(&KernelSigSet::all())) };
}

/// Unblocks every signal (in a child before exec; kiln-boot before its exec
/// and after its rescue shell).
#[inline]
pub fn unblock_signals() {
    // SAFETY: there is no libc reserving signals, and no handler is installed in
    // either program, so a signal that now arrives unblocked takes its default
    // action; nothing relies on one staying blocked.
    let _ = unsafe { rustix::runtime::kernel_sigprocmask(How::SETMASK, Some(&KernelSigSet::empty())) };
}

/// Waits up to `timeout` (forever if `None`) for any signal; call it with every
/// signal blocked ([`block_signals`]), so they queue until taken here. Returns
/// the signal number, or `None` on timeout.
#[inline]
pub fn wait_signal(timeout: Option<Duration>) -> Option<i32> {
    let ts = timeout.map(|d| Timespec {
        tv_sec: d.as_secs().min(3600) as i64,
        tv_nsec: d.subsec_nanos() as i64,
    });
    // SAFETY: there is no libc, and neither program nor origin (built without its
    // signal features) installs a signal handler or relies on a signal being
    // delivered, so taking any signal from the queue here breaks no one's
    // expectations.
    let info = unsafe { rustix::runtime::kernel_sigtimedwait(&KernelSigSet::all(), ts.as_ref()) };
    // SAFETY: every siginfo the kernel fills in starts with si_signo, whichever
    // member of the union the rest of it is.
    info.ok().map(|i| unsafe { i.__bindgen_anon_1.__bindgen_anon_1.si_signo })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    /// A fresh directory under the system's temp dir.
    fn scratch(name: &str) -> String {
        let dir = std::env::temp_dir().join(format!("kiln-guest-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.to_str().unwrap().to_string()
    }

    #[test]
    fn mkdir_p_makes_every_level_and_refuses_a_file() {
        let dir = scratch("mkdir");
        let deep = format!("{dir}/a/b/c");
        assert_eq!(mkdir_p(&deep), Ok(()));
        assert!(is_dir(&deep));
        assert_eq!(mkdir_p(&deep), Ok(()), "existing directories are fine");
        std::fs::write(format!("{dir}/f"), "x").unwrap();
        assert_eq!(mkdir_p(&format!("{dir}/f")), Err(Errno::NOTDIR));
        assert!(is_file(&format!("{dir}/f")) && exists(&format!("{dir}/f")));
        assert!(!exists(&format!("{dir}/none")) && !is_block_device(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn read_and_write_whole_files() {
        let dir = scratch("read");
        mkdir_p(&dir).unwrap();
        let path = format!("{dir}/t");
        let text = "line\n".repeat(2000); // more than one read
        let fd = rustix::fs::open(path.as_str(), OFlags::WRONLY | OFlags::CREATE, Mode::from_raw_mode(0o644)).unwrap();
        write_all(&fd, text.as_bytes()).unwrap();
        assert_eq!(read_to_string(&path).as_deref(), Ok(text.as_str()));
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(read_to_string(&path), Err(Errno::ILSEQ));
        assert_eq!(read_to_string(&format!("{dir}/none")), Err(Errno::NOENT));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cstr_refuses_nul() {
        assert_eq!(cstr("/bin/sh").unwrap().as_bytes(), b"/bin/sh");
        assert_eq!(cstr("a\0b"), Err(Errno::INVAL));
    }

    #[test]
    fn clock_moves_and_sleep_sleeps() {
        let t = now();
        sleep(Duration::from_millis(5));
        assert!(now() >= t + Duration::from_millis(5));
    }

    #[test]
    fn a_test_is_not_pid_1() {
        // (It says so on stderr, as the programs do.)
        assert!(!start_pid1(Logger::new("kiln-guest test"), ""));
    }
}
