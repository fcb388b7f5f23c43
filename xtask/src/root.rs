//! The image's root file system, whichever its source (Kiln's own BusyBox root, or a
//! container image) and its mode (all in the initramfs, or a live squashfs).

use crate::artifacts::{tool_identity, write_initramfs};
use crate::ctx::Ctx;
use anyhow::Result;
use kiln_build::busybox;
use kiln_build::cache::Key;
use kiln_image::{ImageSpec, RootfsInputs};
use kiln_util::Stamped;
use kiln_image::containers::ContainerSpec;
use std::path::{Path, PathBuf};

/// The guest binaries and BusyBox the root is made from.
pub struct Parts<'a> {
    pub busybox: &'a Path,
    pub init: &'a Path,
    /// kiln-ctr, built when the spec has `[[containers]]`.
    pub ctr: Option<&'a Path>,
    /// What the build tool itself adds (empty for an image built from its spec).
    pub extra: &'a Extra,
}

/// Files the build tool adds to a root for its own purposes, never from a spec (no
/// spec key reaches this): `bench --runtimes` adds runc, crun and bundles the daemon
/// never starts; the container boot case adds an image layout. Empty by default, and then adds nothing to the cache key either.
#[derive(Debug, Default)]
pub struct Extra {
    /// Host ELF programs, copied with their shared libraries (kiln-hostbin).
    pub host_binaries: Vec<PathBuf>,
    /// Container bundles outside kiln-ctr's manifest: (the bundle's directory in the
    /// root, the container), each as `add_bundle` makes it (`config.json` + `rootfs`).
    pub bundles: Vec<(String, ContainerSpec)>,
}

/// The cache key of whatever is made from the root tree: `what` (the output's kind and
/// format version), the root's inputs, the epoch and this build tool.
pub fn key(ctx: &Ctx, spec: &ImageSpec, parts: &Parts, what: &str) -> Result<Key> {
    let mut key = Key::new(what);
    match crate::oci::root_image(spec)? {
        Some(oci) => crate::oci::add_key(&mut key, spec, oci, parts.busybox, parts.init)?,
        None => {
            key.add("kiln-root").add_file(parts.busybox)?.add_file(parts.init)?.add(spec.init_config().render());
            if !spec.network.dhcp.is_empty() {
                key.add(kiln_image::network::script());
            }
        }
    }
    crate::containers::add_key(&mut key, spec, parts)?;
    crate::containers::add_extra_key(&mut key, parts.extra)?;
    key.add(format!("{:?}", spec.rootfs.mode)).add(ctx.epoch.to_string()).add(tool_identity());
    Ok(key)
}

/// The root tree: Kiln's own (BusyBox, kiln-init, init.conf), or the container image's
/// merged with kiln-init; then the containers of a container OS.
pub fn tree(ctx: &Ctx, spec: &ImageSpec, parts: &Parts) -> Result<kiln_initramfs::Tree> {
    let mut tree = match crate::oci::root_image(spec)? {
        Some(oci) => crate::oci::tree(ctx, spec, oci, parts.busybox, parts.init)?,
        None => {
            let applets = busybox::applets(parts.busybox)?;
            let init_conf = spec.init_config().render();
            let mut tree = kiln_image::rootfs(&RootfsInputs { busybox: parts.busybox, applets: &applets, init: parts.init, init_conf })?;
            spec.network.add(&mut tree, &applets, &spec.path.display().to_string())?;
            tree
        }
    };
    crate::containers::add(ctx, spec, parts, &mut tree)?;
    crate::containers::add_extra(ctx, spec, parts, &mut tree)?;
    Ok(tree)
}

/// Initramfs mode: the whole root as `initrd`; true when it was already there.
pub fn initramfs(ctx: &Ctx, spec: &ImageSpec, parts: &Parts, initrd: &Path) -> Result<bool> {
    let key = key(ctx, spec, parts, "initramfs-v2")?;
    Stamped::new(initrd, key.finish()).get_or_make(|| write_initramfs(ctx, &tree(ctx, spec, parts)?, initrd))
}
