//! `kiln-ctr exec [-t] NAME CMD...`: a process in a running container (libcontainer's
//! tenant builder), waited for; kiln-ctr exits with its status (128+N for signal N).
//!
//! With `-t` the process gets a pty: its `process.json` is the container's process
//! with `terminal: true` and the new args, libcontainer sends the pty's master over
//! a console socket, and kiln-ctr copies between it and its own terminal (raw mode).

use crate::cli::state_of;
use crate::shim::runtime_root;
use kiln_ctr::error::Context;
use kiln_ctr::manifest::{self, Manifest};
use kiln_ctr::state::{write_json, Status};
use kiln_ctr::{bail, Error, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde_json::Value;
use std::fs::File;
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

pub fn run(name: &str, tty: bool, args: Vec<String>) -> Result<u8> {
    let m = Manifest::load(Path::new(manifest::MANIFEST_PATH))?;
    let c = m.get(name)?;
    let st = state_of(name)?;
    if st.status != Status::Running {
        bail!("{name} is not running ({})", st.word());
    }
    // libcontainer's exec drops the container's seccomp profile: kiln-ctr's executor
    // loads it (crate::seccomp).
    let builder = ContainerBuilder::new(name.to_string(), SyscallType::default())
        .with_root_path(runtime_root())
        .map_err(|e| Error(format!("libcontainer root: {e}")))?
        .with_executor(crate::seccomp::Seccomp::for_bundle(Path::new(&c.bundle))?);
    if !tty {
        let pid = builder
            .as_tenant()
            .with_container_args(args)
            .with_detach(false)
            .build()
            .map_err(|e| Error(format!("exec in {name}: {e}")))?;
        return wait(pid, name);
    }

    let dir = Path::new(manifest::STATE_DIR).join(name).join(format!("exec-{}", std::process::id()));
    let _cleanup = RemoveDir(dir.clone());
    std::fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
    let process = tty_process(&Path::new(&c.bundle).join("config.json"), args)?;
    let process_path = dir.join("process.json");
    write_json(&process_path, &process)?;
    let sock_path = dir.join("console.sock");
    let listener = UnixListener::bind(&sock_path).context(|| format!("listening on {}", sock_path.display()))?;
    let pid = builder
        .with_console_socket(Some(&sock_path))
        .as_tenant()
        .with_process(Some(&process_path))
        .with_detach(true)
        .build()
        .map_err(|e| Error(format!("exec in {name}: {e}")))?;
    let (conn, _) = listener.accept().context(|| "accepting the console socket".into())?;
    let master = receive_fd(conn.as_raw_fd())?;
    let saved = raw_mode();
    copy_window_size(&master);
    let mut to_pty = File::from(master.try_clone().context(|| "duplicating the pty".into())?);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut stdin = std::io::stdin().lock();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || to_pty.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let code = pump(&File::from(master), pid, name);
    if let Some(t) = saved {
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &t);
    }
    code
}

/// Copies the pty's output to stdout until the process has exited and the output
/// is drained. (Waiting for EIO is not enough: a copy of the pty's other side may
/// outlive the process.)
fn pump(mut pty: &File, pid: Pid, name: &str) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    let mut buf = [0u8; 4096];
    let mut status = None;
    loop {
        let mut fds = [PollFd::new(pty.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, PollTimeout::from(100u16)).unwrap_or(0);
        let readable = ready > 0 && fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLIN));
        if readable {
            match pty.read(&mut buf) {
                Ok(n) if n > 0 => {
                    let _ = out.write_all(&buf[..n]).and_then(|_| out.flush());
                    continue;
                }
                // EIO: nobody holds the other side any more.
                _ => return status.map_or_else(|| wait(pid, name), Ok),
            }
        }
        if status.is_some() {
            // Exited, and nothing more to read within 100 ms.
            return Ok(status.unwrap_or(0));
        }
        if ready > 0 && !readable {
            // POLLHUP without data.
            return wait(pid, name);
        }
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => status = Some(code as u8),
            Ok(WaitStatus::Signaled(_, sig, _)) => status = Some(128 + sig as u8),
            Err(nix::errno::Errno::ECHILD) => status = Some(0),
            _ => {}
        }
    }
}

/// The container's own process with `terminal: true` and `args`.
fn tty_process(config: &Path, args: Vec<String>) -> Result<Value> {
    let text = std::fs::read_to_string(config).context(|| config.display().to_string())?;
    let mut cfg: Value = serde_json::from_str(&text).context(|| config.display().to_string())?;
    let mut p = cfg["process"].take();
    if !p.is_object() {
        bail!("{}: no `process`", config.display());
    }
    p["args"] = Value::from(args);
    p["terminal"] = Value::Bool(true);
    Ok(p)
}

/// The pty master libcontainer sends (SCM_RIGHTS) over the console socket.
fn receive_fd(sock: i32) -> Result<OwnedFd> {
    let mut name = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::empty()).context(|| "receiving the pty".into())?;
    for c in msg.cmsgs().context(|| "receiving the pty".into())? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor for us (SCM_RIGHTS);
                // nothing else owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    bail!("the console socket sent no pty")
}

/// Puts our terminal (if stdin is one) in raw mode; returns the old settings.
fn raw_mode() -> Option<nix::sys::termios::Termios> {
    let saved = tcgetattr(std::io::stdin()).ok()?;
    let mut raw = saved.clone();
    cfmakeraw(&mut raw);
    tcsetattr(std::io::stdin(), SetArg::TCSANOW, &raw).ok()?;
    Some(saved)
}

nix::ioctl_read_bad!(get_winsize, nix::libc::TIOCGWINSZ, nix::libc::winsize);
nix::ioctl_write_ptr_bad!(set_winsize, nix::libc::TIOCSWINSZ, nix::libc::winsize);

/// Gives the pty our terminal's size (once; resizes are not followed).
fn copy_window_size(master: &OwnedFd) {
    let mut ws = nix::libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one `winsize` into `ws`, which lives across the call.
    if unsafe { get_winsize(std::io::stdin().as_raw_fd(), &mut ws) }.is_ok() {
        // SAFETY: TIOCSWINSZ reads one `winsize` from `ws`; `master` is an open pty.
        let _ = unsafe { set_winsize(master.as_raw_fd(), &ws) };
    }
}

fn wait(pid: Pid, name: &str) -> Result<u8> {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code as u8),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as u8),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            // Not our child after all (libcontainer reparented it): its status is lost.
            Err(nix::errno::Errno::ECHILD) => return Ok(0),
            Err(e) => bail!("waiting for the process in {name}: {e}"),
        }
    }
}

struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
