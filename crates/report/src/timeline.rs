//! One boot as phases on the host's clock, from what a boot leaves: two host times, the
//! serial log and kiln-init's `/run/kiln/boot-times`.

/// From QEMU's start to the kernel's clock starting: firmware (SeaBIOS or OVMF), the
/// boot loader (GRUB, iPXE, QEMU's `-kernel` loader) and the kernel decompressing itself.
pub const FIRMWARE: &str = "firmware+loader";
/// From the kernel's clock starting to it running `/init`.
pub const KERNEL: &str = "kernel";
/// A live image's `/init` before kiln-init: finding the medium, mounting the squashfs
/// and the overlay, switching root.
pub const KILN_BOOT: &str = "kiln-boot";
/// kiln-init as a whole, when `/run/kiln/boot-times` is missing and only its boot
/// marker line tells when it was done.
pub const KILN_INIT: &str = "kiln-init";
/// kiln-init's last stage (`shell` in `boot-times`): printing the boot marker and
/// starting a shell on every console.
pub const SPAWN_SHELL: &str = "spawn shell";
/// From kiln-init starting the shells to the host receiving the shell's answer.
pub const SHELL_READY: &str = "shell ready";

/// The phases in boot order; the boot chart's legend and colours follow it. A phase
/// made of several whose boundary was not seen is named with `+` (`kernel+mounts`)
/// and takes its first part's place and colour.
pub const PHASE_ORDER: [&str; 8] = [FIRMWARE, KERNEL, KILN_BOOT, "mounts", "onboot", "services", SPAWN_SHELL, SHELL_READY];

/// One phase of a boot, in seconds since QEMU started.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub name: String,
    pub start_s: f64,
    pub end_s: f64,
}

impl Phase {
    pub fn duration_s(&self) -> f64 {
        self.end_s - self.start_s
    }
}

/// The phases of one boot cell (e.g. `seabios-cd`), in order, each starting where the
/// one before ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub cell: String,
    pub phases: Vec<Phase>,
}

impl Timeline {
    /// When the last phase ended (0 without phases).
    pub fn end_s(&self) -> f64 {
        self.phases.iter().map(|p| p.end_s).fold(0.0, f64::max)
    }
}

/// kiln-init's `/run/kiln/boot-times`: a line `NAME SECONDS` per stage, in order, the
/// seconds since boot (`CLOCK_BOOTTIME`) when the stage ended, with three decimals
/// (`mounts 0.012`, `onboot 0.015`, `services 0.016`, `shell 1.500`). Carriage
/// returns (the file read back through a serial console) and lines that are not a name
/// and a finite, non-negative number (a shell prompt, an echoed command) are skipped.
pub fn parse_boot_times(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let [name, secs] = words[..] else { return None };
            let secs: f64 = secs.parse().ok().filter(|s: &f64| s.is_finite() && *s >= 0.0)?;
            Some((name.to_string(), secs))
        })
        .collect()
}

/// What the serial log tells about the guest's clock. Times are the kernel's (printk's
/// `local_clock` or `CLOCK_BOOTTIME`: both start at 0 early in `start_kernel`, after the
/// kernel has decompressed itself).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsoleMarks {
    /// The kernel's lines carry printk timestamps (`[    1.234567] ...`).
    pub printk_time: bool,
    /// printk time of the serial console's registration (`console [ttyS0] enabled`):
    /// the kernel's earlier lines wait in its buffer until then, so this is when the
    /// first line left the guest.
    pub console_s: Option<f64>,
    /// printk time of the kernel running init (`Run /init as init process`; the last
    /// such line, if the first choice failed).
    pub init_s: Option<f64>,
    /// kiln-boot's `exec /init (6.150 s after boot)`: a live image's switch to kiln-init.
    pub kiln_boot_exec_s: Option<f64>,
    /// kiln-init's `kiln-init: boot complete in 1.266 s`.
    pub boot_complete_s: Option<f64>,
}

/// Reads [`ConsoleMarks`] from a serial log, raw (ANSI escapes, carriage returns) or
/// cleaned.
pub fn parse_console(log: &str) -> ConsoleMarks {
    let mut m = ConsoleMarks::default();
    for raw in log.lines() {
        // GRUB and the firmware paint the serial console: escapes and carriage returns go.
        let line = kiln_vm::clean(raw.as_bytes());
        let (stamp, rest) = match printk_stamp(&line) {
            Some((t, rest)) => (Some(t), rest),
            None => (None, line.trim()),
        };
        if let Some(t) = stamp {
            m.printk_time = true;
            if m.console_s.is_none() && rest.contains("console [ttyS") && rest.contains("] enabled") {
                m.console_s = Some(t);
            }
            if rest.starts_with("Run /") && rest.ends_with(" as init process") {
                m.init_s = Some(t);
            }
        }
        if let Some(s) = rest.split("kiln-boot: exec ").nth(1).and_then(|r| r.split_once(" (")) {
            m.kiln_boot_exec_s = secs_before(s.1, " s after boot)").or(m.kiln_boot_exec_s);
        }
        if let Some(s) = rest.split("kiln-init: boot complete in ").nth(1) {
            m.boot_complete_s = secs_before(s, " s").or(m.boot_complete_s);
        }
    }
    m
}

