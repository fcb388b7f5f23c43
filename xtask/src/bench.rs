//! `cargo xtask bench`: measures (never asserts) build and boot speed and artifact
//! sizes; prints a table and writes `out/bench.json`.

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
    rebuild_seconds: f64,
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

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

pub fn run(args: &crate::ImageArg) -> Result<()> {
    let ctx = Ctx::new();
    artifacts::build(&ctx, &args.image, true)?;
    // The second build has nothing to do: its time is the no-op rebuild time.
    let t = Instant::now();
    let a = artifacts::build(&ctx, &args.image, true)?;
    let rebuild_seconds = t.elapsed().as_secs_f64();
    let iso = a.iso.clone().expect("iso built");
    let sizes = vec![
        ("bzImage".to_string(), size(&a.kernel)),
        ("initramfs (xz)".to_string(), size(&a.initrd)),
        ("kiln-init (static, stripped)".to_string(), size(&a.init_binary)),
        ("busybox (static)".to_string(), size(&a.busybox_binary)),
        ("iso".to_string(), size(&iso)),
    ];
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
    let report = Report { image: args.image.clone(), accel: format!("{accel:?}"), rebuild_seconds, sizes, boots };

    println!("no-op rebuild: {:.1}s", report.rebuild_seconds);
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
