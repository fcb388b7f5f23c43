//! `cargo xtask size`: where the ISO's bytes go, as a table, as JSON and as an SVG chart.

use crate::artifacts::{self, human};
use crate::ctx::Ctx;
use anyhow::{Context, Result};

pub fn run(args: &crate::ImageArg) -> Result<()> {
    let ctx = Ctx::new();
    let a = artifacts::build(&ctx, &args.image, true)?;
    let iso = a.iso.clone().expect("iso built");
    let r = kiln_iso::size_report(&iso)?;
    println!("{}", iso.display());
    for (what, bytes) in r.rows() {
        println!("  {what:<26} {bytes:>9}  {:>10}  {:>5.1}%", human(bytes), 100.0 * bytes as f64 / r.total.max(1) as f64);
    }
    println!("  {:<26} {:>9}  {:>10}", "total", r.total, human(r.total));
    println!("  {:<26} {:>9}  {:>10}", "boot machinery", r.overhead(), human(r.overhead()));

    // The initramfs by its biggest files.
    let cpio = kiln_initramfs::decompress_xz(&std::fs::read(&a.initrd)?)?;
    let mut files: Vec<(String, usize)> =
        kiln_initramfs::read_newc(&cpio)?.into_iter().filter(|e| e.is_file()).map(|e| (e.name, e.data.len())).collect();
    files.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    println!("initramfs: biggest files (uncompressed)");
    for (name, bytes) in files.iter().take(5) {
        println!("  /{name:<25} {bytes:>9}  {:>10}", human(*bytes as u64));
    }

    let json = serde_json::json!({
        "iso": iso.display().to_string(),
        "total": r.total,
        "kernel": r.kernel,
        "initramfs": r.initrd,
        "bios_loader": r.bios_core,
        "efi_image": r.efi_image,
        "grub_files": r.grub_files,
        "iso_metadata": r.metadata,
        "padding": r.padding,
        "boot_machinery": r.overhead(),
        "initramfs_files": files.iter().take(20).map(|(n, b)| serde_json::json!({"path": format!("/{n}"), "bytes": b})).collect::<Vec<_>>(),
    });
    let path = ctx.image_dir(&a.spec.name).join("size.json");
    kiln_util::write_atomic(&path, serde_json::to_string_pretty(&json)?.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    println!("written to {}", path.display());

    // The same parts as the table, as a chart (kiln_util writes a temporary, then renames).
    let parts: Vec<(String, u64)> = r.rows().iter().map(|(what, bytes)| (what.to_string(), *bytes)).collect();
    let file = iso.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let svg = kiln_report::size_chart(&format!("{} ({file}): where the bytes go", a.spec.name), &parts);
    let chart = ctx.image_dir(&a.spec.name).join("size.svg");
    kiln_util::write_atomic(&chart, svg.as_bytes()).with_context(|| format!("writing {}", chart.display()))?;
    println!("chart: {}", chart.display());
    Ok(())
}
