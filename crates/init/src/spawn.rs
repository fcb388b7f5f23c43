//! fork + exec of children with a clean signal state, a new session and
//! chosen stdio. Everything the child needs is prepared before fork; the
//! child makes only system calls on that data (no allocation), then execs.

use crate::os;
use alloc::ffi::CString;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use rustix::fd::{AsRawFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::Pid;
use rustix::runtime::Fork;

pub enum Stdio {
    /// Controlling terminal: stdin/stdout/stderr on this tty (job control).
    Tty(String),
    /// stdin from /dev/null, stdout+stderr to this (log) file.
    Log(OwnedFd),
    /// stdin from /dev/null, stdout+stderr inherited (the console).
    Inherit,
}

/// Finds `prog` in the `PATH` of `env` unless it contains a `/`.
fn resolve(prog: &str, env: &[(String, String)]) -> String {
    if prog.contains('/') {
        return prog.to_string();
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or("/bin:/sbin:/usr/bin:/usr/sbin", |(_, v)| v.as_str());
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let full = format!("{dir}/{prog}");
        if os::is_file(&full) {
            return full;
        }
    }
    prog.to_string()
}

/// A NUL-terminated copy of `s`, or an error naming it.
fn cstr(s: &str) -> Result<CString, String> {
    kiln_guest::cstr(s).map_err(|_| format!("'{}' contains a NUL byte", s.escape_debug()))
}

/// A NULL-terminated array of pointers into `strings`.
fn pointers(strings: &[CString]) -> Vec<*const u8> {
    let mut v: Vec<*const u8> = strings.iter().map(|s| s.as_ptr().cast()).collect();
    v.push(core::ptr::null());
    v
}

/// Starts `argv` (argv[0] resolved via PATH) with exactly `env`, in `cwd`
/// (falling back to `/`), in a new session. Returns the child's pid.
pub fn spawn(
    argv: &[String],
    env: &[(String, String)],
    cwd: &str,
    stdio: Stdio,
    user: Option<(u32, u32)>,
) -> Result<Pid, String> {
    let prog = argv.first().ok_or("empty command")?;
    let path = cstr(&resolve(prog, env))?;
    let args = argv.iter().map(|a| cstr(a)).collect::<Result<Vec<_>, _>>()?;
    let envs = env
        .iter()
        .map(|(k, v)| cstr(&format!("{k}={v}")))
        .collect::<Result<Vec<_>, _>>()?;
    let (arg_ptrs, env_ptrs) = (pointers(&args), pointers(&envs));
    let cwd = cstr(cwd)?;
    let tty = match &stdio {
        Stdio::Tty(p) => Some(cstr(p)?),
        _ => None,
    };
    let log_fd = match &stdio {
        Stdio::Log(fd) => Some(fd),
        _ => None,
    };
    let err_msg = format!("kiln-init: cannot run {prog}: ");

    // SAFETY: PID 1 is single-threaded and shares no memory mappings, so
    // the child has no locks held by other threads to meet; it neither
    // allocates nor touches a thread runtime: it only makes system calls on
    // the data prepared above, then execs or exits.
    match unsafe { rustix::runtime::kernel_fork() } {
        Err(e) => Err(format!("fork failed: {}", kiln_init::sys::errno_text(e))),
        Ok(Fork::ParentOf(pid)) => Ok(pid), // `stdio` drops: the parent's log fd closes
        Ok(Fork::Child(_)) => {
            // SAFETY: we are the child of a fork, and `arg_ptrs`/`env_ptrs`
            // come from `pointers`: NULL-terminated arrays of pointers into
            // `args`/`envs`, which live until exec or exit.
            let e = unsafe { child(&path, &arg_ptrs, &env_ptrs, &cwd, tty.as_deref(), log_fd, user) };
            let reason: &[u8] = match e {
                Errno::NOENT => b"not found\n",
                Errno::ACCESS => b"permission denied\n",
                Errno::NOEXEC => b"exec format error\n",
                Errno::PERM => b"operation not permitted\n",
                _ => b"exec failed\n",
            };
            let _ = os::write_all(os::stderr(), err_msg.as_bytes());
            let _ = os::write_all(os::stderr(), reason);
            rustix::runtime::exit_group(127)
        }
    }
}

/// The child's side: signal mask, session, stdio, cwd, exec. Returns only if
/// exec failed.
///
/// # Safety
/// Call only in the child of a fork, before exec: it changes this process's
/// signal mask, session and stdio. `argv` and `envp` must be NULL-terminated
/// arrays of pointers to NUL-terminated strings that outlive the call.
unsafe fn child(
    path: &core::ffi::CStr,
    argv: &[*const u8],
    envp: &[*const u8],
    cwd: &core::ffi::CStr,
    tty: Option<&core::ffi::CStr>,
    log_fd: Option<&OwnedFd>,
    user: Option<(u32, u32)>,
) -> Errno {
    // PID 1 blocks every signal and installs no handlers: the child starts
    // with default dispositions and gets an empty mask back (nothing in this
    // process depends on a signal staying blocked: the next thing that runs is
    // the exec'd program).
    kiln_guest::unblock_signals();
    let _ = rustix::process::setsid();
    match tty {
        Some(tty) => {
            let Ok(fd) = rustix::fs::open(tty, OFlags::RDWR, Mode::empty()) else {
                rustix::runtime::exit_group(126)
            };
            let _ = rustix::process::ioctl_tiocsctty(&fd);
            let _ = rustix::termios::tcsetpgrp(&fd, rustix::process::getpid());
            let _ = rustix::stdio::dup2_stdin(&fd);
            let _ = rustix::stdio::dup2_stdout(&fd);
            let _ = rustix::stdio::dup2_stderr(&fd);
            if fd.as_raw_fd() <= 2 {
                core::mem::forget(fd); // it is one of 0..2 now
            }
        }
        None => {
            if let Ok(null) = rustix::fs::open(c"/dev/null", OFlags::RDWR, Mode::empty()) {
                let _ = rustix::stdio::dup2_stdin(&null);
                if null.as_raw_fd() <= 2 {
                    core::mem::forget(null);
                }
            }
            if let Some(log) = log_fd {
                let _ = rustix::stdio::dup2_stdout(log);
                let _ = rustix::stdio::dup2_stderr(log);
            }
        }
    }
    // The tty is open and ours: now leave root, group first (setgid needs root), with
    // no supplementary groups. These are per-thread system calls, and this child has
    // one thread. A program must never start as root when it was meant not to.
    if let Some((uid, gid)) = user {
        let (u, g) = (rustix::process::Uid::from_raw(uid), rustix::process::Gid::from_raw(gid));
        let dropped = rustix::thread::set_thread_groups(&[])
            .and_then(|()| rustix::thread::set_thread_res_gid(g, g, g))
            .and_then(|()| rustix::thread::set_thread_res_uid(u, u, u));
        if let Err(e) = dropped {
            return e;
        }
    }
    // After the switch, so the directory is one the user may enter.
    if rustix::process::chdir(cwd).is_err() {
        let _ = rustix::process::chdir(c"/");
    }
    // SAFETY: the caller guarantees `argv` and `envp` are NULL-terminated
    // arrays of pointers to NUL-terminated strings, alive for this call.
    unsafe { rustix::runtime::execve(path, argv.as_ptr(), envp.as_ptr()) }
}
