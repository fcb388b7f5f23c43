//! The container OS (`[[containers]]` in a spec): each container's image unpacked by
//! kiln-oci into its own read-only root, `/containers/NAME/rootfs`, beside the OCI
//! runtime `config.json` kiln-image generates for it; the manifest kiln-ctr reads; the
//! CNI conflist, plugins and iptables with the shared libraries they need; kiln-ctr.

use crate::artifacts::write_if_changed;
use crate::ctx::Ctx;
use crate::root::{Extra, Parts};
use anyhow::{Context, Result};
use kiln_build::busybox;
use kiln_build::cache::Key;
use kiln_image::containers::ImageRef;
use kiln_image::ImageSpec;
use kiln_initramfs::{Data, Kind, Tree};
use kiln_oci::fixtures::{oci_layout_files, tar_bytes, Files, FixtureImage, RawTar};
use std::path::{Path, PathBuf};

/// `kiln:busybox`: Kiln's own BusyBox (the spec's build, with its applet links) as a
/// one-layer image, so a container OS can be built with no registry and no image
/// files. Written as an oci-archive to `out/NAME/images/kiln-busybox.tar` and read back
/// through kiln-oci like any other image; the same BusyBox gives the same bytes.
pub fn builtin_busybox(ctx: &Ctx, spec: &ImageSpec, bb: &Path) -> Result<PathBuf> {
    let bytes = tar_bytes(&busybox_layout(bb)?)?;
    let out = ctx.image_dir(&spec.name).join("images/kiln-busybox.tar");
    write_if_changed(&out, &bytes)?;
    Ok(out)
}

/// The files of `kiln:busybox` as an OCI layout (`oci-layout`, `index.json`, blobs).
fn busybox_layout(bb: &Path) -> Result<Files> {
    Ok(oci_layout_files(&busybox_image(bb)?, "kiln/busybox:latest"))
}

/// `kiln:busybox`: one layer with BusyBox, a link per applet, `/etc/passwd` and
/// `/etc/group`; `Cmd` is `sh`.
pub fn busybox_image(bb: &Path) -> Result<FixtureImage> {
    let applets = busybox::applets(bb)?;
    let data = std::fs::read(bb).with_context(|| format!("reading {}", bb.display()))?;
    let mut layer = RawTar::new();
    for dir in ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "tmp", "var", "var/www"] {
        layer.dir(dir, match dir {
            "root" => 0o700,
            "tmp" => 0o1777,
            _ => 0o755,
        });
    }
    layer.file("bin/busybox", 0o755, &data);
    for applet in applets.iter().filter(|a| *a != "bin/busybox") {
        layer.symlink(applet, "/bin/busybox");
    }
    layer
        .file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        .file("etc/group", 0o644, b"root:x:0:\nnobody:x:65534:\n");
    let mut image = FixtureImage::with_layers(vec![layer.finish()], kiln_oci::Compression::Gzip);
    image.run = serde_json::json!({ "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"] });
    Ok(image)
}

/// The image file a container's `image` names: its path, or the built-in image made
/// from the spec's BusyBox.
fn image_path(ctx: &Ctx, spec: &ImageSpec, image: &ImageRef, bb: &Path) -> Result<PathBuf> {
    match image {
        ImageRef::Path(p) => Ok(p.clone()),
        ImageRef::Builtin(_) => builtin_busybox(ctx, spec, bb),
        ImageRef::Registry(_) => Ok(image.path().map_err(anyhow::Error::msg)?.to_owned()),
    }
}

/// What the containers add to the root's cache key: each image's bytes and the
/// settings (the spec's tables), kiln-ctr, and the host files copied for CNI.
pub fn add_key(key: &mut Key, spec: &ImageSpec, parts: &Parts) -> Result<()> {
    if spec.containers.is_empty() {
        return Ok(());
    }
    key.add(format!("containers-v1 {:?}", spec.containers));
    for c in &spec.containers {
        match &c.image {
            ImageRef::Path(p) => crate::oci::add_input(key, p)?,
            // Made from BusyBox, which is in the key already; the layout's format is
            // this build tool's (in the key too).
            ImageRef::Builtin(name) => {
                key.add(name.as_str());
            }
            ImageRef::Registry(_) => anyhow::bail!("{}: not pulled before the build", c.image),
        }
    }
    key.add_file(parts.ctr.context("kiln-ctr was not built")?)?;
    if spec.containers.iter().any(|c| c.network) {
        add_closure_key(key, container_os()?)?;
    }
    Ok(())
}

/// The container OS's host programs and libraries (kiln-hostbin), walked once per run
/// of the build tool: the key and the tree read the same closure.
fn container_os() -> Result<&'static kiln_hostbin::Closure> {
    static CLOSURE: std::sync::OnceLock<kiln_hostbin::Closure> = std::sync::OnceLock::new();
    if let Some(c) = CLOSURE.get() {
        return Ok(c);
    }
    let c = kiln_hostbin::container_os()?;
    Ok(CLOSURE.get_or_init(|| c))
}

