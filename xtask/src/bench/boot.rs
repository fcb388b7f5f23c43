//! Boot to a working shell, timed: QEMU with the plain command line of a user (nothing
//! added that makes the boot work), the serial console read with host timestamps, a
//! command typed whose answer only the guest can compute, the clock stopped when the
//! answer comes back. Every run has a deadline and QEMU is killed after it.

use super::report::{bisect, parse_boot_times, Cell, Floor, Run, Series};
use kiln_vm::{Accel, Boot, Firmware, Machine, Session};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to boot and how to know its init has started.
pub struct Target<'a> {
    /// `kiln` or `reference`: the log files' prefix.
    pub name: &'static str,
    pub iso: &'a Path,
    /// The init's first line: typing before it would reach the boot loader's menu.
    pub ready: &'a str,
    /// Read kiln-init's `/run/kiln/boot-times` after the shell answered.
    pub boot_times: bool,
    /// Typed after `ready` (again every `retry` until `answer` comes back): what the
    /// profile counts as up. [`QUESTION`] for a shell.
    pub question: &'a str,
    /// What the guest prints when it is up; never in the echo of `question`.
    pub answer: &'a str,
    pub retry: Duration,
}

impl<'a> Target<'a> {
    /// Up when a shell answers [`QUESTION`].
    pub fn shell(name: &'static str, iso: &'a Path, ready: &'a str, boot_times: bool) -> Target<'a> {
        Target { name, iso, ready, boot_times, question: QUESTION, answer: ANSWER, retry: Duration::from_secs(2) }
    }
}

/// The command typed, and what it prints (the echo of the typed line never contains it).
pub const QUESTION: &str = "echo :$((6*7)):\n";
pub const ANSWER: &str = ":42:";

/// Firmware × medium.
#[derive(Debug, Clone, Copy)]
pub struct CellSpec {
    pub name: &'static str,
    pub firmware: Firmware,
    pub disk: bool,
}

pub fn cells(quick: bool) -> Vec<CellSpec> {
    let all = [
        CellSpec { name: "seabios-cd", firmware: Firmware::SeaBios, disk: false },
        CellSpec { name: "ovmf-cd", firmware: Firmware::Ovmf, disk: false },
        CellSpec { name: "seabios-disk", firmware: Firmware::SeaBios, disk: true },
        CellSpec { name: "ovmf-disk", firmware: Firmware::Ovmf, disk: true },
    ];
    all.into_iter().take(if quick { 2 } else { 4 }).collect()
}

pub fn machine(cell: CellSpec, iso: &Path, accel: Accel, memory_mib: Option<u32>) -> Machine {
    let boot = if cell.disk { Boot::Disk(iso.to_owned()) } else { Boot::Cdrom(iso.to_owned()) };
    let mut m = Machine::new(cell.firmware, boot, accel);
    m.memory_mib = memory_mib;
    // Only so that a guest that resets (too little memory) ends the run at once.
    m.no_reboot = memory_mib.is_some();
    m
}

/// One boot of `target` in `machine`, logged to `log` (and `log` with `.timed`).
pub fn boot_to_shell(machine: &Machine, target: &Target, log: &Path, timeout: Duration) -> Run {
    let mut run = Run { memory_mib: machine.memory_mib, log: log.display().to_string(), ..Run::default() };
    let timed = log.with_extension("timed");
    run.timed_log = timed.display().to_string();
    let mut session = match Session::start(machine, log) {
        Ok(s) => s,
        Err(e) => {
            run.error = Some(e.to_string());
            return run;
        }
    };
    session.fail_on = vec!["Kernel panic".into()];
    if let Err(e) = converse(&mut session, target, timeout, &mut run) {
        run.error = Some(e.to_string());
    }
    session.kill();
    let lines = session.timed_lines();
    let first = |needle: &str| lines.iter().find(|(_, l)| l.contains(needle)).map(|(t, _)| t.as_secs_f64());
    run.kernel_s = first("Linux version");
    run.init_s = first(target.ready);
    if run.error.is_none() {
        // The arrival of the answer's first byte; what `expect` saw is a little later.
        run.shell_s = first(target.answer).or(run.shell_s);
    } else {
        run.shell_s = None;
    }
    let text: String = lines.iter().map(|(t, l)| format!("{:.3}\t{l}\n", t.as_secs_f64())).collect();
    if let Err(e) = std::fs::write(&timed, text) {
        eprintln!("  cannot write {}: {e}", timed.display());
    }
    run
}

fn converse(s: &mut Session, target: &Target, timeout: Duration, run: &mut Run) -> kiln_vm::Result<()> {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    s.expect(target.ready, left())?;
    if target.boot_times {
        let rest = s.expect("\n", left().min(Duration::from_secs(5)))?;
        run.guest_uptime_s = rest.trim().trim_end_matches('s').trim().parse().ok();
    }
    loop {
        s.send(target.question)?;
        match s.expect(target.answer, left().min(target.retry)) {
            Ok(_) => break,
            Err(kiln_vm::Error::Timeout { .. }) if !left().is_zero() => continue,
            Err(e) => return Err(e),
        }
    }
    run.shell_s = Some(s.elapsed().as_secs_f64());
    if target.boot_times {
        s.send("echo :BT''B:; cat /run/kiln/boot-times; echo :BT''E:\n")?;
        s.expect(":BTB:", Duration::from_secs(10))?;
        let text = s.expect(":BTE:", Duration::from_secs(10))?;
        run.boot_times = parse_boot_times(&text);
    }
    Ok(())
}

/// `runs` boots of each target in `cell`, alternating between them so that a slow
/// moment of a shared machine does not fall on one side only.
/// `memory_mib`: `-m` for both (`None`: QEMU's default, 128 MiB).
pub fn measure_cell(cell: CellSpec, kiln: &Target, reference: &Target, runs: u32, accel: Accel, logs: &Path, memory_mib: Option<u32>) -> Cell {
    let mut k = Vec::new();
    let mut r = Vec::new();
    for i in 1..=runs {
        for (t, into) in [(kiln, &mut k), (reference, &mut r)] {
            let log = log_path(logs, t.name, cell.name, &i.to_string());
            let run = boot_to_shell(&machine(cell, t.iso, accel, memory_mib), t, &log, Duration::from_secs(300));
            print_run(t.name, cell.name, &run);
            into.push(run);
        }
    }
    Cell { cell: cell.name.into(), kiln: Series::new(k), reference: Series::new(r) }
}

pub fn print_run(who: &str, cell: &str, run: &Run) {
    let f = |x: Option<f64>| x.map_or("-".into(), |s| format!("{s:.2}s"));
    let mem = run.memory_mib.map_or(String::new(), |m| format!(" -m {m}"));
    match &run.error {
        None => eprintln!("  {who:<9} {cell:<12}{mem} kernel {} init {} shell {}", f(run.kernel_s), f(run.init_s), f(run.shell_s)),
        Some(e) => eprintln!("  {who:<9} {cell:<12}{mem} no shell ({}): {}", run.log, e.lines().next().unwrap_or("")),
    }
}

fn log_path(logs: &Path, who: &str, cell: &str, run: &str) -> PathBuf {
    logs.join(format!("{who}-{cell}-{run}.log"))
}

/// The smallest `-m` with which `target` still reaches the shell in `cell`, by bisection
/// over `low..=high` MiB; each try gets `timeout`.
pub fn ram_floor(cell: CellSpec, target: &Target, low: u32, high: u32, accel: Accel, logs: &Path, timeout: Duration) -> Floor {
    bisect(low, high, |m| {
        let log = log_path(logs, target.name, cell.name, &format!("m{m}"));
        let run = boot_to_shell(&machine(cell, target.iso, accel, Some(m)), target, &log, timeout);
        print_run(target.name, cell.name, &run);
        run.shell_s.is_some()
    })
}
