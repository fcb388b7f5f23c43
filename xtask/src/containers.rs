//! The container OS (`[[containers]]` in a spec): each container's image unpacked by
//! kiln-oci into its own read-only root, `/containers/NAME/rootfs`, beside the OCI
//! runtime `config.json` kiln-image generates for it; the manifest kiln-ctr reads; the
//! CNI conflist, plugins and iptables with the shared libraries they need; kiln-ctr.

use crate::artifacts::write_if_changed;
use crate::ctx::Ctx;
use anyhow::{Context, Result};
use kiln_build::busybox;
use kiln_image::ImageSpec;
use kiln_oci::fixtures::{oci_layout_files, tar_bytes, FixtureImage, RawTar};
use std::path::{Path, PathBuf};

/// `kiln:busybox`: Kiln's own BusyBox (the spec's build, with its applet links) as a
/// one-layer image, so a container OS can be built with no registry and no image
/// files. Written as an oci-archive to `out/NAME/images/kiln-busybox.tar` and read back
/// through kiln-oci like any other image; the same BusyBox gives the same bytes.
pub fn builtin_busybox(ctx: &Ctx, spec: &ImageSpec, bb: &Path) -> Result<PathBuf> {
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
    let bytes = tar_bytes(&oci_layout_files(&image, "kiln/busybox:latest"))?;
    let out = ctx.image_dir(&spec.name).join("images/kiln-busybox.tar");
    write_if_changed(&out, &bytes)?;
    Ok(out)
}
