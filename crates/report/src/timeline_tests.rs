use super::*;

/// Kiln's minimal image, `-kernel` under TCG with `printk.time=1` on the command line;
/// host times and boot-times as measured in the same boot.
const DIRECT_PRINTK: &str = include_str!("../tests/fixtures/direct-printk-time.log");
/// The minimal ISO from a SeaBIOS CD (test-boot's log): no printk timestamps.
const SEABIOS_CD: &str = include_str!("../tests/fixtures/seabios-cd.log");
/// The minimal live ISO from a SeaBIOS CD under TCG: kiln-boot, then kiln-init.
const LIVE_CD: &str = include_str!("../tests/fixtures/live-seabios-cd.log");

const BOOT_TIMES: &str = "mounts 1.030\nonboot 1.033\nservices 1.033\nshell 1.058\n";

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn names(t: &Timeline) -> Vec<&str> {
    t.phases.iter().map(|p| p.name.as_str()).collect()
}

/// Every phase starts where the one before ended, and none runs backwards.
fn assert_contiguous(t: &Timeline) {
    for w in t.phases.windows(2) {
        assert!(close(w[0].end_s, w[1].start_s), "{t:?}");
    }
    assert!(t.phases.iter().all(|p| p.duration_s() >= 0.0), "{t:?}");
}

#[test]
fn boot_times_as_kiln_init_writes_them() {
    assert_eq!(
        parse_boot_times(BOOT_TIMES),
        [("mounts".into(), 1.030), ("onboot".into(), 1.033), ("services".into(), 1.033), ("shell".into(), 1.058)]
    );
    // Read back through the serial console: carriage returns, the prompt, the echo.
    let echoed = "~ # cat /run/kiln/boot-times\r\nmounts 0.012\r\nshell 1.500\r\n~ # \r\n";
    assert_eq!(parse_boot_times(echoed), [("mounts".into(), 0.012), ("shell".into(), 1.5)]);
    assert_eq!(parse_boot_times("mounts -1\nonboot NaN\nx inf\nshell\n"), []);
    assert_eq!(parse_boot_times(""), []);
}

#[test]
fn console_marks_with_printk_time() {
    let m = parse_console(DIRECT_PRINTK);
    assert_eq!(
        m,
        ConsoleMarks {
            printk_time: true,
            console_s: Some(0.047588),
            init_s: Some(1.003947),
            kiln_boot_exec_s: None,
            boot_complete_s: Some(1.033),
        }
    );
}

#[test]
fn console_marks_without_printk_time() {
    let m = parse_console(SEABIOS_CD);
    assert!(!m.printk_time);
    assert_eq!((m.console_s, m.init_s), (None, None));
    assert_eq!(m.boot_complete_s, Some(1.266));
    let live = parse_console(LIVE_CD);
    assert_eq!((live.kiln_boot_exec_s, live.boot_complete_s), (Some(1.129), Some(1.178)));
}

#[test]
fn printk_stamps_and_what_is_not_one() {
    assert_eq!(printk_stamp("[    1.234567] Run /init"), Some((1.234567, "Run /init")));
    assert_eq!(printk_stamp("[ 12.5][    T1] x"), Some((12.5, "[    T1] x")));
    assert_eq!(printk_stamp("BIOS-e820: [mem 0x0-0x9fbff] usable"), None);
    assert_eq!(printk_stamp("[mem 0x08000000-0xfffbffff] available"), None);
    assert_eq!(printk_stamp("[1.] x"), None);
    assert_eq!(printk_stamp("[-1.5] x"), None);
    assert_eq!(kiln_vm::clean("\u{1b}c\u{1b}[?7l\u{1b}[2J[    0.000000] Linux\r".as_bytes()), "[    0.000000] Linux");
}

