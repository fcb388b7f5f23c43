//! The reference for an OCI image as the root: seed 001's recipe ("bootable ISO from a
//! Docker image"): the image's filesystem unpacked layer over layer (the seed untars each
//! `layer.tar` of a `docker save`; here `umoci raw unpack`, which applies the same layers
//! and their whiteouts, from the OCI layout Kiln boots), `proc` and `sys` made, the seed's
//! shell-script `/init`, `find . -print0 | cpio --null -o --format=newc`, and a boot loader.
//!
//! Deviations, each for the same reason as seed 000's reference ([`super::reference`]):
//! xz instead of `gzip -9` (Kiln's kernel unpacks only xz), and GRUB through
//! `grub-mkrescue` with minlin's menu (timeout 10) instead of the seed's syslinux on a disk
//! image (an ISO is what is compared, in all four cells).

use super::reference::{self, Reference};
use anyhow::{Context, Result};
use std::path::Path;

/// The second line of the seed's welcome, printed just before `exec /bin/sh`.
pub const WELCOME: &str = "Welcome to your docker image based Linux.";

pub const RECIPE: &str = "seed 001: the same OCI image unpacked layer over layer (`umoci raw unpack`), proc and sys made, \
     the seed's shell-script /init, `cpio --format=newc | xz -9 --check=crc32`, minlin's grub.cfg (timeout 10), `grub-mkrescue` defaults";

/// The seed's `init`, as printed in it (its typographic quotes straightened).
pub fn init_script() -> String {
    format!(
        "#!/bin/sh\n\
         mount -t proc none /proc\n\
         mount -t sysfs none /sys\n\
         cat <<!\n\
         Boot took $(cut -d' ' -f1 /proc/uptime) seconds\n\
         {WELCOME}\n\
         !\n\
         exec /bin/sh\n"
    )
}

/// Builds the reference under `dir` from `kernel` and the image `tag` of the OCI layout
/// `layout`.
pub fn build(kernel: &Path, layout: &Path, tag: &str, dir: &Path) -> Result<Reference> {
    let rootfs = dir.join("rootfs");
    if rootfs.exists() {
        std::fs::remove_dir_all(&rootfs).with_context(|| format!("removing {}", rootfs.display()))?;
    }
    reference::mkdir(dir)?;
    let image = format!("{}:{tag}", layout.display());
    reference::run_captured(duct::cmd!("umoci", "raw", "unpack", "--image", &image, &rootfs), &format!("umoci raw unpack --image {image}"))?;
    for d in ["proc", "sys"] {
        reference::mkdir(&rootfs.join(d))?;
    }
    reference::write_exec(&rootfs.join("init"), &init_script())?;
    reference::pack(&rootfs, kernel, reference::GRUB_CFG, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_init() {
        let init = init_script();
        assert!(init.starts_with("#!/bin/sh\nmount -t proc none /proc\nmount -t sysfs none /sys\n"), "{init}");
        assert!(init.contains(&format!("\n{WELCOME}\n!\nexec /bin/sh\n")), "{init}");
        assert!(init.contains("cut -d' ' -f1 /proc/uptime"));
    }
}
