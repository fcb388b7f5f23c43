//! `cargo xtask bench`: measures (never asserts) build and boot speed and artifact
//! sizes; prints a table and writes `out/bench.json`.

mod runtimes;
mod timing;

use crate::artifacts::{self, human};
use crate::ctx::Ctx;
use anyhow::{Context, Result};
use kiln_vm::{Boot, Firmware, Machine, Step};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Serialize)]
struct Report {
    image: String,
    accel: String,
    /// `cargo xtask iso` with nothing changed, as a user types it (best of three).
    rebuild_seconds: f64,
    /// `cargo xtask iso` after touching kiln-init's source.
    init_change_seconds: f64,
    /// The init's own compile in that run (cargo's part), for comparison.
    init_compile_seconds: f64,
    sizes: Vec<(String, u64)>,
    boots: Vec<BootTime>,
}

#[derive(Serialize)]
struct BootTime {
    case: String,
    passed: bool,
    marker_seconds: Option<f64>,
    guest_uptime: Option<f64>,
}

/// Seconds a `cargo xtask iso --image IMAGE` takes, run as a user runs it.
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
    /// With --runtimes: timed runs per runtime and container (after one warm-up run)
    #[arg(long, default_value_t = 20, requires = "runtimes")]
    pub runs: u32,
}

fn time_iso(ctx: &Ctx, image: &str, live: bool) -> Result<f64> {
    let t = Instant::now();
    let mut args = vec!["xtask", "iso", "--image", image];
    if live {
        args.push("--live");
    }
    let out = duct::cmd(ctx.cargo(), args)
        .dir(&ctx.root)
        .stdout_null()
        .stderr_null()
        .unchecked()
        .run()
        .context("running cargo xtask iso")?;
    if !out.status.success() {
        anyhow::bail!("cargo xtask iso --image {image} failed ({})", out.status);
    }
    Ok(t.elapsed().as_secs_f64())
}

fn touch(path: &Path) -> Result<()> {
    let f = std::fs::File::options().write(true).open(path).with_context(|| format!("opening {}", path.display()))?;
    f.set_modified(std::time::SystemTime::now()).with_context(|| format!("touching {}", path.display()))
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

pub fn run(args: &Args) -> Result<()> {
    let ctx = Ctx::new();
    if args.runtimes {
        return runtimes::run(&ctx, args.runs);
    }
    let image = args.image.image.as_str();
    let a = artifacts::build_spec(&ctx, spec(&ctx, args)?, true)?;
    // Nothing changed: the time is the no-op rebuild, cargo's own check included.
    let mut noop = Vec::new();
    for _ in 0..3 {
        noop.push(time_iso(&ctx, image, args.live)?);
    }
    let rebuild_seconds = noop.iter().copied().fold(f64::INFINITY, f64::min);
    // A change to the init's source: its compile, then initramfs and ISO. Touching the
    // source recompiles the init; forgetting the two stamps makes the steps after it
    // run as they would for a real change (a touch alone gives the same binary).
    let init_src = ctx.root.join("crates/init/src/main.rs");
    touch(&init_src)?;
    let mut made_from_init = vec![a.initrd.clone(), a.iso.clone().expect("iso built")];
    made_from_init.extend(a.live.as_ref().map(|l| l.squashfs.clone()));
    for out in &made_from_init {
        kiln_util::Stamped::invalidate(out)?;
    }
    let init_change_seconds = time_iso(&ctx, image, args.live)?;
    touch(&init_src)?;
    let t = Instant::now();
    crate::artifacts::build_guest(&ctx, "kiln-init")?;
    let init_compile_seconds = t.elapsed().as_secs_f64();
    artifacts::build_spec(&ctx, spec(&ctx, args)?, true)?;
    let iso = a.iso.clone().expect("iso built");
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
    sizes.push(("iso".to_string(), size(&iso)));
    let accel = ctx.accel(&a.kernel, &a.initrd);
    let serial = &a.spec.iso.entries[0];
    let direct = Boot::Kernel { kernel: a.kernel.clone(), initrd: a.initrd.clone(), append: a.spec.cmdline(serial) };
    let cells = [
        ("direct-kernel", Firmware::SeaBios, direct),
        ("seabios-cd", Firmware::SeaBios, Boot::Cdrom(iso.clone())),
        ("seabios-disk", Firmware::SeaBios, Boot::Disk(iso.clone())),
        ("ovmf-cd", Firmware::Ovmf, Boot::Cdrom(iso.clone())),
        ("ovmf-disk", Firmware::Ovmf, Boot::Disk(iso)),
    ];
    // A live root is on the medium: booting the kernel directly, without one, ends in
    // kiln-boot's rescue shell by design.
    let cells = cells.into_iter().filter(|(name, ..)| a.live.is_none() || *name != "direct-kernel");
    let steps = [
        Step::Boot { marker: crate::test_boot::MARKER.into(), timeout: Duration::from_secs(240) },
        Step::Shell { timeout: Duration::from_secs(60) },
    ];
    let mut boots = Vec::new();
    for (name, fw, boot) in cells {
        let machine = Machine::new(fw, boot, accel);
        let r = kiln_vm::run_script(name, &machine, &steps, &ctx.out.join("bench").join(format!("{name}.log")));
        boots.push(BootTime { case: name.into(), passed: r.passed(), marker_seconds: r.boot_seconds, guest_uptime: r.guest_uptime });
    }
    let report = Report {
        image: a.spec.name.clone(),
        accel: format!("{accel:?}"),
        rebuild_seconds,
        init_change_seconds,
        init_compile_seconds,
        sizes,
        boots,
    };

    println!("no-op `cargo xtask iso`: {:.2}s (best of 3)", report.rebuild_seconds);
    println!(
        "after touching the init's source: {:.2}s (its compile alone {:.2}s, so {:.2}s more)",
        report.init_change_seconds,
        report.init_compile_seconds,
        report.init_change_seconds - report.init_compile_seconds
    );
    for (what, bytes) in &report.sizes {
        println!("{what:<30} {bytes:>10} bytes  {}", human(*bytes));
    }
    println!("boot to marker ({}):", report.accel);
    for b in &report.boots {
        let m = b.marker_seconds.map_or("-".into(), |s| format!("{s:.1}s"));
        let g = b.guest_uptime.map_or("-".into(), |s| format!("{s:.2}s"));
        println!("  {:<14} host {m:>7}  guest uptime {g:>6}{}", b.case, if b.passed { "" } else { "  (failed)" });
    }
    let json = ctx.out.join("bench.json");
    kiln_util::write_atomic(&json, serde_json::to_string_pretty(&report)?.as_bytes())
        .with_context(|| format!("writing {}", json.display()))?;
    println!("written to {}", json.display());
    Ok(())
}
