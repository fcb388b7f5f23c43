//! The pure half of `bench --runtimes`: reading the guest's `KILNBENCH` lines off the
//! serial log, their statistics, and the tables (terminal and markdown).

use serde::Serialize;

/// The tag of kiln-ctr's `bench-run` lines: `KILNBENCH LABEL RUN MS STATUS`.
pub const TAG: &str = "KILNBENCH";

/// One timed container run as the guest printed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub label: String,
    pub warmup: bool,
    pub ms: f64,
    /// The exit status, or `err` (the runtime failed before the container ran).
    pub status: String,
}

/// Parses one line of the console log. Console noise before the tag (a kernel message,
/// the shell's prompt) is skipped; a line damaged after it (interleaved output) is
/// not a run, nor is the echo of a typed command.
pub fn parse_line(line: &str) -> Option<Run> {
    let at = line.find(&format!("{TAG} "))?;
    let words: Vec<&str> = line[at..].split_whitespace().collect();
    let [_, label, run, ms, status] = words[..] else { return None };
    let warmup = match run {
        "warmup" => true,
        n => {
            n.parse::<u32>().ok()?;
            false
        }
    };
    let ms: f64 = ms.parse().ok().filter(|m: &f64| m.is_finite() && *m >= 0.0)?;
    if status != "err" && status.parse::<i32>().is_err() {
        return None;
    }
    Some(Run { label: label.to_string(), warmup, ms, status: status.to_string() })
}

/// Every run in a console log, in order.
pub fn parse_log(text: &str) -> Vec<Run> {
    text.lines().filter_map(parse_line).collect()
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The statistics of one series (a runtime with one bundle).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Timed runs that exited 0.
    pub ok: usize,
    /// Timed runs that did not (their times are left out).
    pub failed: usize,
    pub min_ms: Option<f64>,
    pub median_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// The warm-up run (cold page cache: the runtime read from the squashfs).
    pub warmup_ms: Option<f64>,
    /// The statuses of the failed runs, e.g. `["err", "err"]`.
    pub failed_statuses: Vec<String>,
    /// Every timed run that exited 0, in order.
    pub times_ms: Vec<f64>,
}

/// The statistics of the runs labelled `label`.
pub fn stats(runs: &[Run], label: &str) -> Stats {
    let mine: Vec<&Run> = runs.iter().filter(|r| r.label == label).collect();
    let ok: Vec<f64> = mine.iter().filter(|r| !r.warmup && r.status == "0").map(|r| r.ms).collect();
    let failed_statuses: Vec<String> = mine.iter().filter(|r| !r.warmup && r.status != "0").map(|r| r.status.clone()).collect();
    Stats {
        ok: ok.len(),
        failed: failed_statuses.len(),
        min_ms: ok.iter().copied().reduce(f64::min),
        median_ms: median(&ok),
        max_ms: ok.iter().copied().reduce(f64::max),
        warmup_ms: mine.iter().find(|r| r.warmup).map(|r| r.ms),
        failed_statuses,
        times_ms: ok,
    }
}

/// One runtime's row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub runtime: String,
    pub version: String,
    /// The executable alone.
    pub binary_bytes: u64,
    /// With its shared libraries and loader (kiln-hostbin's closure).
    pub closure_bytes: u64,
    pub closure_files: usize,
    /// The closure's files the container OS does not ship already (its CNI plugins'
    /// and iptables' closure has glibc).
    pub extra_over_container_os_bytes: u64,
    /// The closure alone as a squashfs with the live root's settings (xz).
    pub squashfs_bytes: u64,
    /// The files over the container OS's closure alone as such a squashfs.
    pub extra_over_container_os_squashfs_bytes: u64,
    /// `command = ["true"]`.
    pub run_true: Stats,
    /// `command = ["sh", "-c", "exit 0"]`.
    pub run_sh: Stats,
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |m| format!("{m:.1}"))
}

fn mib(b: u64) -> String {
    format!("{:.2} MiB", b as f64 / f64::from(1 << 20))
}

fn times(s: &Stats) -> String {
    let failed = if s.failed > 0 { format!(" ({} failed)", s.failed) } else { String::new() };
    format!("{} / {}{failed}", ms(s.min_ms), ms(s.median_ms))
}

