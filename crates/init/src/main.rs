//! kiln-init: Kiln's PID 1. See README.md for behaviour and options.
//!
//! No libc, like kiln-boot: kiln-guest (feature `rt`) links origin's `_start`,
//! which calls `origin_main` below, and rustix-dlmalloc's heap; system calls
//! are rustix's, through kiln-guest's helpers and `os`.

#![no_std]
#![no_main]

extern crate alloc;

mod os;
mod shutdown;
mod spawn;
mod supervisor;

use kiln_init::cmdline::{Break, Cmdline};
use kiln_init::config::{self, Command};
use kiln_init::consoles::{parse_proc_consoles, FALLBACK_CONSOLE};
use kiln_init::mounts::mount_all;
use kiln_init::{boot_marker, format_secs, Exit};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;
use os::{log, Waited};
use rustix::process::{kill_process_group, Signal};
use shutdown::{fatal, shutdown};
use spawn::{spawn, Stdio};
use supervisor::Supervisor;

/// Called by origin's `_start`.
#[no_mangle]
fn origin_main(_argc: usize, _argv: *mut *mut u8, _envp: *mut *mut u8) -> i32 {
    if !kiln_guest::start_pid1(os::LOGGER, "") {
        return 1;
    }
    // Every signal is taken synchronously, with sigtimedwait.
    kiln_guest::block_signals();
    // Ctrl-Alt-Del sends SIGINT to us instead of rebooting at once.
    let _ = rustix::system::reboot(rustix::system::RebootCommand::CadOff);
    boot()
}

fn boot() -> ! {
    let config::Loaded { config, messages } = config::load(&mut os::RealSys);

    // 1. Mounts.
    let mounted = mount_all(&mut os::RealSys, &config.mounts);
    // Only now can /dev/console be opened if the kernel could not (devtmpfs is up).
    os::ensure_stdio();
    if let Err(msg) = mounted {
        fatal(&msg);
    }
    let mut stages = vec![("mounts", os::now())];
    for m in &messages {
        log(m);
    }

    let cmdline = Cmdline::parse(&os::read_to_string("/proc/cmdline").unwrap_or_default());
    for w in &cmdline.warnings {
        log(w);
    }
    match cmdline.brk {
        Some(Break::Panic) => panic!("deliberate panic (kiln.break=panic)"),
        Some(Break::Mount) => fatal("essential mount failed (simulated by kiln.break=mount)"),
        None => {}
    }

    let hostname = cmdline
        .hostname
        .as_deref()
        .unwrap_or_else(|| config.hostname_or_default());
    if let Err(e) = rustix::system::sethostname(hostname.as_bytes()) {
        os::log_err(&format!("cannot set hostname '{hostname}'"), e);
    }
    let env = config.environment(&cmdline.env);

    // 2. onboot commands, in order, each waited for (up to its timeout).
    let consoles = find_consoles();
    for cmd in &config.onboot {
        run_onboot(cmd, &env, &consoles);
    }
    stages.push(("onboot", os::now()));

    // 3. Services.
    let mut sup = Supervisor::new(env, consoles.clone(), config.workdir.as_deref());
    for s in &config.services {
        sup.add_service(s);
    }
    stages.push(("services", os::now()));

    // 4. Boot marker (before the shells so the prompt comes after it), shells.
    let marker = boot_marker(os::now().as_millis() as u64);
    os::write_consoles(&consoles, &format!("{marker}\n"));
    let shell = config.shell_argv();
    for tty in &consoles {
        sup.add_console(tty.clone(), shell.clone(), config.shell_user);
    }
    stages.push(("shell", os::now()));
    write_boot_times(&stages);

    sup.run()
}

/// Console ttys from /proc/consoles that exist, else /dev/console.
fn find_consoles() -> Vec<String> {
    let text = os::read_to_string("/proc/consoles").unwrap_or_default();
    let found: Vec<String> = parse_proc_consoles(&text)
        .into_iter()
        .map(|c| c.path)
        .filter(|p| os::exists(p))
        .collect();
    if found.is_empty() {
        vec![FALLBACK_CONSOLE.to_string()]
    } else {
        found
    }
}

/// Runs one `onboot` command and waits for it, up to its timeout; then its
/// process group is killed. A shutdown request meanwhile is carried out.
fn run_onboot(cmd: &Command, env: &[(String, String)], consoles: &[String]) {
    let name = &cmd.name;
    let pid = match spawn(&cmd.argv, env, "/", Stdio::Inherit, None) {
        Ok(pid) => pid,
        Err(e) => {
            log(&format!("onboot {name}: cannot start: {e}"));
            return;
        }
    };
    let timeout = Duration::from_secs(u64::from(cmd.timeout_secs));
    let exit = match os::wait_child(pid, Some(os::now() + timeout)) {
        Waited::Exited(exit) => exit,
        Waited::Gone => return,
        Waited::Shutdown(action) => shutdown(action, consoles, &[], &[]),
        Waited::TimedOut => {
            log(&format!(
                "onboot {name} still running after {} s; killing it",
                cmd.timeout_secs
            ));
            // It runs in its own session: its process group is it and what it started
            // (unless they left the group, as daemons do).
            let _ = kill_process_group(pid, Signal::KILL);
            match os::wait_child(pid, Some(os::now() + Duration::from_secs(1))) {
                Waited::Shutdown(action) => shutdown(action, consoles, &[], &[]),
                _ => return,
            }
        }
    };
    match exit {
        Exit::Code(0) => {}
        Exit::Code(n) => log(&format!("onboot {name} failed: exit status {n}")),
        Exit::Signal(s) => log(&format!("onboot {name} killed by signal {s}")),
    }
}

fn write_boot_times(stages: &[(&str, Duration)]) {
    let mut text = String::new();
    for (name, t) in stages {
        text.push_str(name);
        text.push(' ');
        text.push_str(&format_secs(t.as_millis() as u64));
        text.push('\n');
    }
    let res = os::mkdir_p("/run/kiln").and_then(|()| os::write_file("/run/kiln/boot-times", &text));
    if let Err(e) = res {
        os::log_err("cannot write /run/kiln/boot-times", e);
    }
}
