//! `cargo xtask bench`: Kiln against the seeds' recipe, measured side by side in one run
//! (reported, never asserted): ISO size, boot to a working shell per cell, the RAM floor,
//! rebuilds and (`--cold`) cold builds, each with the ratio Kiln / reference. Prints a
//! table and writes `out/bench/bench.json` and `out/bench/bench.md`.
//!
//! `boot.rs` times boots, `reference.rs` makes the reference ISO, `builds.rs` times
//! builds, `report.rs` is the report's shape, statistics and tables; `runtimes.rs` (with
//! `timing.rs`) is `--runtimes`; `profiles.rs` is `--profiles`, with the other seeds'
//! recipes in `seed001.rs` and `seed004.rs`.

mod boot;
mod builds;
mod profiles;
mod reference;
mod report;
mod runtimes;
mod seed001;
mod seed004;
mod timing;

use crate::artifacts::{self, human};
use crate::ctx::Ctx;
use anyhow::{bail, Context, Result};
use report::{Builds, Pair, RamFloor, Report, Subject};
use std::path::Path;
use std::time::Duration;

/// The profiles beside the default image's (`bench --profiles`).
pub const OTHER_PROFILES: [&str; 4] = ["live", "oci", "oci-live", "container"];

#[derive(clap::Args, Clone)]
pub struct Args {
    #[command(flatten)]
    pub image: crate::ImageArg,
    /// Measure the image in live mode (as `cargo xtask iso --live`): the root as a
    /// squashfs on the medium, booted by kiln-boot
    #[arg(long)]
    pub live: bool,
    /// Instead: the OCI runtime choice, side by side (runc, crun, kiln-ctr's
    /// libcontainer): binary and closure sizes, and milliseconds per container run in
    /// the container OS (`--image` is ignored); written to out/bench/runtimes.json
    #[arg(long, conflicts_with = "live")]
    pub runtimes: bool,
    /// Instead: every profile (or those named, comma-separated: minimal, live, oci,
    /// oci-live, container) against the seed recipe for the same kind of system, boot
    /// to up per cell; written to out/bench/profiles.json and profiles.md
    #[arg(long, value_delimiter = ',', num_args = 0.., conflicts_with_all = ["runtimes", "live"])]
    pub profiles: Option<Vec<String>>,
    /// Boots per cell and ISO (default 3); with --runtimes, timed runs per runtime and
    /// container after one warm-up run (default 20)
    #[arg(long)]
    pub runs: Option<u32>,
    /// The short version CI runs: one boot per cell (BIOS and UEFI CD), one no-op
    /// rebuild, no RAM bisection, no cold builds (with --profiles: one boot per cell)
    #[arg(long, conflicts_with = "runtimes")]
    pub quick: bool,
    /// Also build kernel + BusyBox from clean, Kiln's way and with plain `make`s of the
    /// same .config files (minutes)
    #[arg(long, conflicts_with_all = ["runtimes", "quick"])]
    pub cold: bool,
}

