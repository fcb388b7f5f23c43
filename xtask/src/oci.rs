//! The initramfs of an image whose root is a container image (`[rootfs] oci`, or
//! `cargo xtask iso --from-oci PATH`): kiln-oci reads and unpacks it, kiln-image
//! merges it with kiln-init, init.conf and the device nodes; cached like every step.

use crate::artifacts::{tool_identity, write_initramfs};
use crate::ctx::Ctx;
use anyhow::{Context, Result};
use kiln_build::busybox;
use kiln_build::cache::Key;
use kiln_image::{ImageSpec, OciInputs};
use kiln_util::Stamped;
use std::path::Path;

/// Writes `initrd` from the container image at `oci`; true when it was already there.
pub fn initramfs(ctx: &Ctx, spec: &ImageSpec, oci: &Path, bb: &Path, init: &Path, initrd: &Path) -> Result<bool> {
    let r = &spec.rootfs;
    let mut key = Key::new("initramfs-oci-v1");
    add_input(&mut key, oci)?;
    key.add(r.platform.to_string()).add(format!("{:?} {} {}", r.run, r.busybox, r.max_initramfs_bytes));
    key.add(spec.init_config().render()).add_file(init)?;
    if r.busybox {
        key.add_file(bb)?;
    }
    key.add(ctx.epoch.to_string()).add(tool_identity());
    Stamped::new(initrd, key.finish()).get_or_make(|| {
        let spool_dir = ctx.cache.join("oci-spool");
        std::fs::create_dir_all(&spool_dir).with_context(|| format!("creating {}", spool_dir.display()))?;
        let options = kiln_oci::Options { platform: r.platform.clone(), spool_dir, ..kiln_oci::Options::default() };
        let shown = oci.display();
        let image = kiln_oci::Image::open(oci, &options).with_context(|| format!("reading the container image {shown}"))?;
        let config = image.config().clone();
        eprintln!("  {shown}: {:?}, {} layer(s), {}, runs {:?}", image.format(), image.layers().len(), config.platform, config.command());
        let rootfs = image.unpack(&options).with_context(|| format!("unpacking {shown}"))?;
        let conv = rootfs.to_tree()?;
        if let Some((path, name)) = conv.xattrs.first() {
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
        let size = kiln_image::unpacked_size(&tree)?;
        kiln_image::check_size(size, r.max_initramfs_bytes).with_context(|| format!("{shown} as the root of image {}", spec.name))?;
        write_initramfs(ctx, &tree, initrd)
    })
}

/// The input's bytes: the archive, or every file of a layout directory (sorted).
fn add_input(key: &mut Key, oci: &Path) -> Result<()> {
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
