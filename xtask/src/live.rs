//! Live mode (`[rootfs] mode = "live"`, `iso --live`): the root as a squashfs
//! (`out/NAME/LiveOS/squashfs.img`, on the ISO at `/LiveOS/squashfs.img`) and an
//! initramfs of kiln-boot and BusyBox only. Each cached by its inputs.

use crate::artifacts::{report, tool_identity, write_initramfs};
use crate::ctx::Ctx;
use crate::root::{self, Parts};
use anyhow::Result;
use kiln_build::cache::Key;
use kiln_image::ImageSpec;
use kiln_util::Stamped;
use std::path::{Path, PathBuf};

/// Writes the squashfs root and the live initramfs (`initrd`); returns the squashfs.
pub fn build(ctx: &Ctx, spec: &ImageSpec, parts: &Parts, boot: &Path, initrd: &Path) -> Result<PathBuf> {
    let squashfs = ctx.image_dir(&spec.name).join(kiln_iso::SQUASHFS_PATH);
    let mut key = root::key(ctx, spec, parts, "squashfs-v1")?;
    key.add(ctx.tool_version(kiln_squashfs::TOOL)?);
    let log_dir = ctx.out.join("logs");
    let cached = Stamped::new(&squashfs, key.finish()).get_or_make(|| {
        let tree = root::tree(ctx, spec, parts)?;
        kiln_squashfs::write_squashfs(&tree, &squashfs, ctx.epoch, &log_dir)?;
        eprintln!("  squashfs: {} entries", tree.len());
        Ok(())
    })?;
    report("squashfs", &squashfs, cached);

    let mut key = Key::new("live-initramfs-v1");
    key.add_file(boot)?.add_file(parts.busybox)?.add(ctx.epoch.to_string()).add(tool_identity());
    Stamped::new(initrd, key.finish()).get_or_make(|| {
        let applets = kiln_build::busybox::applets(parts.busybox)?;
        write_initramfs(ctx, &kiln_image::live_initramfs(boot, parts.busybox, &applets)?, initrd)
    })?;
    Ok(squashfs)
}
