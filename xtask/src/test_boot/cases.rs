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
    /// Servers on the host the guest reaches (their ports and what they serve are in
    /// `steps`); they stop when the case is dropped, right after it ran.
    pub host: Option<Box<dyn std::any::Any>>,
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub(super) fn cmd(cmd: &str, expect: &[&str]) -> Step {
    Step::Command { cmd: cmd.into(), expect: expect.iter().map(|s| s.to_string()).collect(), timeout: secs(30) }
}

pub(super) fn boot() -> Vec<Step> {
    vec![Step::Boot { marker: MARKER.into(), timeout: secs(240) }, Step::Shell { timeout: secs(60) }]
}

pub(super) fn wait_for(text: &str) -> Step {
    Step::Type { text: String::new(), expect: text.into(), timeout: secs(240) }
}

pub(super) fn power_off(cmd: &str) -> Step {
    let expect = vec!["kiln-init: powering off".into(), "reboot: Power down".into()];
    Step::Exit { cmd: cmd.into(), status: 0, expect, timeout: secs(60) }
}

/// Things no boot may print.
pub(super) fn never() -> Vec<Step> {
    vec![
        Step::Never("Kernel panic".into()),
        Step::Never("job control turned off".into()),
        Step::Never("can't access tty".into()),
    ]
}

/// Counts zombies with shell builtins only (a missing applet cannot make it read 0), and
/// says whether it saw processes at all.
const COUNT_ZOMBIES: &str = r#"z=0; n=0; for f in /proc/[0-9]*/stat; do read -r l < $f || continue; n=$((n+1)); s=${l##*) }; [ "${s%% *}" = Z ] && z=$((z+1)); done; echo "zombies=[$z] procs-seen=$((n > 3))""#;

