//! `cargo xtask test-boot`: boots every artifact headless, as users do, and checks what
//! the guest prints. One line per case, then `N passed, N failed`.

use crate::artifacts::{self, Artifacts};
use crate::ctx::Ctx;
use anyhow::{bail, Result};
use kiln_vm::{Accel, Boot, Firmware, Machine, Step};
use std::time::Duration;

#[derive(clap::Args, Clone)]
pub struct Args {
    #[command(flatten)]
    pub image: crate::ImageArg,
    /// Run only the cases whose name contains this (repeatable)
    #[arg(long)]
    pub only: Vec<String>,
}

/// What kiln-init prints when the system is up.
pub const MARKER: &str = "kiln-init: boot complete in ";

pub struct Case {
    pub name: &'static str,
    pub machine: Machine,
    pub steps: Vec<Step>,
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn cmd(cmd: &str, expect: &[&str]) -> Step {
    Step::Command { cmd: cmd.into(), expect: expect.iter().map(|s| s.to_string()).collect(), timeout: secs(30) }
}

/// What every boot must show: a shell that runs commands, then a clean power-off.
pub fn shell_steps(linux_version: &str) -> Vec<Step> {
    vec![
        Step::Boot { marker: MARKER.into(), timeout: secs(240) },
        Step::Shell { timeout: secs(60) },
        cmd("uname -r", &[linux_version]),
        cmd("cat /proc/cmdline", &["console=ttyS0"]),
        cmd("ls /", &["bin", "dev", "etc", "init", "proc", "sys"]),
        Step::Exit { cmd: "poweroff".into(), status: 0, expect: vec!["reboot: Power down".into()], timeout: secs(60) },
        Step::Never("Kernel panic".into()),
        Step::Never("job control turned off".into()),
    ]
}

pub fn cases(a: &Artifacts, accel: Accel) -> Vec<Case> {
    let iso = a.iso.clone().expect("test-boot builds the iso");
    let serial = &a.spec.iso.entries[0];
    let direct = Boot::Kernel { kernel: a.kernel.clone(), initrd: a.initrd.clone(), append: a.spec.cmdline(serial) };
    let boots: [(&str, Firmware, Boot); 5] = [
        ("direct-kernel", Firmware::SeaBios, direct),
        ("seabios-cd", Firmware::SeaBios, Boot::Cdrom(iso.clone())),
        ("seabios-disk", Firmware::SeaBios, Boot::Disk(iso.clone())),
        ("ovmf-cd", Firmware::Ovmf, Boot::Cdrom(iso.clone())),
        ("ovmf-disk", Firmware::Ovmf, Boot::Disk(iso)),
    ];
    boots
        .into_iter()
        .map(|(name, fw, boot)| {
            let mut machine = Machine::new(fw, boot, accel);
            // A guest that reboots (or panics and reboots) ends the run instead of looping.
            machine.no_reboot = true;
            Case { name, machine, steps: shell_steps(&a.linux_version) }
        })
        .collect()
}

pub fn run(args: &Args) -> Result<()> {
    let ctx = Ctx::new();
    let a = artifacts::build(&ctx, &args.image.image, true)?;
    let accel = kiln_vm::probe_kvm(&a.kernel, &a.initrd);
    eprintln!("test-boot: accelerator {accel:?} (KVM is probed; TCG when it does not work)");
    let log_dir = ctx.out.join("test-boot");
    let selected: Vec<Case> = cases(&a, accel)
        .into_iter()
        .filter(|c| args.only.is_empty() || args.only.iter().any(|o| c.name.contains(o.as_str())))
        .collect();
    if selected.is_empty() {
        bail!("no case matches {:?}", args.only);
    }
    let (mut passed, mut failed) = (0, 0);
    for case in &selected {
        let log = log_dir.join(format!("{}.log", case.name));
        let r = kiln_vm::run_script(case.name, &case.machine, &case.steps, &log);
        let boot = match (r.boot_seconds, r.guest_uptime) {
            (Some(b), Some(g)) => format!(" (marker after {b:.1}s; guest uptime {g:.2}s)"),
            (Some(b), None) => format!(" (marker after {b:.1}s)"),
            _ => String::new(),
        };
        if r.passed() {
            passed += 1;
            println!("PASS {:<16} {:>6.1}s  {} checks{boot}", r.name, r.seconds, r.checks);
        } else {
            failed += 1;
            println!("FAIL {:<16} {:>6.1}s{boot}", r.name, r.seconds);
            println!("     {}", r.error.as_deref().unwrap_or_default().replace('\n', "\n     "));
            println!("     command: {}", r.command_line);
            println!("     log: {}", r.log.display());
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} boot case(s) failed; logs in {}", log_dir.display());
    }
    Ok(())
}
