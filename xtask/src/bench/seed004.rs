//! The container reference ISO: the same bzImage (the container profile's) and BusyBox
//! Kiln builds, put together the way seed 004 ("Minimal Container Based OS", NITK 2025,
//! `/work/shared/seeds/004-minimal-container-based-os-report.txt`, sections 4-7) does it:
//! - a shell-script `/init` that mounts proc, sysfs and devtmpfs, prints
//!   "[*] Starting container..." and execs `runc run mycontainer`;
//! - runc at `/usr/bin/runc`, with `containers/mycontainer/config.json` made by
//!   `runc spec` in that directory and edited to `process.args = ["/bin/sh"]` (the seed
//!   uses `jq`, here serde_json), its `rootfs` a copy of BusyBox;
//! - the seed's root directories (`proc sys dev etc run containers tmp`);
//! - `find . | cpio -H newc -o | gzip` and `grub-mkrescue` with a grub.cfg of
//!   `set timeout=5`, `set default=0` and one menuentry (`linux`, `initrd`).
//!
//! Changes to the seed, each needed for the same kernel or for the OS to work at all:
//! - **xz, not gzip**: Kiln's kernel has only `CONFIG_RD_XZ`, so the initramfs is packed
//!   by [`reference::pack`] (`cpio --format=newc | xz -9 --check=crc32`, as seed 000),
//!   which puts the kernel at `/boot/bzImage` and the initramfs at
//!   `/boot/initramfs.cpio.xz`; the grub.cfg names those paths instead of the seed's
//!   `/vmlinuz` and `/initrd.img`.
//! - **`console=ttyS0`** on the kernel line: the serial console is what is measured
//!   (the seed's QEMU command shows VGA).
//! - **runc is Debian's** (1.1.5, dynamically linked) rather than the seed's static
//!   release download (no network here): it is copied with the libraries `ldd` names,
//!   at the paths `ldd` gives.
//! - runc at the seed's `/usr/bin/runc` (Debian has it in `/usr/sbin`).
//!
//! Booted under QEMU, the seed's init fails three ways (each measured by leaving the
//! one change out), so the init here has three more changes:
//! - **`cd /containers/mycontainer`** before `runc run`: runc's bundle is the current
//!   directory and PID 1 starts in `/` ("JSON specification file config.json not
//!   found").
//! - **`--no-pivot`**: the initramfs is the initial rootfs, which cannot be
//!   `pivot_root`ed away from ("error jailing process inside rootfs: pivot_root .:
//!   invalid argument"); runc then moves the container's root over `/` and chroots.
//! - **cgroup2 mounted at `/sys/fs/cgroup`**: runc 1.1 puts the container in a cgroup
//!   and the seed's init mounts none ("no cgroup mount found in mountinfo"). v2, the
//!   hierarchy the seed's kernel notes ask for.
//!
//! `terminal: true` (runc spec's default) is kept, it works from PID 1: runc makes a pty
//! for the container (its shell's `tty` is `/dev/pts/0`) and relays it to its own stdio,
//! PID 1's `/dev/console` (ttyS0), which it finds to be a terminal and puts in raw mode.

use super::reference::{busybox_install, fresh_dir, mkdir, pack, write_exec, Reference};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Printed by the init just before exec runc (the seed's own line).
pub const STARTING: &str = "[*] Starting container...";

pub const RECIPE: &str = "seed 004: the container bzImage and BusyBox, shell-script /init (proc, sysfs, devtmpfs, \
     + cgroup2) exec'ing Debian's runc 1.1.5 (+ its ldd libraries) `run --no-pivot` on a `runc spec` bundle \
     (args /bin/sh, BusyBox rootfs), `cpio --format=newc | xz -9 --check=crc32` (not gzip: kernel has RD_XZ only), \
     grub-mkrescue, the seed's grub.cfg (timeout 5) + console=ttyS0";

/// The seed's grub.cfg, with Kiln's paths and the serial console (see the module's comment).
pub const GRUB_CFG: &str = "set timeout=5
set default=0

menuentry \"Minimal Container OS\" {
    linux /boot/bzImage console=ttyS0
    initrd /boot/initramfs.cpio.xz
}
";

/// Where the seed keeps its one container (a runc bundle), relative to `/`.
const BUNDLE: &str = "containers/mycontainer";
/// Where the seed installs runc.
const RUNC: &str = "usr/bin/runc";

/// The seed's `/init`, with the changes of the module's comment.
fn init_script() -> String {
    format!(
        "#!/bin/sh\n\
         mount -t proc none /proc\n\
         mount -t sysfs none /sys\n\
         mount -t devtmpfs none /dev\n\
         mount -t cgroup2 none /sys/fs/cgroup\n\
         echo \"{STARTING}\"\n\
         cd /{BUNDLE}\n\
         exec /{RUNC} run --no-pivot mycontainer\n"
    )
}

/// The seed's `jq '.process.args = ["/bin/sh"]'` on `runc spec`'s config.json.
fn edit_config(config: &str) -> Result<String> {
    let mut v: serde_json::Value = serde_json::from_str(config).context("parsing runc spec's config.json")?;
    let Some(process) = v.get_mut("process").and_then(|p| p.as_object_mut()) else {
        bail!("config.json has no process object");
    };
    process.insert("args".into(), serde_json::json!(["/bin/sh"]));
    Ok(serde_json::to_string_pretty(&v)? + "\n")
}

