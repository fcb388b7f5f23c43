//! `cargo xtask bench`'s report: its `serde` shape (`out/bench/bench.json`, field names
//! kept stable for the boot chart and CI), the statistics (min, median, ratios), the
//! rows of the table and its terminal and markdown renderings. No I/O but [`Machine::probe`].

use super::timing::median;
use serde::Serialize;

/// Bumped when a field changes meaning or goes away (new fields do not bump it).
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: u32,
    /// When the bench ran, `YYYY-MM-DD HH:MM:SS UTC`.
    pub date: String,
    pub machine: Machine,
    pub image: String,
    /// `--quick`: one run per cell, no RAM bisection, no cold builds.
    pub quick: bool,
    /// Boots per cell and ISO.
    pub runs: u32,
    pub kiln: Subject,
    pub reference: Subject,
    /// Kiln's parts: (what, bytes).
    pub sizes: Vec<(String, u64)>,
    pub boots: Vec<Cell>,
    pub ram_floor: Option<RamFloor>,
    pub builds: Builds,
    /// The table as printed: every figure with Kiln's, the reference's and the ratio.
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub ram_mib: u64,
    pub cpu: String,
    /// `Tcg` or `Kvm`.
    pub accel: String,
    pub qemu: String,
}

impl Machine {
    pub fn probe(accel: &str) -> Machine {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let qemu = duct::cmd!("qemu-system-x86_64", "--version").read().unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            ram_mib: mem_total_kib(&meminfo).unwrap_or(0) / 1024,
            cpu: field(&cpuinfo, "model name").unwrap_or_default(),
            accel: accel.to_string(),
            qemu: qemu.lines().next().unwrap_or("").replace("QEMU emulator version ", ""),
        }
    }
}

fn field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == name).then(|| v.trim().to_string())
    })
}

fn mem_total_kib(meminfo: &str) -> Option<u64> {
    field(meminfo, "MemTotal")?.split_whitespace().next()?.parse().ok()
}

/// One of the two ISOs.
#[derive(Debug, Clone, Serialize)]
pub struct Subject {
    pub iso: String,
    pub iso_bytes: u64,
    /// How it was made, in a line.
    pub recipe: String,
}

/// One boot cell (firmware × medium) for both ISOs.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// `seabios-cd`, `ovmf-cd`, `seabios-disk`, `ovmf-disk`.
    pub cell: String,
    pub kiln: Series,
    pub reference: Series,
}

/// The runs of one ISO in one cell.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Series {
    pub runs: Vec<Run>,
    /// Over the runs that reached the shell.
    pub min_s: Option<f64>,
    pub median_s: Option<f64>,
    pub failed: usize,
}

impl Series {
    pub fn new(runs: Vec<Run>) -> Series {
        let ok: Vec<f64> = runs.iter().filter_map(|r| r.shell_s).collect();
        Series {
            min_s: ok.iter().copied().reduce(f64::min),
            median_s: median(&ok),
            failed: runs.len() - ok.len(),
            runs,
        }
    }
}

/// One boot. Every time is host seconds since QEMU started.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Run {
    /// `-m`, when the run set one (RAM bisection); `None` is QEMU's default, 128 MiB.
    pub memory_mib: Option<u32>,
    /// The kernel's first line (`Linux version ...`) arrived.
    pub kernel_s: Option<f64>,
    /// The init's first sign of life: kiln-init's boot-complete line, or the
    /// reference `/init`'s welcome line.
    pub init_s: Option<f64>,
    /// The shell's answer to a typed `echo :$((6*7)):` arrived: the boot time.
    pub shell_s: Option<f64>,
    /// The uptime kiln-init printed in its boot-complete line (guest seconds).
    pub guest_uptime_s: Option<f64>,
    /// kiln-init's `/run/kiln/boot-times`, read in the guest (guest seconds since the
    /// kernel started, when each stage began): mounts, onboot, services, shell.
    pub boot_times: Vec<Stage>,
    /// The raw serial log, and the same lines with their host arrival times
    /// (`SECONDS<TAB>LINE`).
    pub log: String,
    pub timed_log: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    pub name: String,
    pub seconds: f64,
}

