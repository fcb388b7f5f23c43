//! The reference ISO: the same kernel and BusyBox Kiln just built, put together the way
//! the seeds do it, so that every figure of `cargo xtask bench` is a ratio measured in
//! one run on one machine.
//!
//! The recipe is minlin's (seed 000, github.com/jjolly/minlin, `Dockerfile`, `files/init`,
//! `grub.cfg`; seed 001 does the same with gzip and syslinux):
//! - BusyBox installed as `make install` does (the binary in `bin/`, a relative symlink
//!   per applet), `dev proc sys` made, `chmod u+s bin/busybox`;
//! - a shell-script `/init` that mounts devtmpfs, proc and sysfs and execs `/bin/sh`;
//! - `find . -print0 | cpio --null -ov --format=newc | xz -9 --check=crc32`. Seed 001
//!   pipes into `gzip -9`, but Kiln's kernel has `CONFIG_RD_GZIP` off (only xz), so with
//!   the same kernel the reference takes seed 000's compressor;
//! - minlin's `grub.cfg` (both entries, `timeout=10`), and `grub-mkrescue -o ISO DIR`
//!   with its defaults.
//!
//! One change to the seed: minlin's default entry (0) has no `console=ttyS0`, so under the
//! seed's own `qemu-system-x86_64 -cdrom minlin.iso -nographic` the shell is on the VGA
//! console, out of reach; the default here is its second entry, "minlin qemu", the one
//! the seed's QEMU command needs.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Printed by the reference `/init` just before it execs the shell.
pub const WELCOME: &str = "Welcome to the minlin reference";

/// minlin's `files/init`, the welcome text aside.
fn init_script() -> String {
    format!(
        "#!/bin/sh\n\
         mount -t devtmpfs none /dev\n\
         mount -t proc     none /proc\n\
         mount -t sysfs    none /sys\n\
         echo \"{WELCOME}\"\n\
         exec /bin/sh\n"
    )
}

/// minlin's `grub.cfg`, with the QEMU entry as the default (see the module's comment).
pub const GRUB_CFG: &str = "set default=1
set timeout=10

menuentry 'minlin' --class os {
    insmod xzio
    insmod part_msdos
    linux /boot/bzImage
    initrd /boot/initramfs.cpio.xz
}

menuentry 'minlin qemu' --class os {
    insmod xzio
    insmod part_msdos
    linux /boot/bzImage console=ttyS0
    initrd /boot/initramfs.cpio.xz
}
";

pub const RECIPE: &str = "seed 000 (minlin): the same bzImage and BusyBox, `make install` layout, shell-script /init, \
     `cpio --format=newc | xz -9 --check=crc32`, minlin's grub.cfg (timeout 10), `grub-mkrescue` defaults";

pub struct Reference {
    pub iso: PathBuf,
    pub initramfs: PathBuf,
    /// cpio + xz + grub-mkrescue: what the recipe redoes on any change to its `/init`.
    pub package_seconds: f64,
}

/// The symlink `make install` makes for an applet at `path` (`bin/sh` → `busybox`,
/// `usr/bin/wc` → `../../bin/busybox`).
fn applet_link(path: &str) -> Option<String> {
    let depth = path.matches('/').count();
    match depth {
        0 => None,
        1 if path.starts_with("bin/") => Some("busybox".into()),
        _ => Some(format!("{}bin/busybox", "../".repeat(depth))),
    }
}

/// Builds the reference under `dir` (`dir/rootfs`, `dir/iso`, `dir/initramfs.cpio.xz`,
/// `dir/reference.iso`) from `kernel` and `busybox`.
pub fn build(kernel: &Path, busybox: &Path, dir: &Path) -> Result<Reference> {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let rootfs = dir.join("rootfs");
    let tree = dir.join("iso");
    for d in [&rootfs, &tree] {
        if d.exists() {
            std::fs::remove_dir_all(d).with_context(|| format!("removing {}", d.display()))?;
        }
    }
    let mkdir = |d: &Path| std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()));
    mkdir(&rootfs.join("bin"))?;
    mkdir(&tree.join("boot/grub"))?;
    let bb = rootfs.join("bin/busybox");
    std::fs::copy(busybox, &bb).with_context(|| format!("copying {}", busybox.display()))?;
    std::fs::set_permissions(&bb, std::fs::Permissions::from_mode(0o4755))?;
    for applet in kiln_build::busybox::applets(busybox)? {
        let Some(target) = applet_link(&applet) else { continue };
        let link = rootfs.join(&applet);
        if let Some(parent) = link.parent() {
            mkdir(parent)?;
        }
        if link.symlink_metadata().is_err() {
            symlink(&target, &link).with_context(|| format!("linking {}", link.display()))?;
        }
    }
    for d in ["dev", "proc", "sys"] {
        mkdir(&rootfs.join(d))?;
    }
    let init = rootfs.join("init");
    std::fs::write(&init, init_script()).with_context(|| format!("writing {}", init.display()))?;
    std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755))?;
    std::fs::write(tree.join("boot/grub/grub.cfg"), GRUB_CFG)?;
    std::fs::copy(kernel, tree.join("boot/bzImage")).with_context(|| format!("copying {}", kernel.display()))?;

    let started = Instant::now();
    let initramfs = dir.join("initramfs.cpio.xz");
    duct::cmd!("find", ".", "-print0")
        .pipe(duct::cmd!("cpio", "--null", "-o", "--format=newc").stderr_null())
        .pipe(duct::cmd!("xz", "-9", "--check=crc32"))
        .dir(&rootfs)
        .stdout_path(&initramfs)
        .run()
        .context("find | cpio | xz for the reference initramfs")?;
    std::fs::copy(&initramfs, tree.join("boot/initramfs.cpio.xz"))?;
    let iso = dir.join("reference.iso");
    let out = duct::cmd!("grub-mkrescue", "-o", &iso, &tree)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .context("running grub-mkrescue (cargo xtask deps installs it)")?;
    if !out.status.success() {
        bail!("grub-mkrescue failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    let package_seconds = started.elapsed().as_secs_f64();
    Ok(Reference { iso, initramfs, package_seconds })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applets_link_as_make_install_does() {
        assert_eq!(applet_link("bin/sh").as_deref(), Some("busybox"));
        assert_eq!(applet_link("sbin/mdev").as_deref(), Some("../bin/busybox"));
        assert_eq!(applet_link("usr/bin/wc").as_deref(), Some("../../bin/busybox"));
        assert_eq!(applet_link("linuxrc"), None);
    }

    #[test]
    fn the_seed_init_and_menu() {
        let init = init_script();
        assert!(init.starts_with("#!/bin/sh\nmount -t devtmpfs none /dev\n"), "{init}");
        assert!(init.ends_with(&format!("echo \"{WELCOME}\"\nexec /bin/sh\n")));
        assert!(GRUB_CFG.contains("set timeout=10\n"));
        // The default (1) is the entry with the serial console.
        let second = GRUB_CFG.split("menuentry").nth(2).unwrap();
        assert!(GRUB_CFG.starts_with("set default=1\n") && second.contains("console=ttyS0"));
    }
}