/// The full check of a booted system: commands, job control, respawn, reaping, power-off.
/// Every expected text is computed in the guest, never the echo of what was typed.
pub fn shell_steps(linux_version: &str) -> Vec<Step> {
    let mut s = boot();
    s.extend([
        cmd("uname -r", &[linux_version]),
        cmd("cat /proc/cmdline", &["console=ttyS0"]),
        cmd("ls /", &["bin", "dev", "etc", "init", "proc", "sys"]),
        // The counter sees a zombie: `sleep 7` never waits for its child `sleep 1` (a
        // zombie from about 1 s to 7 s; counted at 4 s).
        cmd(&format!("sh -c 'sleep 1 & exec sleep 7' & sleep 4; {COUNT_ZOMBIES}"), &["zombies=[1] procs-seen=1"]),
        // An orphan (its parent exits at once) is reaped by PID 1 when it dies, and so is
        // the zombie above once `sleep 7` has exited (counted at 10 s).
        cmd(&format!("sh -c 'sleep 1 &'; sleep 6; {COUNT_ZOMBIES}"), &["zombies=[0] procs-seen=1"]),
        // Job control: Ctrl-C kills the foreground job, whose status is then 128 + SIGINT.
        // The marker comes from the job itself, so the ^C cannot hit the line editor.
        Step::Type { text: "sh -c 'echo :KILN-SLEEP\"\"ING:; exec sleep 600'\n".into(), expect: ":KILN-SLEEPING:".into(), timeout: secs(10) },
        Step::Type { text: "\x03echo status=$?\n".into(), expect: "status=130".into(), timeout: secs(10) },
        Step::Shell { timeout: secs(10) },
        // Leaving the shell gives a new one (another pid), not a kernel panic.
        cmd("echo $$ > /tmp/shell.pid; trap 'echo left=$((6*7))' EXIT", &[]),
        Step::Type { text: "exit\n".into(), expect: "left=42".into(), timeout: secs(10) },
        Step::Shell { timeout: secs(30) },
        cmd("old=$(cat /tmp/shell.pid); echo respawned=$(( old > 1 && $$ > 1 && old != $$ ))", &["respawned=1"]),
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
    s.push(rebooted(cmd));
    s.extend(never());
    s
}

fn rebooted(cmd: &str) -> Step {
    let expect = vec!["kiln-init: rebooting".into(), "reboot: Restarting system".into()];
    Step::Exit { cmd: cmd.into(), status: 0, expect, timeout: secs(60) }
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

/// How many times a service that exits at once is started within `window` of its
/// first start, by kiln-init's own back-off policy.
fn starts_within(window: Duration) -> u32 {
    let mut backoff = kiln_init::Backoff::new();
    let (mut t, mut n) = (Duration::ZERO, 0);
    while t < window {
        n += 1;
        backoff.started(t);
        let delay = backoff.exited(t);
        assert!(!delay.is_zero(), "kiln-init's policy restarts a service that exits at once without delay");
        t += delay;
    }
    n
}

/// What the demo image's `hang` onboot command makes kiln-init say (its timeout is 2 s).
const ONBOOT_KILLED: &str = "kiln-init: onboot hang still running after 2 s; killing it";

/// The demo image's configuration took effect.
fn demo_steps() -> Vec<Step> {
    // The ticker service dies at once and is restarted with kiln-init's back-off; its log
    // lines carry the uptime of each start. A hot restart loop, or none, fails.
    let expected = starts_within(secs(8));
    let backoff = format!(
        "sleep 8; awk -v lo={} -v hi={} 'NR == 1 {{ t = $2 }} $2 < t + 8 {{ n++ }} END {{ print \"starts=\" n, \"in-range=\" (n >= lo && n <= hi) }}' /var/log/ticker.log",
        expected - 1,
        expected + 1
    );
    // A hung onboot command is killed after its timeout; boot goes on.
    let mut s = vec![wait_for(ONBOOT_KILLED)];
    s.extend(boot());
    s.extend([
        cmd("hostname", &["kiln-demo"]),
        cmd("echo \"$GREETING\"", &["hello from kiln"]),
        cmd("cat /run/motd", &["onboot ran"]),
        cmd("echo hung=$(ps | grep -c '[s]leep 600') init=$(ps | grep -c '[/]init')", &["hung=0 init=1"]),
        cmd("awk '/^mounts/ { m = $2 } /^onboot/ { print \"onboot-waited-2s=\" ($2 - m >= 2) }' /run/kiln/boot-times", &["onboot-waited-2s=1"]),
        cmd("grep /mnt/scratch /proc/mounts", &["scratch /mnt/scratch tmpfs"]),
        // `ro,nosuid` are mount flags, not tmpfs data: writing fails where it works next door.
        cmd("grep ' /mnt/ro ' /proc/mounts", &["ro-scratch /mnt/ro tmpfs ro,nosuid"]),
        cmd("touch /mnt/scratch/w; a=$?; touch /mnt/ro/w 2>/dev/null; echo writes=$a$?", &["writes=01"]),
        cmd(&backoff, &["in-range=1"]),
        cmd("cat /run/kiln/boot-times", &["mounts ", "onboot ", "services ", "shell "]),
        // Shutdown: the graceful service's SIGTERM handler runs (it takes a second, then
        // writes to the console) before the power goes; the stubborn one, which ignores
        // SIGTERM, is killed when its 3 s stop timeout runs out.
        Step::Type { text: "poweroff\n".into(), expect: "kiln-init: powering off".into(), timeout: secs(30) },
        wait_for("graceful stop: 42"),
        wait_for("kiln-init: service stubborn did not stop within 3 s; killing it"),
        Step::Exit { cmd: String::new(), status: 0, expect: vec!["reboot: Power down".into()], timeout: secs(60) },
    ]);
    s.extend(never());
    s
}

/// The demo image with `demo.ctrl-alt-del-in-onboot`: its hung onboot command first
/// asks PID 1 to reboot (SIGINT, as Ctrl-Alt-Del does). PID 1 must answer while it
/// waits, long before the command's timeout.
fn onboot_reboot_steps() -> Vec<Step> {
    vec![
        wait_for("kiln-init: rebooting"),
        Step::Exit { cmd: String::new(), status: 0, expect: vec!["reboot: Restarting system".into()], timeout: secs(60) },
        Step::Never(ONBOOT_KILLED.into()),
        Step::Never(MARKER.into()),
        Step::Never("Kernel panic".into()),
    ]
}

/// Kernel arguments that make the kernel start a shell first, which removes kiln-init's
/// config (or puts a directory in its place) and then becomes kiln-init.
const NO_CONFIG: &str = "rdinit=/bin/sh -- -c \"rm /etc/kiln/init.conf; exec /init\"";
const CONFIG_IS_DIR: &str = "rdinit=/bin/sh -- -c \"rm /etc/kiln/init.conf; mkdir /etc/kiln/init.conf; exec /init\"";

/// Without its config, kiln-init says so and boots with the defaults (the demo
/// image's hostname and environment are gone).
fn no_config_steps(reason: &str) -> Vec<Step> {
    let mut s = vec![wait_for(&format!("kiln-init: /etc/kiln/init.conf: {reason}; using the built-in defaults"))];
    s.extend(boot());
    s.push(cmd("echo \"host=[$(hostname)] greeting=[$GREETING]\"", &["host=[kiln] greeting=[]"]));
    s.push(power_off("poweroff"));
    s.extend(never());
    s
}

/// A forced failure with `kiln.rescue` gives a real shell; then `end` (a command and what
/// it must make the guest print) ends the machine.
fn rescue_steps(end: Step) -> Vec<Step> {
    let mut s = vec![wait_for("kiln-init: fatal: "), wait_for("kiln-init: rescue shell"), Step::Shell { timeout: secs(60) }];
    // Only a shell computes these: its own pid, and arithmetic.
    s.push(cmd("echo rescue-sh=$(( $$ > 1 )):$((6*7))", &["rescue-sh=1:42"]));
    s.push(end);
    s.extend(never());
    s
}

/// Leaving the rescue shell powers off.
fn rescue_exit() -> Step {
    Step::Exit { cmd: "exit".into(), status: 0, expect: vec!["reboot: Power down".into()], timeout: secs(60) }
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

pub(super) fn machine(fw: Firmware, boot: Boot, accel: Accel) -> Machine {
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
    let mut add = |name: &str, fw, boot, steps: Vec<Step>| out.push(Case { name: name.into(), machine: machine(fw, boot, accel), steps, host: None });
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
    add("onboot-hung-ctrl-alt-del", Firmware::SeaBios, direct(demo, "demo.ctrl-alt-del-in-onboot"), onboot_reboot_steps());
    add("no-config", Firmware::SeaBios, direct(demo, NO_CONFIG), no_config_steps("no such file or directory"));
    add("config-unreadable", Firmware::SeaBios, direct(minimal, CONFIG_IS_DIR), no_config_steps("is a directory"));
    let [(_, rescue), (_, fatal)] = FAILURE_VARIANTS;
    add("rescue-after-panic", Firmware::SeaBios, direct(minimal, rescue), rescue_steps(rescue_exit()));
    add("rescue-reboot", Firmware::SeaBios, direct(minimal, rescue), rescue_steps(rebooted("reboot")));
    add("rescue-poweroff", Firmware::SeaBios, direct(minimal, rescue), rescue_steps(power_off("poweroff")));
    add("fatal-mount-powers-off", Firmware::SeaBios, direct(minimal, fatal), fatal_steps());
    if let [rescue_iso, fatal_iso] = variants {
        add("rescue-ovmf-cd", Firmware::Ovmf, Boot::Cdrom(rescue_iso.clone()), rescue_steps(rescue_exit()));
        add("fatal-mount-ovmf-cd", Firmware::Ovmf, Boot::Cdrom(fatal_iso.clone()), fatal_steps());
    }
    out
}

/// Whether a script's last step (the `Never`s aside) ends the machine (`Step::Exit`).
#[cfg(test)]
pub(super) fn ends_the_machine(steps: &[Step]) -> bool {
    matches!(steps.iter().rev().find(|s| !matches!(s, Step::Never(_))), Some(Step::Exit { .. }))
}

/// Fails when a step expects text that the step itself types: the console echoes what
/// is typed, so such a check could never fail.
#[cfg(test)]
pub(super) fn assert_expects_no_typed_text(case: &str, steps: &[Step]) {
    for step in steps {
        let (typed, expect): (&str, Vec<&String>) = match step {
            Step::Type { text, expect, .. } => (text, vec![expect]),
            Step::Command { cmd, expect, .. } => (cmd, expect.iter().collect()),
            Step::Exit { cmd, expect, .. } => (cmd, expect.iter().collect()),
            _ => continue,
        };
        for e in expect {
            assert!(!typed.contains(e.as_str()), "{case}: {e:?} is in what it types: {typed:?}");
        }
    }
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
            ctr_binary: std::path::PathBuf::new(),
            live: None,
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
    fn backoff_bounds_come_from_the_policy() {
        // Starts at 0, 1, 3 and 7 s (delays 1, 2, 4 s); the next is at 15 s.
        assert_eq!(starts_within(secs(8)), 4);
        assert_eq!(starts_within(secs(1)), 1);
    }

    /// A check that matches text the test typed proves nothing: the console echoes it.
    #[test]
    fn expected_text_is_never_the_typed_text() {
        for c in cases(&artifacts("minimal"), &artifacts("demo"), &["r.iso".into(), "f.iso".into()], Accel::Tcg) {
            assert_expects_no_typed_text(&c.name, &c.steps);
        }
    }

    #[test]
    fn direct_boot_uses_the_serial_entry_plus_extra_args() {
        let a = artifacts("minimal");
        match direct(&a, "kiln.rescue") {
            Boot::Kernel { append, .. } => assert!(append.ends_with("console=ttyS0 earlyprintk=serial,ttyS0 kiln.rescue"), "{append}"),
            other => panic!("{other:?}"),
        }
    }
}