/// Reads `/run/kiln/boot-times` (`NAME SECONDS` a line; kiln-report's reader).
pub fn parse_boot_times(text: &str) -> Vec<Stage> {
    kiln_report::parse_boot_times(text).into_iter().map(|(name, seconds)| Stage { name, seconds }).collect()
}

/// `out/bench/boot.svg`: the fastest run of Kiln and of the reference in each cell,
/// phase by phase (kiln-report's timeline from the host arrival times, the serial log
/// and kiln-init's stage times).
pub fn boot_chart(r: &Report) -> String {
    let mut timelines = Vec::new();
    for c in &r.boots {
        for (who, s) in [("Kiln", &c.kiln), ("reference", &c.reference)] {
            let fastest = s.runs.iter().filter(|x| x.shell_s.is_some()).min_by(|a, b| a.shell_s.partial_cmp(&b.shell_s).unwrap_or(std::cmp::Ordering::Equal));
            let Some(run) = fastest else { continue };
            let log = std::fs::read_to_string(&run.log).unwrap_or_default();
            let times: String = run.boot_times.iter().map(|st| format!("{} {}\n", st.name, st.seconds)).collect();
            let (kernel, shell) = (run.kernel_s.unwrap_or(f64::NAN), run.shell_s.unwrap_or(f64::NAN));
            timelines.push(kiln_report::timeline_from_boot(&format!("{who} {}", c.cell), kernel, shell, &log, &times));
        }
    }
    let title = format!("{}: power-on to a working shell (fastest of {} per cell, {})", r.image, r.runs, r.machine.accel);
    kiln_report::boot_chart(&title, &timelines)
}

/// The smallest `-m` that still reached the shell, and every try on the way.
#[derive(Debug, Clone, Serialize)]
pub struct RamFloor {
    pub cell: String,
    pub low_mib: u32,
    pub high_mib: u32,
    pub kiln: Floor,
    pub reference: Floor,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Floor {
    /// `None`: not even `high_mib` reached the shell.
    pub mib: Option<u32>,
    /// (MiB, reached the shell) in the order tried.
    pub tried: Vec<(u32, bool)>,
}

/// The smallest value in `low..=high` for which `works` holds, by bisection, assuming
/// that more memory never hurts. `high` is tried first; `low` only when it is the
/// last candidate.
pub fn bisect(low: u32, high: u32, mut works: impl FnMut(u32) -> bool) -> Floor {
    let mut tried = Vec::new();
    let mut check = |m: u32, tried: &mut Vec<(u32, bool)>| {
        let ok = works(m);
        tried.push((m, ok));
        ok
    };
    if low > high || !check(high, &mut tried) {
        return Floor { mib: None, tried };
    }
    // Invariant: `hi` works; everything below `lo` is untested or fails.
    let (mut lo, mut hi) = (low, high);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if check(mid, &mut tried) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Floor { mib: Some(hi), tried }
}

#[derive(Debug, Clone, Serialize)]
pub struct Builds {
    /// `cargo xtask iso` with nothing changed (best of three; one with --quick),
    /// against the reference's packaging steps run again (its recipe has no
    /// up-to-date check: it redoes the cpio, compression and grub-mkrescue).
    pub noop: Pair,
    /// `cargo xtask iso` after touching kiln-init's source, against the reference's
    /// packaging steps (what its recipe redoes when its `/init` script changes).
    pub init_change: Pair,
    /// The init's own compile in that run (cargo's part), for comparison.
    pub init_compile_s: f64,
    /// `--cold`: kernel + BusyBox from clean.
    pub cold: Option<Cold>,
}

/// A Kiln figure, the reference's, and Kiln / reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    pub kiln: f64,
    pub reference: f64,
    pub ratio: Option<f64>,
}

