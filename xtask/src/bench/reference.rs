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
    let rootfs = fresh_dir(&dir.join("rootfs"))?;
    busybox_install(busybox, &rootfs)?;
    for d in ["dev", "proc", "sys"] {
        mkdir(&rootfs.join(d))?;
    }
    write_exec(&rootfs.join("init"), &init_script())?;
    pack(&rootfs, kernel, GRUB_CFG, dir)
}

/// `dir`, emptied (created if missing).
pub fn fresh_dir(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    mkdir(dir)?;
    Ok(dir.to_owned())
}

pub fn mkdir(d: &Path) -> Result<()> {
    std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))
}

/// Writes an executable file (mode 0755): the recipes' `/init` scripts.
pub fn write_exec(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).with_context(|| format!("chmod {}", path.display()))
}

/// BusyBox in `rootfs` as its `make install` does it: `bin/busybox` (setuid, as minlin
/// makes it) and a relative symlink per applet.
pub fn busybox_install(busybox: &Path, rootfs: &Path) -> Result<()> {
    use std::os::unix::fs::{symlink, PermissionsExt};
    mkdir(&rootfs.join("bin"))?;
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
    Ok(())
}

/// The recipes' packaging, timed: `rootfs` as `find . -print0 | cpio --null -o
/// --format=newc | xz -9 --check=crc32` (`dir/initramfs.cpio.xz`), `kernel` as
/// `/boot/bzImage` and `grub_cfg` in the ISO tree `dir/iso`, `grub-mkrescue -o
/// dir/reference.iso` with its defaults.
pub fn pack(rootfs: &Path, kernel: &Path, grub_cfg: &str, dir: &Path) -> Result<Reference> {
    let tree = fresh_dir(&dir.join("iso"))?;
    mkdir(&tree.join("boot/grub"))?;
    std::fs::write(tree.join("boot/grub/grub.cfg"), grub_cfg)?;
    std::fs::copy(kernel, tree.join("boot/bzImage")).with_context(|| format!("copying {}", kernel.display()))?;

    let started = Instant::now();
    let initramfs = dir.join("initramfs.cpio.xz");
    duct::cmd!("find", ".", "-print0")
        .pipe(duct::cmd!("cpio", "--null", "-o", "--format=newc").stderr_null())
        .pipe(duct::cmd!("xz", "-9", "--check=crc32"))
        .dir(rootfs)
        .stdout_path(&initramfs)
        .run()
        .with_context(|| format!("find | cpio | xz for {}", initramfs.display()))?;
    std::fs::copy(&initramfs, tree.join("boot/initramfs.cpio.xz"))?;
    let iso = dir.join("reference.iso");
    run_captured(duct::cmd!("grub-mkrescue", "-o", &iso, &tree), "grub-mkrescue")?;
    let package_seconds = started.elapsed().as_secs_f64();
    Ok(Reference { iso, initramfs, package_seconds })
}

/// Runs `cmd` (a host tool `what`, which `cargo xtask deps` installs) with its output
/// captured; a failure to start or a non-zero exit is an error with its stderr.
pub fn run_captured(cmd: duct::Expression, what: &str) -> Result<std::process::Output> {
    let out = cmd
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .with_context(|| format!("running {what} (cargo xtask deps installs it)"))?;
    if !out.status.success() {
        bail!("{what} failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(out)
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
