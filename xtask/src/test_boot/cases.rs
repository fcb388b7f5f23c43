//! The boot cases: which artifact, which firmware, which medium, and the script.

use crate::artifacts::Artifacts;
use kiln_vm::{Accel, Boot, Firmware, Machine, Step};
use std::time::Duration;

/// What kiln-init prints when the system is up.
pub const MARKER: &str = "kiln-init: boot complete in ";

pub struct Case {
    pub name: String,
    pub machine: Machine,
    pub steps: Vec<Step>,
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn cmd(cmd: &str, expect: &[&str]) -> Step {
    Step::Command { cmd: cmd.into(), expect: expect.iter().map(|s| s.to_string()).collect(), timeout: secs(30) }
}

fn boot() -> Vec<Step> {
    vec![Step::Boot { marker: MARKER.into(), timeout: secs(240) }, Step::Shell { timeout: secs(60) }]
}

fn wait_for(text: &str) -> Step {
    Step::Type { text: String::new(), expect: text.into(), timeout: secs(240) }
}

fn power_off(cmd: &str) -> Step {
    let expect = vec!["kiln-init: powering off".into(), "reboot: Power down".into()];
    Step::Exit { cmd: cmd.into(), status: 0, expect, timeout: secs(60) }
}

/// Things no boot may print.
fn never() -> Vec<Step> {
    vec![
        Step::Never("Kernel panic".into()),
        Step::Never("job control turned off".into()),
        Step::Never("can't access tty".into()),
    ]
}

/// The full check of a booted system: commands, job control, respawn, reaping, power-off.
pub fn shell_steps(linux_version: &str) -> Vec<Step> {
    let mut s = boot();
    s.extend([
        cmd("uname -r", &[linux_version]),
        cmd("cat /proc/cmdline", &["console=ttyS0"]),
        cmd("ls /", &["bin", "dev", "etc", "init", "proc", "sys"]),
        // An orphan (its parent exits at once) must be reaped by PID 1 when it dies.
        cmd(
            "sh -c 'sleep 1 &'; sleep 3; echo zombies=$(grep -l '^State:.Z' /proc/[0-9]*/status 2>/dev/null | wc -l)",
            &["zombies=0"],
        ),
        // Job control: Ctrl-C interrupts a foreground command and the shell answers again.
        // The marker is printed after the shell has read the line (a ^C typed while it
        // still edits the line would only clear it), right before `sleep` starts.
        Step::Type { text: "echo :KILN-SLEEP''ING:; sleep 600\n".into(), expect: ":KILN-SLEEPING:".into(), timeout: secs(10) },
        Step::Type { text: "\x03".into(), expect: "^C".into(), timeout: secs(10) },
        Step::Shell { timeout: secs(10) },
        // Leaving the shell gives a new one, not a kernel panic.
        Step::Type { text: "exit\n".into(), expect: "exit".into(), timeout: secs(10) },
        Step::Shell { timeout: secs(30) },
        cmd("echo pid1=$(cat /proc/1/comm)", &["pid1=init"]),
        power_off("poweroff"),
    ]);
    s.extend(never());
    s
}

/// `cmd` makes PID 1 reboot: BusyBox's `reboot` (SIGTERM), or SIGINT, which the
/// kernel sends for Ctrl-Alt-Del once init has turned the instant reboot off.
fn reboot_steps(cmd: &str) -> Vec<Step> {
    let mut s = boot();
    let expect = vec!["kiln-init: rebooting".into(), "reboot: Restarting system".into()];
    s.push(Step::Exit { cmd: cmd.into(), status: 0, expect, timeout: secs(60) });
    s.extend(never());
    s
}

/// The kernel line a halted machine prints last; QEMU keeps running after it.
const HALTED: &str = "reboot: System halted";

/// BusyBox's `halt` (SIGUSR1): processes end, the kernel halts the CPU.
fn halt_steps() -> Vec<Step> {
    let mut s = boot();
    s.push(Step::Type { text: "halt\n".into(), expect: "kiln-init: halting".into(), timeout: secs(30) });
    s.push(wait_for(HALTED));
    s.extend(never());
    s
}

/// The demo image's configuration took effect.
fn demo_steps() -> Vec<Step> {
    let mut s = boot();
    s.extend([
        cmd("hostname", &["kiln-demo"]),
        cmd("echo \"$GREETING\"", &["hello from kiln"]),
        cmd("cat /run/motd", &["onboot ran"]),
        cmd("grep /mnt/scratch /proc/mounts", &["scratch /mnt/scratch tmpfs"]),
        // The service dies at once and is restarted after 1 s, 2 s, ...: within 8 s
        // of boot its log must hold at least three runs.
        cmd("sleep 8; [ $(grep -c tick /var/log/ticker.log) -ge 3 ] && echo service-restarted", &["service-restarted"]),
        cmd("cat /run/kiln/boot-times", &["mounts ", "onboot ", "services ", "shell "]),
        power_off("poweroff"),
    ]);
    s.extend(never());
    s
}

/// A forced failure with `kiln.rescue` gives a shell; leaving it powers off.
fn rescue_steps() -> Vec<Step> {
    let mut s = vec![wait_for("kiln-init: fatal: "), wait_for("kiln-init: rescue shell"), Step::Shell { timeout: secs(60) }];
    s.push(cmd("echo rescue-pid=$$", &["rescue-pid="]));
    s.push(Step::Exit { cmd: "exit".into(), status: 0, expect: vec!["reboot: Power down".into()], timeout: secs(60) });
    s.push(Step::Never("Kernel panic".into()));
    s
}

/// A failed essential mount without `kiln.rescue` powers off by itself.
fn fatal_steps() -> Vec<Step> {
    vec![
        wait_for("kiln-init: fatal: "),
        Step::Exit { cmd: String::new(), status: 0, expect: vec!["reboot: Power down".into()], timeout: secs(60) },
        Step::Never("Kernel panic".into()),
        Step::Never(MARKER.into()),
    ]
}

fn machine(fw: Firmware, boot: Boot, accel: Accel) -> Machine {
    let mut m = Machine::new(fw, boot, accel);
    // A guest that reboots (or panics and reboots) ends the run instead of looping.
    m.no_reboot = true;
    m
}

fn direct(a: &Artifacts, extra: &str) -> Boot {
    let serial = &a.spec.iso.entries[0];
    let append = format!("{} {extra}", a.spec.cmdline(serial)).trim().to_string();
    Boot::Kernel { kernel: a.kernel.clone(), initrd: a.initrd.clone(), append }
}

/// Kernel arguments that force init's failure paths, by case name.
pub const FAILURE_VARIANTS: [(&str, &str); 2] = [("rescue", "kiln.rescue kiln.break=panic"), ("fatal-mount", "kiln.break=mount")];

/// Every cell of the default image, then init's behaviour cases. `variants` are the
/// ISOs of [`FAILURE_VARIANTS`], in that order.
pub fn cases(minimal: &Artifacts, demo: &Artifacts, variants: &[std::path::PathBuf], accel: Accel) -> Vec<Case> {
    let iso = minimal.iso.clone().expect("test-boot builds the iso");
    let demo_iso = demo.iso.clone().expect("test-boot builds the iso");
    let steps = shell_steps(&minimal.linux_version);
    let mut out = Vec::new();
    let mut add = |name: &str, fw, boot, steps: Vec<Step>| out.push(Case { name: name.into(), machine: machine(fw, boot, accel), steps });
    add("direct-kernel", Firmware::SeaBios, direct(minimal, ""), steps.clone());
    add("seabios-cd", Firmware::SeaBios, Boot::Cdrom(iso.clone()), steps.clone());
    add("seabios-disk", Firmware::SeaBios, Boot::Disk(iso.clone()), steps.clone());
    add("ovmf-cd", Firmware::Ovmf, Boot::Cdrom(iso.clone()), steps.clone());
    add("ovmf-disk", Firmware::Ovmf, Boot::Disk(iso.clone()), steps.clone());
    // iPXE's EFI build boots kernels only through the EFI stub, which Kiln leaves out:
    // network boot is tested under SeaBIOS.
    let pxe = Boot::Pxe { dir: minimal.pxe_dir.clone(), bootfile: kiln_iso::IPXE_SCRIPT.into() };
    add("pxe-seabios", Firmware::SeaBios, pxe, steps);
    add("reboot-seabios", Firmware::SeaBios, direct(minimal, ""), reboot_steps("reboot"));
    add("reboot-ovmf-cd", Firmware::Ovmf, Boot::Cdrom(iso), reboot_steps("reboot"));
    add("ctrl-alt-del-reboots", Firmware::SeaBios, direct(minimal, ""), reboot_steps("kill -INT 1"));
    add("halt", Firmware::SeaBios, direct(minimal, ""), halt_steps());
    add("demo-direct", Firmware::SeaBios, direct(demo, ""), demo_steps());
    add("demo-ovmf-cd", Firmware::Ovmf, Boot::Cdrom(demo_iso), demo_steps());
    let [(_, rescue), (_, fatal)] = FAILURE_VARIANTS;
    add("rescue-after-panic", Firmware::SeaBios, direct(minimal, rescue), rescue_steps());
    add("fatal-mount-powers-off", Firmware::SeaBios, direct(minimal, fatal), fatal_steps());
    if let [rescue_iso, fatal_iso] = variants {
        add("rescue-ovmf-cd", Firmware::Ovmf, Boot::Cdrom(rescue_iso.clone()), rescue_steps());
        add("fatal-mount-ovmf-cd", Firmware::Ovmf, Boot::Cdrom(fatal_iso.clone()), fatal_steps());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_image::ImageSpec;
    use std::path::Path;

    fn artifacts(name: &str) -> Artifacts {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        Artifacts {
            spec: ImageSpec::load(&root, name).unwrap(),
            kernel: "vmlinuz".into(),
            initrd: "initrd.img".into(),
            iso: Some(format!("{name}.iso").into()),
            linux_version: "6.12.117".into(),
            pxe_dir: "pxeboot".into(),
            init_binary: "kiln-init".into(),
            busybox_binary: "busybox".into(),
        }
    }

    #[test]
    fn every_firmware_and_medium_is_covered_and_names_are_unique() {
        let cases = cases(&artifacts("minimal"), &artifacts("demo"), &["r.iso".into(), "f.iso".into()], Accel::Tcg);
        let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        for cell in ["direct-kernel", "seabios-cd", "seabios-disk", "ovmf-cd", "ovmf-disk", "rescue-ovmf-cd", "fatal-mount-ovmf-cd"] {
            assert!(names.contains(&cell), "{cell} missing");
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), cases.len());
    }

    #[test]
    fn every_case_checks_for_a_kernel_panic_and_ends_the_machine() {
        for c in cases(&artifacts("minimal"), &artifacts("demo"), &["r.iso".into(), "f.iso".into()], Accel::Tcg) {
            assert!(c.steps.contains(&Step::Never("Kernel panic".into())), "{}", c.name);
            let last = c.steps.iter().rev().find(|s| !matches!(s, Step::Never(_)));
            let halted = matches!(last, Some(Step::Type { expect, .. }) if expect == HALTED);
            assert!(halted || matches!(last, Some(Step::Exit { .. })), "{}", c.name);
        }
    }

    #[test]
    fn direct_boot_uses_the_serial_entry_plus_extra_args() {
        let a = artifacts("minimal");
        match direct(&a, "kiln.rescue") {
            Boot::Kernel { append, .. } => assert!(append.ends_with("console=ttyS0 kiln.rescue"), "{append}"),
            other => panic!("{other:?}"),
        }
    }
}