impl Pair {
    pub fn new(kiln: f64, reference: f64) -> Pair {
        Pair { kiln, reference, ratio: ratio(kiln, reference) }
    }
}

/// Kiln / reference, when both are finite and the reference is not zero.
pub fn ratio(kiln: f64, reference: f64) -> Option<f64> {
    (kiln.is_finite() && reference.is_finite() && reference != 0.0).then(|| kiln / reference)
}

#[derive(Debug, Clone, Serialize)]
pub struct Cold {
    pub jobs: usize,
    /// Kiln's kernel build (allnoconfig + fragments, checked, `make bzImage`).
    pub kiln_kernel_s: f64,
    /// Kiln's BusyBox build (base config + fragments, kernel headers, `make busybox`).
    pub kiln_busybox_s: f64,
    /// `make bzImage` in a fresh directory from Kiln's `.config`.
    pub plain_kernel_s: f64,
    /// BusyBox's `make` in a fresh directory from Kiln's `.config`.
    pub plain_busybox_s: f64,
    /// Wall-clock seconds, both builds.
    pub total: Pair,
    /// CPU seconds (user + system) of every process the builds ran.
    pub cpu: Pair,
}

/// A line of the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub what: String,
    pub unit: String,
    pub kiln: Option<f64>,
    pub reference: Option<f64>,
    pub ratio: Option<f64>,
}

impl Row {
    pub fn new(what: impl Into<String>, unit: &str, kiln: Option<f64>, reference: Option<f64>) -> Row {
        let r = kiln.zip(reference).and_then(|(k, r)| ratio(k, r));
        Row { what: what.into(), unit: unit.to_string(), kiln, reference, ratio: r }
    }
}

/// The ISO sizes and the boots to `up` per cell (min, median), each row's name after
/// `prefix` (`""`, or a profile's `"live: "`).
pub fn boot_rows(prefix: &str, up: &str, kiln: &Subject, reference: &Subject, boots: &[Cell]) -> Vec<Row> {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let mut rows = vec![Row::new(format!("{prefix}ISO size"), "MiB", Some(mib(kiln.iso_bytes)), Some(mib(reference.iso_bytes)))];
    for c in boots {
        rows.push(Row::new(format!("{prefix}to {up}, {} (min)", c.cell), "s", c.kiln.min_s, c.reference.min_s));
        rows.push(Row::new(format!("{prefix}to {up}, {} (median)", c.cell), "s", c.kiln.median_s, c.reference.median_s));
    }
    rows
}

/// The table's rows, in reading order.
pub fn rows(kiln: &Subject, reference: &Subject, boots: &[Cell], ram: Option<&RamFloor>, builds: &Builds) -> Vec<Row> {
    let mut rows = boot_rows("", "shell", kiln, reference, boots);
    if let Some(r) = ram {
        let f = |x: Option<u32>| x.map(f64::from);
        rows.push(Row::new(format!("RAM floor, {}", r.cell), "MiB", f(r.kiln.mib), f(r.reference.mib)));
    }
    let pair = |what: &str, p: &Pair| Row::new(what, "s", Some(p.kiln), Some(p.reference));
    rows.push(pair("no-op rebuild", &builds.noop));
    rows.push(pair("rebuild after an init change", &builds.init_change));
    if let Some(c) = &builds.cold {
        rows.push(pair(&format!("cold build, kernel + BusyBox (-j{})", c.jobs), &c.total));
        rows.push(Row::new("cold build, CPU time", "CPU s", Some(c.cpu.kiln), Some(c.cpu.reference)));
    }
    rows
}