impl Args {
    /// `cargo xtask bench --quick` for IMAGE (what `cargo xtask test` runs).
    pub fn quick(image: crate::ImageArg) -> Args {
        Args { image, live: false, runtimes: false, profiles: None, runs: None, quick: true, cold: false }
    }
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// The spec as `cargo xtask iso` builds it (with `--live`, in live mode).
fn spec(ctx: &Ctx, args: &Args) -> Result<kiln_image::ImageSpec> {
    let mut spec = kiln_image::ImageSpec::load(&ctx.root, &args.image.image)?;
    if args.live {
        crate::iso::to_live(&mut spec)?;
    }
    Ok(spec)
}

/// The RAM bisection's range, MiB.
const RAM_LOW: u32 = 8;
const RAM_HIGH: u32 = 128;

pub fn run(args: &Args) -> Result<()> {
    let ctx = Ctx::new();
    if args.runtimes {
        return runtimes::run(&ctx, args.runs.unwrap_or(20));
    }
    let runs = if args.quick { 1 } else { args.runs.unwrap_or(3).max(1) };
    if let Some(names) = &args.profiles {
        return profiles::run(&ctx, names, runs, &boot::cells(args.quick));
    }
    let dir = ctx.out.join("bench");
    let logs = dir.join("logs");
    if logs.exists() {
        std::fs::remove_dir_all(&logs).with_context(|| format!("removing {}", logs.display()))?;
    }
    let a = artifacts::build_spec(&ctx, spec(&ctx, args)?, true)?;
    let busybox = a.busybox_binary.clone();
    if busybox.as_os_str().is_empty() {
        bail!("image {} has no Kiln BusyBox (contract mode): the reference needs one", a.spec.name);
    }
    eprintln!("reference ISO (seed 000's recipe) from the same bzImage and BusyBox");
    let refr = reference::build(&a.kernel, &busybox, &dir.join("reference"))?;
    eprintln!("  {} ({}), packaged in {:.1}s", refr.iso.display(), human(size(&refr.iso)), refr.package_seconds);

    eprintln!("rebuilds");
    let rb = builds::rebuilds(&ctx, &a, args.live, if args.quick { 1 } else { 3 })?;
    eprintln!("  no-op {:.2}s, after an init change {:.2}s (its compile {:.2}s)", rb.noop_s, rb.init_change_s, rb.init_compile_s);
    // The touched init is the same binary: the artifacts are as before.
    let a = artifacts::build_spec(&ctx, spec(&ctx, args)?, true)?;
    let iso = a.iso.clone().expect("iso built");

    let accel = ctx.accel(&a.kernel, &a.initrd);
    let kiln_t = boot::Target::shell("kiln", &iso, crate::test_boot::MARKER, true);
    let ref_t = boot::Target::shell("reference", &refr.iso, reference::WELCOME, false);
    eprintln!("boot to shell ({accel:?}, {runs} run(s) per cell)");
    let cells = boot::cells(args.quick);
    let boots: Vec<report::Cell> =
        cells.iter().map(|&c| boot::measure_cell(c, &kiln_t, &ref_t, runs, accel, &logs, None)).collect();

    let ram_floor = if args.quick {
        None
    } else {
        let cell = cells[0];
        eprintln!("RAM floor ({}, -m {RAM_LOW}..{RAM_HIGH} MiB)", cell.name);
        // Generous against the default-memory boots, so only a failed boot ends a try.
        let slowest = boots[0].reference.runs.iter().chain(&boots[0].kiln.runs).filter_map(|r| r.shell_s).fold(0.0, f64::max);
        let timeout = Duration::from_secs_f64(2.0 * slowest + 30.0);
        let kiln = boot::ram_floor(cell, &kiln_t, RAM_LOW, RAM_HIGH, accel, &logs, timeout);
        let reference = boot::ram_floor(cell, &ref_t, RAM_LOW, RAM_HIGH, accel, &logs, timeout);
        Some(RamFloor { cell: cell.name.into(), low_mib: RAM_LOW, high_mib: RAM_HIGH, kiln, reference })
    };

    // Last, so the boots above run on a machine no busier than a cold build leaves it.
    let cold = if args.cold { Some(builds::cold(&ctx, &a.spec)?) } else { None };

    let mut sizes = vec![
        ("bzImage".to_string(), size(&a.kernel)),
        ("initramfs (xz)".to_string(), size(&a.initrd)),
        ("kiln-init (static, stripped)".to_string(), size(&a.init_binary)),
        ("busybox (static)".to_string(), size(&a.busybox_binary)),
    ];
    if let Some(live) = &a.live {
        sizes.push(("squashfs root (xz)".to_string(), size(&live.squashfs)));
        sizes.push(("kiln-boot (static, stripped)".to_string(), size(&live.boot_binary)));
    }
    sizes.push(("reference initramfs (xz -9)".to_string(), size(&refr.initramfs)));
    let kiln = Subject {
        iso: iso.display().to_string(),
        iso_bytes: size(&iso),
        recipe: format!("`cargo xtask iso --image {}{}`", a.spec.name, if args.live { " --live" } else { "" }),
    };
    let reference = Subject { iso: refr.iso.display().to_string(), iso_bytes: size(&refr.iso), recipe: reference::RECIPE.into() };
    let builds = Builds {
        noop: Pair::new(rb.noop_s, refr.package_seconds),
        init_change: Pair::new(rb.init_change_s, refr.package_seconds),
        init_compile_s: rb.init_compile_s,
        cold,
    };
    let rows = report::rows(&kiln, &reference, &boots, ram_floor.as_ref(), &builds);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let report = Report {
        schema: report::SCHEMA,
        date: kiln_util::utc_date(now),
        machine: report::Machine::probe(&format!("{accel:?}")),
        image: a.spec.name.clone(),
        quick: args.quick,
        runs,
        kiln,
        reference,
        sizes,
        boots,
        ram_floor,
        builds,
        rows,
    };

    for (what, bytes) in &report.sizes {
        println!("{what:<30} {bytes:>10} bytes  {}", human(*bytes));
    }
    println!("after touching the init's source, its compile alone: {:.2}s", report.builds.init_compile_s);
    print!("{}", report::terminal(&report.rows));
    let json = dir.join("bench.json");
    kiln_util::write_atomic(&json, serde_json::to_string_pretty(&report)?.as_bytes())
        .with_context(|| format!("writing {}", json.display()))?;
    let md = dir.join("bench.md");
    kiln_util::write_atomic(&md, report::markdown(&report).as_bytes()).with_context(|| format!("writing {}", md.display()))?;
    let svg = dir.join("boot.svg");
    kiln_util::write_atomic(&svg, report::boot_chart(&report).as_bytes()).with_context(|| format!("writing {}", svg.display()))?;
    println!("written to {}, {} and {} (serial logs in {})", json.display(), md.display(), svg.display(), logs.display());
    // Numbers are never asserted, but a boot that never reached the shell at QEMU's
    // default memory is a broken measurement.
    let failed: Vec<String> = report
        .boots
        .iter()
        .flat_map(|c| [("kiln", &c.kiln), ("reference", &c.reference)].map(|(w, s)| (w, c, s)))
        .filter(|(_, _, s)| s.failed > 0)
        .map(|(w, c, s)| format!("{w} {}: {} of {} runs", c.cell, s.failed, s.runs.len()))
        .collect();
    if !failed.is_empty() {
        bail!("boots that never reached the shell: {} (logs in {})", failed.join(", "), logs.display());
    }
    Ok(())
}