/// The markdown table for the closing note.
pub fn markdown(rows: &[Row], runs: u32, accel: &str) -> String {
    let mut out = String::from(
        "| runtime | binary | with libraries | squashfs (xz) | over the OS's CNI + iptables closure, raw / xz | `true` min / median ms | `sh -c 'exit 0'` min / median ms |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        out += &format!(
            "| {} ({}) | {} | {} | {} | {} / {} | {} | {} |\n",
            r.runtime,
            r.version,
            mib(r.binary_bytes),
            mib(r.closure_bytes),
            mib(r.squashfs_bytes),
            mib(r.extra_over_container_os_bytes),
            mib(r.extra_over_container_os_squashfs_bytes),
            times(&r.run_true),
            times(&r.run_sh)
        );
    }
    out += &format!("\n{runs} timed runs per cell after one warm-up, round-robin over the runtimes; each run is create + start + wait + delete of the same bundle (BusyBox image, fresh netns, no CNI), timed in the guest (QEMU {accel}, 512 MiB).\n");
    out
}

/// The terminal table.
pub fn terminal(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<24} {:>10} {:>10} {:>10} {:>10} {:>18} {:>18}\n",
        "runtime", "binary", "closure", "+ over OS", "squashfs", "true min/med ms", "sh min/med ms"
    );
    for r in rows {
        out += &format!(
            "{:<24} {:>10} {:>10} {:>10} {:>10} {:>18} {:>18}\n",
            r.runtime,
            r.binary_bytes,
            r.closure_bytes,
            r.extra_over_container_os_bytes,
            r.squashfs_bytes,
            times(&r.run_true),
            times(&r.run_sh)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_runs_through_console_noise_and_skips_the_typed_command() {
        let log = "~ # kiln-ctr bench-run runc-true 20 --warmup 1 -- /usr/sbin/runc run {id}\r\n\
                   KILNBENCH runc-true warmup 812.500 0\r\n\
                   [   12.3] random: crng init done KILNBENCH runc-true 0 101.250 0\r\n\
                   KILNBENCH runc-true 1 99.000 err\n\
                   KILNBENCH runc-true 2 9[  13.0] eth0: link up\n\
                   KILNBENCH runc-true 3 -5 0\n\
                   KILNBENCH runc-true done\n";
        let runs = parse_log(log);
        assert_eq!(
            runs,
            vec![
                Run { label: "runc-true".into(), warmup: true, ms: 812.5, status: "0".into() },
                Run { label: "runc-true".into(), warmup: false, ms: 101.25, status: "0".into() },
                Run { label: "runc-true".into(), warmup: false, ms: 99.0, status: "err".into() },
            ]
        );
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn stats_leave_out_the_warmup_failures_and_other_labels() {
        let run = |label: &str, warmup, ms, status: &str| Run { label: label.into(), warmup, ms, status: status.into() };
        let runs = [
            run("a", true, 500.0, "0"),
            run("a", false, 30.0, "0"),
            run("a", false, 10.0, "0"),
            run("a", false, 1.0, "err"),
            run("a", false, 20.0, "0"),
            run("b", false, 2.0, "0"),
        ];
        let s = stats(&runs, "a");
        assert_eq!((s.ok, s.failed, s.min_ms, s.median_ms, s.max_ms, s.warmup_ms), (3, 1, Some(10.0), Some(20.0), Some(30.0), Some(500.0)));
        assert_eq!(s.failed_statuses, ["err"]);
        assert_eq!(s.times_ms, [30.0, 10.0, 20.0]);
        let none = stats(&runs, "c");
        assert_eq!((none.ok, none.min_ms, none.median_ms), (0, None, None));
    }

    #[test]
    fn markdown_has_a_row_per_runtime_and_marks_failures() {
        let s = |min, med, failed| Stats { ok: 2, failed, min_ms: min, median_ms: med, max_ms: med, warmup_ms: None, failed_statuses: vec![], times_ms: vec![] };
        let row = Row {
            runtime: "crun".into(),
            version: "1.8.1".into(),
            binary_bytes: 490_184,
            closure_bytes: 4 << 20,
            closure_files: 12,
            extra_over_container_os_bytes: 1 << 20,
            squashfs_bytes: 1 << 20,
            extra_over_container_os_squashfs_bytes: 1 << 19,
            run_true: s(Some(10.04), Some(12.0), 0),
            run_sh: s(None, None, 20),
        };
        let md = markdown(&[row], 20, "Tcg");
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[2], "| crun (1.8.1) | 0.47 MiB | 4.00 MiB | 1.00 MiB | 1.00 MiB / 0.50 MiB | 10.0 / 12.0 | - / - (20 failed) |");
        assert!(md.contains("20 timed runs"));
    }
}