/// The [`Timeline`] of one boot, on the host's clock (seconds since QEMU started).
///
/// Inputs:
/// - `cell`: the bar's name, e.g. `seabios-cd`.
/// - `host_kernel_first_line_s`: host seconds from starting QEMU to the arrival of the
///   kernel's first console line (`Linux version ...`) on the serial port.
/// - `host_shell_s`: host seconds from starting QEMU to the arrival of the shell's
///   answer (e.g. the output of an `echo` sent once the boot marker was seen). Not the
///   boot marker's own arrival: kiln-init notes its `shell` stage after printing the
///   marker, and this time must come after that stage.
/// - `console_log`: the serial log up to there, raw or cleaned of ANSI escapes.
/// - `boot_times`: the text of the guest's `/run/kiln/boot-times` (e.g. the output of
///   `cat /run/kiln/boot-times`; prompts and echoed commands are skipped), or `""`.
///
/// A time that is not finite (`f64::NAN`) counts as not seen.
///
/// Method. Guest times (printk timestamps, kiln-boot's and kiln-init's lines, the
/// `boot-times` stages) all count seconds since the kernel's clock started, early in
/// `start_kernel`. The host time of that start, `T0`, is estimated from two upper bounds,
/// taking the smaller:
/// 1. the kernel's first line arrived when the serial console registered (the kernel
///    buffers earlier lines until then): `T0 <= host_kernel_first_line_s - C`, where `C`
///    is the printk time of `console [ttyS0] enabled`, or 0 without printk timestamps
///    (then `T0` is late by the kernel's time until `console_init`, tens of ms);
/// 2. the shell answered after kiln-init started it: `T0 <= host_shell_s - S`, where
///    `S` is the last guest mark (`boot-times`'s `shell`).
///
/// `firmware+loader` is `0..T0`: firmware, boot loader (and its menu timeout) and the
/// kernel's self-decompression, which runs before its clock. Each guest mark then ends
/// a phase at `T0 + mark`: `kernel` at printk's `Run /init as init process`, `kiln-boot`
/// at its `exec /init (N s after boot)` line (live images), and kiln-init's stages at
/// their `boot-times` seconds (`mounts`, `onboot`, `services`, then `spawn shell` for
/// its `shell` stage). `shell ready` runs from there to `host_shell_s`.
///
/// Kiln's kernel has no `CONFIG_PRINTK_TIME` (it would cost bytes the size benchmark
/// counts), so its log has no timestamps and the end of the kernel is not seen: the
/// phase before the first mark that is seen absorbs it, named with a `+`, e.g.
/// `kernel+mounts` (kiln-init's mounts are a few system calls; the stage's time is
/// since the kernel's clock started, so the kernel's share is nearly all of it) or
/// `kernel+kiln-boot` for a live image. The kernel command-line word `printk.time=1`
/// turns the timestamps on without rebuilding (the `printk.time` parameter exists
/// whenever `CONFIG_PRINTK` does), and then `kernel` and `mounts` are split. Without
/// `boot_times`, kiln-init's boot marker (`boot complete in N s`) ends one `kiln-init`
/// phase instead of the stages.
pub fn timeline_from_boot(
    cell: &str,
    host_kernel_first_line_s: f64,
    host_shell_s: f64,
    console_log: &str,
    boot_times: &str,
) -> Timeline {
    let marks = parse_console(console_log);
    let stages = parse_boot_times(boot_times);

    // (phase name, the guest time that ends it if seen), in boot order.
    let mut steps: Vec<(String, Option<f64>)> = vec![(KERNEL.to_string(), marks.init_s)];
    if marks.kiln_boot_exec_s.is_some() {
        steps.push((KILN_BOOT.to_string(), marks.kiln_boot_exec_s));
    }
    if stages.is_empty() {
        steps.push((KILN_INIT.to_string(), marks.boot_complete_s));
    }
    for (name, secs) in &stages {
        let name = if name == "shell" { SPAWN_SHELL } else { name.as_str() };
        steps.push((name.to_string(), Some(*secs)));
    }
    let last_mark = steps.iter().rev().find_map(|s| s.1);

    let seen = |t: f64| t.is_finite().then_some(t);
    let by_first_line = seen(host_kernel_first_line_s).map(|h| h - marks.console_s.unwrap_or(0.0));
    let by_shell = seen(host_shell_s).zip(last_mark).map(|(h, s)| h - s);
    let t0 = match (by_first_line, by_shell) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(0.0),
    }
    .max(0.0);

    let mut phases = Vec::new();
    let mut push = |name: String, start: f64, end: f64| {
        phases.push(Phase { name, start_s: start, end_s: end.max(start) });
    };
    if t0 > 0.0 {
        push(FIRMWARE.to_string(), 0.0, t0);
    }
    let mut at = t0;
    let mut pending: Vec<String> = Vec::new();
    for (name, mark) in steps {
        pending.push(name);
        if let Some(m) = mark {
            let end = (t0 + m).max(at);
            push(pending.join("+"), at, end);
            pending.clear();
            at = end;
        }
    }
    // Phases never ended by a mark (no boot marker either) go into the shell's wait.
    pending.push(SHELL_READY.to_string());
    if let Some(h) = seen(host_shell_s) {
        push(pending.join("+"), at, h);
    }
    Timeline { cell: cell.to_string(), phases }
}

/// `[    1.234567] rest` → (1.234567, `rest`). A caller id (`[    T1]`) after the
/// time is left in `rest`'s start, which no mark looks at.
fn printk_stamp(line: &str) -> Option<(f64, &str)> {
    let inner = line.trim_start().strip_prefix('[')?;
    let (num, rest) = inner.split_once(']')?;
    let num = num.trim();
    let (secs, frac) = num.split_once('.')?;
    if secs.is_empty() || frac.is_empty() || !secs.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((num.parse().ok()?, rest.trim()))
}

/// The decimal number that `text` starts with, if `suffix` follows it.
fn secs_before(text: &str, suffix: &str) -> Option<f64> {
    let end = text.find(suffix)?;
    text[..end].trim().parse().ok().filter(|s: &f64| s.is_finite() && *s >= 0.0)
}

#[cfg(test)]
#[path = "timeline_tests.rs"]
mod tests;