/// The files a dynamically linked binary loads, from its `ldd` output: the path after
/// `=>`, or the line's own path (the loader); the vDSO has none. A library `ldd`
/// cannot find is an error.
fn ldd_paths(ldd: &str) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for line in ldd.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let path = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    bail!("ldd: {} not found", name.trim());
                }
                rest.split_whitespace().next().unwrap_or("")
            }
            None => line.split_whitespace().next().unwrap_or(""),
        };
        if path.starts_with('/') {
            paths.push(PathBuf::from(path));
        }
    }
    Ok(paths)
}

/// `ldd binary`, parsed; nothing for a static binary.
fn libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let out = duct::cmd!("ldd", binary)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .with_context(|| format!("running ldd {}", binary.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if stdout.contains("not a dynamic executable") || String::from_utf8_lossy(&out.stderr).contains("not a dynamic executable") {
            return Ok(Vec::new());
        }
        bail!("ldd {} failed ({}): {}", binary.display(), out.status, String::from_utf8_lossy(&out.stderr));
    }
    ldd_paths(&stdout)
}

/// Copies `from` (following symlinks) to `rootfs` + `to`, keeping its mode.
fn install(from: &Path, rootfs: &Path, to: &Path) -> Result<()> {
    let dest = rootfs.join(to.strip_prefix("/").unwrap_or(to));
    if let Some(parent) = dest.parent() {
        mkdir(parent)?;
    }
    std::fs::copy(from, &dest).with_context(|| format!("copying {} to {}", from.display(), dest.display()))?;
    Ok(())
}

/// Builds the seed 004 reference under `dir` (`dir/rootfs`, `dir/iso`,
/// `dir/initramfs.cpio.xz`, `dir/reference.iso`) from `kernel`, `busybox` and `runc`.
pub fn build(kernel: &Path, busybox: &Path, runc: &Path, dir: &Path) -> Result<Reference> {
    let rootfs = fresh_dir(&dir.join("rootfs"))?;
    busybox_install(busybox, &rootfs)?;
    for d in ["proc", "sys", "dev", "etc", "run", "containers", "tmp"] {
        mkdir(&rootfs.join(d))?;
    }
    write_exec(&rootfs.join("init"), &init_script())?;

    install(runc, &rootfs, Path::new(RUNC))?;
    for lib in libraries(runc)? {
        install(&lib, &rootfs, &lib)?;
    }

    let bundle = rootfs.join(BUNDLE);
    mkdir(&bundle)?;
    duct::cmd!(runc, "spec")
        .dir(&bundle)
        .stdout_capture()
        .stderr_capture()
        .run()
        .with_context(|| format!("running {} spec in {}", runc.display(), bundle.display()))?;
    let config = bundle.join("config.json");
    let text = std::fs::read_to_string(&config).with_context(|| format!("reading {}", config.display()))?;
    std::fs::write(&config, edit_config(&text)?).with_context(|| format!("writing {}", config.display()))?;
    busybox_install(busybox, &bundle.join("rootfs"))?;

    pack(&rootfs, kernel, GRUB_CFG, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LDD: &str = "\tlinux-vdso.so.1 (0x00007ffd1b5f2000)
\tlibseccomp.so.2 => /lib/x86_64-linux-gnu/libseccomp.so.2 (0x00007f3ddab5a000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f3dda978000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f3ddab8e000)
";

    #[test]
    fn ldd_output_names_the_libraries_and_the_loader() {
        let paths = ldd_paths(LDD).unwrap();
        let want: Vec<PathBuf> =
            ["/lib/x86_64-linux-gnu/libseccomp.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"]
                .iter()
                .map(PathBuf::from)
                .collect();
        assert_eq!(paths, want);
        assert!(ldd_paths("\tstatically linked\n").unwrap().is_empty());
        let err = ldd_paths("\tlibfoo.so.1 => not found\n").unwrap_err();
        assert!(err.to_string().contains("libfoo.so.1"), "{err}");
    }

    #[test]
    fn config_edit_sets_the_shell_and_keeps_the_rest() {
        let spec = "{\n\t\"ociVersion\": \"1.0.2-dev\",\n\t\"process\": {\"terminal\": true, \"args\": [\"sh\"], \"cwd\": \"/\"},\n\t\"hostname\": \"runc\"\n}";
        let edited: serde_json::Value = serde_json::from_str(&edit_config(spec).unwrap()).unwrap();
        assert_eq!(edited["process"]["args"], serde_json::json!(["/bin/sh"]));
        assert_eq!(edited["process"]["terminal"], serde_json::json!(true));
        assert_eq!(edited["process"]["cwd"], "/");
        assert_eq!(edited["hostname"], "runc");
        assert!(edit_config("{\"ociVersion\": \"1.0.2\"}").is_err());
        assert!(edit_config("not json").is_err());
    }

    #[test]
    fn the_seed_init() {
        let init = init_script();
        assert!(
            init.starts_with("#!/bin/sh\nmount -t proc none /proc\nmount -t sysfs none /sys\nmount -t devtmpfs none /dev\n"),
            "{init}"
        );
        assert!(init.contains("mount -t cgroup2 none /sys/fs/cgroup\n"));
        assert!(
            init.ends_with(&format!(
                "echo \"{STARTING}\"\ncd /containers/mycontainer\nexec /usr/bin/runc run --no-pivot mycontainer\n"
            )),
            "{init}"
        );
    }

    #[test]
    fn the_seed_menu() {
        assert!(GRUB_CFG.starts_with("set timeout=5\nset default=0\n"));
        assert_eq!(GRUB_CFG.matches("menuentry").count(), 1);
        assert!(GRUB_CFG.contains("    linux /boot/bzImage console=ttyS0\n"));
        assert!(GRUB_CFG.contains("    initrd /boot/initramfs.cpio.xz\n"));
    }
}
