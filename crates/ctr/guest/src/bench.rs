//! `kiln-ctr bench-run LABEL RUNS (--bundle DIR | -- CMD...)` (hidden): the guest half
//! of `cargo xtask bench --runtimes`. Times full container runs (create, start, wait,
//! delete) with one clock (`Instant`, CLOCK_MONOTONIC) whatever the runtime:
//!
//! - `--bundle DIR`: libcontainer in this process, as the shim runs it (same builder
//!   calls, stdin /dev/null, detached init reaped with waitpid, `delete(true)`), minus
//!   the network namespace file and CNI (the bundle's config asks for a fresh netns);
//! - `-- CMD...`: an external command per run (`runc run`, `crun run`, or kiln-ctr
//!   itself as a process per container, as the daemon starts a shim), `{id}` in its
//!   arguments replaced by the run's container id.
//!
//! `--warmup N` runs first (page cache; reported apart), then RUNS runs. Each prints
//! `KILNBENCH LABEL RUN MS STATUS` on stdout (RUN `warmup` or 0-based; STATUS the exit
//! code, or `err`), then `KILNBENCH LABEL done`. Container ids are `LABEL-RUN` (plus
//! the warm-up's number).

use kiln_ctr::{Error, Result};
use nix::sys::wait::{waitpid, WaitStatus};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// libcontainer's state directory for the bench's containers (tmpfs).
const STATE_ROOT: &str = "/run/kiln-bench/libcontainer";

pub enum Target {
    Bundle(PathBuf),
    Command(Vec<String>),
}

pub fn run(label: &str, warmup: u32, runs: u32, target: &Target) -> Result<u8> {
    let mut failed = false;
    for i in 0..warmup + runs {
        let (run, id) = match i.checked_sub(warmup) {
            None => ("warmup".to_string(), format!("{label}-warmup{i}")),
            Some(n) => (n.to_string(), format!("{label}-{n}")),
        };
        let t = Instant::now();
        let status = match target {
            Target::Bundle(bundle) => run_libcontainer(&id, bundle),
            Target::Command(cmd) => run_command(&id, cmd),
        };
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let status = match status {
            Ok(code) => code.to_string(),
            Err(e) => {
                eprintln!("kiln-ctr: bench {id}: {e}");
                "err".to_string()
            }
        };
        failed |= status != "0";
        println!("KILNBENCH {label} {run} {ms:.3} {status}");
    }
    println!("KILNBENCH {label} done");
    Ok(u8::from(failed))
}

/// One container run through an external runtime; its exit code (128+N for signal N).
fn run_command(id: &str, cmd: &[String]) -> Result<i32> {
    let args: Vec<String> = cmd.iter().map(|a| a.replace("{id}", id)).collect();
    let (program, rest) = args.split_first().ok_or_else(|| Error("no command".into()))?;
    let status = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(|e| Error(format!("running {program}: {e}")))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status.code().or(status.signal().map(|s| 128 + s)).unwrap_or(255))
}

/// One container run with libcontainer in this process, as `shim::run_container`
/// does it: create (detached), start, reap the init, delete.
fn run_libcontainer(id: &str, bundle: &Path) -> Result<i32> {
    let root = Path::new(STATE_ROOT);
    std::fs::create_dir_all(root).map_err(|e| Error(format!("creating {STATE_ROOT}: {e}")))?;
    let open = |p: &str| std::fs::File::options().read(true).write(true).open(p).map_err(|e| Error(format!("{p}: {e}")));
    let (mut ctr, pid) = crate::shim::create(id, root, bundle, [open("/dev/null")?, open("/dev/null")?, open("/dev/null")?])?;
    if let Err(e) = ctr.start() {
        let _ = ctr.delete(true);
        return Err(Error(format!("starting the container: {e}")));
    }
    let code = loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => break code,
            Ok(WaitStatus::Signaled(_, sig, _)) => break 128 + sig as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                let _ = ctr.delete(true);
                return Err(Error(format!("waiting for the container's init: {e}")));
            }
        }
    };
    ctr.delete(true).map_err(|e| Error(format!("deleting the container: {e}")))?;
    Ok(code)
}
