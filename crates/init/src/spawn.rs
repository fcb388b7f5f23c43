//! fork + exec of children with a clean signal state, a new session and
//! chosen stdio. Everything the child needs is prepared before fork; the
//! child only makes async-signal-safe libc calls.

use nix::libc;
use nix::unistd::Pid;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};

pub enum Stdio {
    /// Controlling terminal: stdin/stdout/stderr on this tty (job control).
    Tty(String),
    /// stdin from /dev/null, stdout+stderr to this (log) file.
    Log(OwnedFd),
    /// stdin from /dev/null, stdout+stderr inherited (the console).
    Inherit,
}

fn cstr(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("'{}' contains a NUL byte", s.escape_debug()))
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
        if std::fs::metadata(&full).is_ok_and(|m| m.is_file()) {
            return full;
        }
    }
    prog.to_string()
}

/// Starts `argv` (argv[0] resolved via PATH) with exactly `env`, in `cwd`
/// (falling back to `/`), in a new session. Returns the child's pid.
pub fn spawn(
    argv: &[String],
    env: &[(String, String)],
    cwd: &str,
    stdio: Stdio,
) -> Result<Pid, String> {
    let prog = argv.first().ok_or("empty command")?;
    let path = cstr(&resolve(prog, env))?;
    let args = argv
        .iter()
        .map(|a| cstr(a))
        .collect::<Result<Vec<_>, _>>()?;
    let envs = env
        .iter()
        .map(|(k, v)| cstr(&format!("{k}={v}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut arg_ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    arg_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = envs.iter().map(|a| a.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    let cwd = cstr(cwd)?;
    let tty = match &stdio {
        Stdio::Tty(p) => Some(cstr(p)?),
        _ => None,
    };
    let log_fd = match &stdio {
        Stdio::Log(fd) => fd.as_raw_fd(),
        _ => -1,
    };
    let err_msg = format!("kiln-init: cannot run {prog}: ");

    // SAFETY: PID 1 is single-threaded; the child only calls
    // async-signal-safe functions on data prepared above, then execs/_exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork failed: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        unsafe {
            for sig in 1..libc::SIGRTMAX() {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::signal(sig, libc::SIG_DFL);
                }
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            libc::setsid();
            match &tty {
                Some(tty) => {
                    let fd = libc::open(tty.as_ptr(), libc::O_RDWR);
                    if fd < 0 {
                        libc::_exit(126);
                    }
                    libc::ioctl(fd, libc::TIOCSCTTY, 1);
                    for n in 0..3 {
                        libc::dup2(fd, n);
                    }
                    if fd > 2 {
                        libc::close(fd);
                    }
                    libc::tcsetpgrp(0, libc::getpid());
                }
                None => {
                    let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                    if null >= 0 {
                        libc::dup2(null, 0);
                        if null > 2 {
                            libc::close(null);
                        }
                    }
                    if log_fd >= 0 {
                        libc::dup2(log_fd, 1);
                        libc::dup2(log_fd, 2);
                    }
                }
            }
            if libc::chdir(cwd.as_ptr()) != 0 {
                libc::chdir(c"/".as_ptr());
            }
            libc::execve(path.as_ptr(), arg_ptrs.as_ptr(), env_ptrs.as_ptr());
            let reason: &[u8] = match *libc::__errno_location() {
                libc::ENOENT => b"not found\n",
                libc::EACCES => b"permission denied\n",
                libc::ENOEXEC => b"exec format error\n",
                _ => b"exec failed\n",
            };
            libc::write(2, err_msg.as_ptr().cast(), err_msg.len());
            libc::write(2, reason.as_ptr().cast(), reason.len());
            libc::_exit(127);
        }
    }
    // The log fd (if any) is closed here in the parent by dropping `stdio`.
    drop(stdio);
    Ok(Pid::from_raw(pid))
}
