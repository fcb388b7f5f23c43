//! The root of an image whose root is a container image (`[rootfs] oci`, or
//! `cargo xtask iso --from-oci PATH`): kiln-oci reads and unpacks it, kiln-image
//! merges it with kiln-init, init.conf and the device nodes.

use crate::ctx::Ctx;
use anyhow::{Context, Result};
use kiln_build::busybox;
use kiln_build::cache::Key;
use kiln_image::{ImageSpec, OciInputs, RootMode};
use std::path::Path;

/// The local path of the spec's root image, if it has one (registry images are pulled
/// by then: `registry::fetch`).
pub fn root_image(spec: &ImageSpec) -> Result<Option<&Path>> {
    spec.rootfs.oci.as_ref().map(|o| o.path()).transpose().map_err(anyhow::Error::msg)
}

/// What the merged tree depends on besides the build tool: the input's bytes and the
/// settings that shape the tree.
pub fn add_key(key: &mut Key, spec: &ImageSpec, oci: &Path, bb: &Path, init: &Path) -> Result<()> {
    let r = &spec.rootfs;
    add_input(key, oci)?;
    key.add(r.platform.to_string()).add(format!("{:?} {} {}", r.run, r.busybox, r.max_initramfs_bytes));
    key.add(spec.init_config().render()).add_file(init)?;
    if r.busybox {
        key.add_file(bb)?;
    }
    Ok(())
}

/// The container image at `oci` merged with what Kiln adds; held to
/// `rootfs.max_initramfs_bytes` in initramfs mode.
pub fn tree(ctx: &Ctx, spec: &ImageSpec, oci: &Path, bb: &Path, init: &Path) -> Result<kiln_initramfs::Tree> {
    let r = &spec.rootfs;
    let shown = oci.display();
    let (image, conv) = unpack(ctx, &spec.rootfs.platform, oci)?;
    let config = image.config().clone();
    let initramfs = r.mode == RootMode::Initramfs;
    if let (true, Some((path, name))) = (initramfs, conv.xattrs.first()) {
        eprintln!("  note: {} extended attribute(s) dropped (an initramfs cannot carry them; live mode keeps them), e.g. {name} of /{path}", conv.xattrs.len());
    }
    let applets = if r.busybox { busybox::applets(bb)? } else { Vec::new() };
    let base = spec.init_config();
    let (tree, _) = kiln_image::oci_rootfs(OciInputs {
        tree: conv.tree,
        image: &config,
        base: &base,
        run: r.run,
        busybox: r.busybox.then_some((bb, applets.as_slice())),
        init,
    })
    .with_context(|| format!("{shown} as the root of image {}", spec.name))?;
    if initramfs {
        let size = kiln_image::unpacked_size(&tree)?;
        kiln_image::check_size(size, r.max_initramfs_bytes).with_context(|| format!("{shown} as the root of image {}", spec.name))?;
    }
    Ok(tree)
}

/// Opens and unpacks the container image at `oci` (for `platform`) into an in-memory tree.
pub fn unpack(ctx: &Ctx, platform: &kiln_oci::Platform, oci: &Path) -> Result<(kiln_oci::Image, kiln_oci::TreeConversion)> {
    let spool_dir = ctx.cache.join("oci-spool");
    std::fs::create_dir_all(&spool_dir).with_context(|| format!("creating {}", spool_dir.display()))?;
    let options = kiln_oci::Options { platform: platform.clone(), spool_dir, ..kiln_oci::Options::default() };
    let shown = oci.display();
    let image = kiln_oci::Image::open(oci, &options).with_context(|| format!("reading the container image {shown}"))?;
    let config = image.config();
    eprintln!("  {shown}: {:?}, {} layer(s), {}, runs {:?}", image.format(), image.layers().len(), config.platform, config.command());
    let rootfs = image.unpack(&options).with_context(|| format!("unpacking {shown}"))?;
    let conv = rootfs.to_tree()?;
    Ok((image, conv))
}

/// The input's bytes: the archive, or every file of a layout directory (sorted).
pub fn add_input(key: &mut Key, oci: &Path) -> Result<()> {
    if oci.is_dir() {
        for e in walkdir::WalkDir::new(oci).sort_by_file_name() {
            let e = e.with_context(|| format!("reading {}", oci.display()))?;
            if e.file_type().is_file() {
                key.add(e.path().strip_prefix(oci).unwrap_or(e.path()).to_string_lossy().as_bytes());
                key.add(kiln_sources::sha256_file(e.path())?);
            }
        }
        Ok(())
    } else {
        key.add(kiln_sources::sha256_file(oci)?);
        Ok(())
    }
}