fn num(x: Option<f64>, unit: &str) -> String {
    match x {
        None => "-".into(),
        Some(v) if unit == "MiB" && v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn times(x: Option<f64>) -> String {
    x.map_or("-".into(), |r| format!("{r:.2}x"))
}

/// The table for the terminal, columns aligned.
pub fn terminal(rows: &[Row]) -> String {
    let w = rows.iter().map(|r| r.what.len() + r.unit.len() + 3).max().unwrap_or(0).max(10);
    let mut out = format!("{:<w$} {:>10} {:>10} {:>8}\n", "", "Kiln", "reference", "ratio");
    for r in rows {
        let what = format!("{} ({})", r.what, r.unit);
        out.push_str(&format!(
            "{what:<w$} {:>10} {:>10} {:>8}\n",
            num(r.kiln, &r.unit),
            num(r.reference, &r.unit),
            times(r.ratio)
        ));
    }
    out
}

/// `out/bench/bench.md`: when, on what, and the table.
pub fn markdown(report: &Report) -> String {
    let m = &report.machine;
    let mut out = format!(
        "# cargo xtask bench: {} against the seed recipe\n\n\
         {}; {} cores ({}), {} MiB RAM, {}, QEMU {}; image `{}`, {} run(s) per cell{}.\n\n",
        report.image,
        report.date,
        m.cores,
        if m.cpu.is_empty() { "unknown CPU" } else { &m.cpu },
        m.ram_mib,
        m.accel,
        m.qemu,
        report.image,
        report.runs,
        if report.quick { " (--quick)" } else { "" },
    );
    out.push_str(&format!(
        "Reference: {}  \nKiln: {}\n\n",
        report.reference.recipe, report.kiln.recipe
    ));
    out.push_str(&markdown_table(&report.rows));
    out
}

/// The rows as a markdown table: what, Kiln, reference, the ratio.
pub fn markdown_table(rows: &[Row]) -> String {
    let mut out = String::from("| what | Kiln | reference | Kiln / reference |\n|---|---:|---:|---:|\n");
    for r in rows {
        out.push_str(&format!("| {} ({}) | {} | {} | {} |\n", r.what, r.unit, num(r.kiln, &r.unit), num(r.reference, &r.unit), times(r.ratio)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bisection_finds_the_smallest_that_works() {
        for floor in [8, 9, 27, 28, 64, 127, 128] {
            let mut boots = 0;
            let f = bisect(8, 128, |m| {
                boots += 1;
                m >= floor
            });
            assert_eq!(f.mib, Some(floor), "floor {floor}: {:?}", f.tried);
            assert_eq!(f.tried[0], (128, true), "the top is tried first");
            assert!(boots <= 9, "{boots} boots for floor {floor}");
            assert_eq!(f.tried.len(), boots);
        }
    }

    #[test]
    fn bisection_when_nothing_works() {
        let f = bisect(8, 128, |_| false);
        assert_eq!(f, Floor { mib: None, tried: vec![(128, false)] });
        assert_eq!(bisect(9, 8, |_| true).mib, None);
        assert_eq!(bisect(8, 8, |_| true), Floor { mib: Some(8), tried: vec![(8, true)] });
    }

    #[test]
    fn series_statistics_skip_failed_runs() {
        let run = |s: Option<f64>| Run { shell_s: s, ..Run::default() };
        let s = Series::new(vec![run(Some(5.0)), run(None), run(Some(4.0)), run(Some(9.0))]);
        assert_eq!((s.min_s, s.median_s, s.failed), (Some(4.0), Some(5.0), 1));
        let s = Series::new(vec![run(Some(5.0)), run(Some(4.0))]);
        assert_eq!(s.median_s, Some(4.5));
        let s = Series::new(vec![run(None)]);
        assert_eq!((s.min_s, s.median_s, s.failed), (None, None, 1));
    }

    #[test]
    fn ratios_are_kiln_over_reference() {
        assert_eq!(Pair::new(1.0, 4.0).ratio, Some(0.25));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(f64::NAN, 1.0), None);
        assert_eq!(Row::new("x", "s", Some(3.0), None).ratio, None);
        assert_eq!(Row::new("x", "s", Some(3.0), Some(6.0)).ratio, Some(0.5));
    }

    #[test]
    fn boot_times_file() {
        let got = parse_boot_times("mounts 0.412\nonboot 0.431\nnoise here too\nservices x\nshell 0.440\n");
        let names: Vec<(&str, f64)> = got.iter().map(|s| (s.name.as_str(), s.seconds)).collect();
        assert_eq!(names, [("mounts", 0.412), ("onboot", 0.431), ("shell", 0.440)]);
    }

    #[test]
    fn machine_fields() {
        assert_eq!(mem_total_kib("MemFree: 1 kB\nMemTotal:       24684132 kB\n"), Some(24_684_132));
        assert_eq!(field("model name\t: AMD EPYC\nflags : x", "model name").as_deref(), Some("AMD EPYC"));
    }

    fn sample() -> Report {
        let subject = |iso: &str, bytes| Subject { iso: iso.into(), iso_bytes: bytes, recipe: format!("{iso} recipe") };
        let run = |s| Run { shell_s: Some(s), ..Run::default() };
        let boots = vec![Cell {
            cell: "seabios-cd".into(),
            kiln: Series::new(vec![run(4.0), run(5.0), run(4.5)]),
            reference: Series::new(vec![run(16.0), run(15.0), run(14.0)]),
        }];
        let floor = |m| Floor { mib: Some(m), tried: vec![] };
        let ram = RamFloor { cell: "seabios-cd".into(), low_mib: 8, high_mib: 128, kiln: floor(29), reference: floor(58) };
        let builds = Builds { noop: Pair::new(0.5, 2.0), init_change: Pair::new(3.0, 2.0), init_compile_s: 2.0, cold: None };
        let (kiln, reference) = (subject("kiln.iso", 2 << 20), subject("reference.iso", 23 << 20));
        let rows = rows(&kiln, &reference, &boots, Some(&ram), &builds);
        Report {
            schema: SCHEMA,
            date: "2026-11-30 15:00:00 UTC".into(),
            machine: Machine { cores: 2, ram_mib: 24105, cpu: String::new(), accel: "Tcg".into(), qemu: "7.2.22".into() },
            image: "minimal".into(),
            quick: false,
            runs: 3,
            kiln,
            reference,
            sizes: vec![],
            boots,
            ram_floor: Some(ram),
            builds,
            rows,
        }
    }

    #[test]
    fn the_table_in_markdown_and_on_the_terminal() {
        let r = sample();
        let md = markdown(&r);
        assert!(md.contains("2026-11-30 15:00:00 UTC; 2 cores (unknown CPU), 24105 MiB RAM, Tcg, QEMU 7.2.22"), "{md}");
        assert!(md.contains("| ISO size (MiB) | 2 | 23 | 0.09x |\n"), "{md}");
        assert!(md.contains("| to shell, seabios-cd (min) (s) | 4.00 | 14.00 | 0.29x |\n"), "{md}");
        assert!(md.contains("| to shell, seabios-cd (median) (s) | 4.50 | 15.00 | 0.30x |\n"), "{md}");
        assert!(md.contains("| RAM floor, seabios-cd (MiB) | 29 | 58 | 0.50x |\n"), "{md}");
        assert!(md.contains("| rebuild after an init change (s) | 3.00 | 2.00 | 1.50x |\n"), "{md}");
        assert!(!md.contains("cold build"));
        let t = terminal(&r.rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), r.rows.len() + 1);
        assert!(lines.iter().all(|l| l.len() == lines[0].len()), "aligned:\n{t}");
        assert!(t.contains("0.09x"));
    }

    #[test]
    fn json_field_names_are_stable() {
        let v = serde_json::to_value(sample()).unwrap();
        for key in ["schema", "date", "machine", "image", "quick", "runs", "kiln", "reference", "sizes", "boots", "ram_floor", "builds", "rows"] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["boots"][0]["kiln"]["runs"][0]["shell_s"], 4.0);
        assert!(v["boots"][0]["kiln"]["runs"][0].get("boot_times").is_some());
        assert_eq!(v["builds"]["noop"]["ratio"], 0.25);
        assert_eq!(v["ram_floor"]["reference"]["mib"], 58);
    }
}