#[test]
fn kernel_and_mounts_split_by_printk_time() {
    // Measured: first line 0.665 s, shell's answer 1.801 s.
    let t = timeline_from_boot("direct", 0.6650, 1.8013, DIRECT_PRINTK, BOOT_TIMES);
    assert_eq!(names(&t), [FIRMWARE, KERNEL, "mounts", "onboot", "services", SPAWN_SHELL, SHELL_READY]);
    assert_contiguous(&t);
    // The first line left when the console registered, 0.047588 s into the kernel:
    // tighter than the shell's bound (1.8013 - 1.058).
    let t0 = 0.6650 - 0.047588;
    assert!(close(t.phases[0].end_s, t0));
    assert!(close(t.phases[1].end_s, t0 + 1.003947));
    assert!(close(t.phases[2].duration_s(), 1.030 - 1.003947));
    assert!(close(t.phases[5].end_s, t0 + 1.058));
    assert!(close(t.end_s(), 1.8013));
}

#[test]
fn without_printk_time_the_kernel_absorbs_the_mounts() {
    let times = "mounts 1.319\nonboot 1.322\nservices 1.322\nshell 1.348\n";
    let t = timeline_from_boot("seabios-cd", 4.4061, 5.6414, SEABIOS_CD, times);
    assert_eq!(names(&t), [FIRMWARE, "kernel+mounts", "onboot", "services", SPAWN_SHELL, SHELL_READY]);
    assert_contiguous(&t);
    // Here the shell gives the tighter bound: 5.6414 - 1.348 < 4.4061.
    let t0 = 5.6414 - 1.348;
    assert!(close(t.phases[0].end_s, t0));
    assert!(close(t.phases[1].duration_s(), 1.319));
    assert!(close(t.phases[5].duration_s(), 0.0));
}

#[test]
fn live_images_show_kiln_boot() {
    let times = "mounts 1.176\nonboot 1.177\nservices 1.178\nshell 1.204\n";
    let t = timeline_from_boot("live-seabios-cd", 4.9239, 6.5258, LIVE_CD, times);
    assert_eq!(names(&t), [FIRMWARE, "kernel+kiln-boot", "mounts", "onboot", "services", SPAWN_SHELL, SHELL_READY]);
    assert_contiguous(&t);
    assert!(close(t.phases[0].end_s, 4.9239));
    assert!(close(t.phases[1].duration_s(), 1.129));
    assert!(close(t.phases[2].duration_s(), 1.176 - 1.129));
}

#[test]
fn without_boot_times_the_marker_ends_kiln_init() {
    let t = timeline_from_boot("seabios-cd", 4.7, 6.0, SEABIOS_CD, "");
    assert_eq!(names(&t), [FIRMWARE, "kernel+kiln-init", SHELL_READY]);
    assert_contiguous(&t);
    assert!(close(t.phases[1].duration_s(), 1.266));
    // Nothing from the guest at all: one phase from the first line to the shell.
    let t = timeline_from_boot("x", 4.7, 6.0, "", "");
    assert_eq!(names(&t), [FIRMWARE, "kernel+kiln-init+shell ready"]);
    assert!(close(t.phases[0].end_s, 4.7));
}

#[test]
fn missing_host_times() {
    // No shell answer: the guest phases only, from the first line's estimate.
    let t = timeline_from_boot("c", 0.665, f64::NAN, DIRECT_PRINTK, BOOT_TIMES);
    assert_eq!(names(&t), [FIRMWARE, KERNEL, "mounts", "onboot", "services", SPAWN_SHELL]);
    // No first line: the shell's bound alone.
    let t = timeline_from_boot("c", f64::NAN, 1.8, DIRECT_PRINTK, BOOT_TIMES);
    assert!(close(t.phases[0].end_s, 1.8 - 1.058));
    assert_contiguous(&t);
    // Nothing: no firmware phase, guest times as they are.
    let t = timeline_from_boot("c", f64::NAN, f64::NAN, "", BOOT_TIMES);
    assert_eq!(names(&t), ["kernel+mounts", "onboot", "services", SPAWN_SHELL]);
    assert!(close(t.phases[0].start_s, 0.0));
}

#[test]
fn guest_marks_out_of_order_never_run_backwards() {
    let t = timeline_from_boot("c", 1.0, 5.0, "", "mounts 1.0\nonboot 0.5\nshell 2.0\n");
    assert_contiguous(&t);
    assert!(close(t.phases[2].duration_s(), 0.0));
}