/// A kiln-hostbin closure's part of a key: every guest path with its mode and bytes,
/// or its link target.
fn add_closure_key(key: &mut Key, closure: &kiln_hostbin::Closure) -> Result<()> {
    for f in closure.entries() {
        key.add(f.guest_path.as_str());
        match &f.kind {
            kiln_hostbin::Kind::File { host_path, mode } => {
                key.add(format!("{mode:o}")).add_file(host_path)?;
            }
            kiln_hostbin::Kind::Symlink { target } => {
                key.add(target.as_str());
            }
        }
    }
    Ok(())
}

/// The closure of the build tool's extra host programs.
fn extra_closure(extra: &Extra) -> Result<kiln_hostbin::Closure> {
    let mut closure = kiln_hostbin::Closure::new();
    for b in &extra.host_binaries {
        closure.add(b).with_context(|| format!("the closure of {}", b.display()))?;
    }
    Ok(closure)
}

/// What [`Extra`] adds to the root's cache key (nothing when it is empty). The bundles'
/// images are built-in ones or paths, keyed as the spec's containers are.
pub fn add_extra_key(key: &mut Key, extra: &Extra) -> Result<()> {
    if extra.host_binaries.is_empty() && extra.bundles.is_empty() {
        return Ok(());
    }
    key.add(format!("extra-v1 {:?}", extra.bundles));
    for (_, c) in &extra.bundles {
        if let ImageRef::Path(p) = &c.image {
            crate::oci::add_input(key, p)?;
        }
    }
    add_closure_key(key, &extra_closure(extra)?)
}

/// Adds [`Extra`] to `root`: the host programs with their libraries, and each bundle at
/// its own directory, outside `/containers` and kiln-ctr's manifest (so the daemon
/// never starts it).
pub fn add_extra(ctx: &Ctx, spec: &ImageSpec, parts: &Parts, root: &mut Tree) -> Result<()> {
    let extra = parts.extra;
    extra_closure(extra)?.insert_into(root)?;
    for (dir, c) in &extra.bundles {
        let path = image_path(ctx, spec, &c.image, parts.busybox)?;
        let (image, conv) = crate::oci::unpack(ctx, &c.platform, &path).with_context(|| format!("bundle {dir}"))?;
        let mut scratch = Tree::new();
        kiln_image::containers::add_bundle(&mut scratch, c, image.config(), conv.tree).with_context(|| format!("bundle {dir}"))?;
        let bundle = subtree(scratch, &kiln_ctr::manifest::bundle_path(&c.name));
        root.graft(dir, bundle).with_context(|| format!("bundle {dir}"))?;
    }
    Ok(())
}

/// The entries of `tree` below the directory `prefix` (absolute or not), as a tree of
/// their own; hard links re-aimed inside it.
fn subtree(tree: Tree, prefix: &str) -> Tree {
    let prefix = format!("{}/", prefix.trim_matches('/'));
    let mut out = Tree::new();
    for e in tree.iter() {
        let Some(rest) = e.path.strip_prefix(&prefix) else { continue };
        let mut e = e.clone();
        e.path = rest.to_string();
        if let Kind::HardLink(target) = &mut e.kind {
            *target = target.strip_prefix(&prefix).unwrap_or(target).to_string();
        }
        out.insert(e).expect("entries of a tree fit a tree");
    }
    out
}

/// Adds the container OS to `root`: every container's bundle, kiln-ctr, its manifest,
/// the CNI conflist, plugins and iptables with their shared libraries.
pub fn add(ctx: &Ctx, spec: &ImageSpec, parts: &Parts, root: &mut Tree) -> Result<()> {
    if spec.containers.is_empty() {
        return Ok(());
    }
    let mut entries = Vec::new();
    for c in &spec.containers {
        let path = image_path(ctx, spec, &c.image, parts.busybox)?;
        let (image, conv) = crate::oci::unpack(ctx, &c.platform, &path).with_context(|| format!("container {}", c.name))?;
        let entry = kiln_image::containers::add_bundle(root, c, image.config(), conv.tree).with_context(|| format!("container {} of image {}", c.name, spec.name))?;
        entries.push(entry);
    }
    let network = entries.iter().any(|e| e.network);
    kiln_image::containers::add_shared(root, entries)?;
    root.file(kiln_image::CTR_BINARY, 0o755, Data::Path(parts.ctr.context("kiln-ctr was not built")?.to_owned()))?;
    if network {
        container_os()?.insert_into(root)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtree_takes_one_directory_and_reaims_its_hard_links() {
        let mut t = Tree::new();
        t.file("containers/a/rootfs/bin/x", 0o755, Data::Bytes(b"x".to_vec())).unwrap();
        t.insert(kiln_initramfs::Entry::new("containers/a/rootfs/bin/y", 0o755, Kind::HardLink("containers/a/rootfs/bin/x".into()))).unwrap();
        t.file("containers/a/config.json", 0o644, Data::Bytes(b"{}".to_vec())).unwrap();
        t.file("containers/ab/config.json", 0o644, Data::Bytes(b"{}".to_vec())).unwrap();
        let s = subtree(t, "/containers/a");
        let paths: Vec<&str> = s.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["config.json", "rootfs", "rootfs/bin", "rootfs/bin/x", "rootfs/bin/y"]);
        assert_eq!(s.get("rootfs/bin/y").unwrap().kind, Kind::HardLink("rootfs/bin/x".into()));
    }
}
