//! Bootable ISO images. The layout follows the container-native ISO contract: the kernel
//! at `/images/pxeboot/vmlinuz`, the initramfs at `/images/pxeboot/initrd.img`.
//! [`build_iso`] is the one entry point, whatever layout makes the image.

mod efi;
mod elf;
mod grub;
mod grubmod;
mod mkrescue;
mod pxe;
mod size;
mod slim;

pub use grub::{render_grub_cfg, Entry, Menu};
pub use pxe::{render_ipxe, IPXE_SCRIPT};
pub use size::{size_report, SizeReport};
pub use slim::MENU_MODULES;

use anyhow::{Context, Result};
use std::path::Path;

pub const KERNEL_PATH: &str = "images/pxeboot/vmlinuz";
pub const INITRD_PATH: &str = "images/pxeboot/initrd.img";
/// A live image's root file system (dracut's `rd.live.dir`/`rd.live.squashimg` defaults,
/// and the container-native ISO contract's path).
pub const SQUASHFS_PATH: &str = "LiveOS/squashfs.img";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// GRUB's stock `grub-mkrescue` (BIOS + UEFI, CD + USB; large).
    Mkrescue,
    /// One small hybrid image (BIOS + UEFI, CD + USB) with the same menu: GRUB core
    /// images made with `grub-mkimage`, the EFI one in an appended FAT partition. The
    /// menu may use the commands of [`MENU_MODULES`] only. See `slim.rs`.
    Slim,
}

/// The host tools a layout runs: their versions belong in the ISO's cache key.
pub fn tools(layout: Layout) -> &'static [&'static str] {
    match layout {
        Layout::Mkrescue => &["grub-mkrescue", "xorriso", "mformat"],
        Layout::Slim => &["grub-mkimage", "xorriso", "mformat", "xz"],
    }
}

/// Name, size and mtime of every file of GRUB's platform directories (modules, boot
/// images): what the ISO is made of besides the tools, so a GRUB upgrade rebuilds it.
pub fn grub_fingerprint() -> String {
    use std::os::unix::fs::MetadataExt;
    let mut out = String::new();
    for platform in ["i386-pc", "x86_64-efi"] {
        let dir = Path::new(grubmod::GRUB_LIB).join(platform);
        for e in walkdir::WalkDir::new(&dir).sort_by_file_name().into_iter().flatten() {
            if let Ok(m) = e.metadata() {
                out += &format!("{} {} {}\n", e.path().display(), m.size(), m.mtime());
            }
        }
    }
    out
}

pub struct IsoInputs<'a> {
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    pub menu: &'a Menu,
    /// The template (`boot/grub.cfg`).
    pub grub_template: &'a str,
    pub label: &'a str,
    /// More files: (path in the ISO, source), e.g. the live root at
    /// `LiveOS/squashfs.img`. Mapped into the image by xorriso, not copied.
    pub extra: &'a [(&'a str, &'a Path)],
    /// Fixed timestamp for every date in the image.
    pub epoch: u64,
    pub log_dir: &'a Path,
}

/// Writes the ISO to `out` (atomically: through a temporary name). Both layouts get a
/// fresh work directory whose `iso/` already holds the kernel, the initramfs and the
/// rendered menu at their contract paths; the work directory is removed afterwards, and
/// on failure the temporary ISO too.
pub fn build_iso(layout: Layout, inputs: &IsoInputs, out: &Path) -> Result<()> {
    let tmp = kiln_util::tmp_name(out);
    let work = tmp.with_extension("d");
    let _ = std::fs::remove_dir_all(&work);
    let result = stage(inputs, &work.join("iso")).and_then(|root| match layout {
        Layout::Mkrescue => mkrescue::build(inputs, &work, &root, &tmp),
        Layout::Slim => slim::build(inputs, &work, &root, &tmp),
    });
    let _ = std::fs::remove_dir_all(&work);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, out).with_context(|| format!("renaming {} to {}", tmp.display(), out.display()))
}

/// The ISO's file tree at `root`: kernel and initramfs at the contract paths, the menu
/// at `boot/grub/grub.cfg`.
fn stage(inputs: &IsoInputs, root: &Path) -> Result<std::path::PathBuf> {
    for (dest, src) in [(KERNEL_PATH, inputs.kernel), (INITRD_PATH, inputs.initrd)] {
        let dest = root.join(dest);
        std::fs::create_dir_all(dest.parent().expect("has parent"))?;
        std::fs::copy(src, &dest).with_context(|| format!("copying {} to {}", src.display(), dest.display()))?;
    }
    let cfg = root.join("boot/grub/grub.cfg");
    std::fs::create_dir_all(cfg.parent().expect("has parent"))?;
    std::fs::write(&cfg, render_grub_cfg(inputs.grub_template, inputs.menu)).with_context(|| format!("writing {}", cfg.display()))?;
    Ok(root.to_owned())
}

/// Sets the mtime of `path` and of everything under it to `epoch`: every date in the
/// image comes from the build's epoch.
fn set_mtimes(path: &Path, epoch: u64) -> Result<()> {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    for entry in walkdir::WalkDir::new(path) {
        let entry = entry.with_context(|| format!("walking {}", path.display()))?;
        let f = std::fs::File::options().read(true).open(entry.path())?;
        f.set_modified(t).with_context(|| format!("setting the date of {}", entry.path().display()))?;
    }
    Ok(())
}

/// xorriso's native commands that put the extra files into the image (`-map SOURCE
/// /PATH`): big files (a squashfs root) are read once, where they are. Their owner and
/// mode are set as `-r` sets the staged files' (root, read-only for all), so neither
/// the builder's uid nor its umask reaches the image.
fn xorriso_maps(extra: &[(&str, &Path)]) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    for (dest, src) in extra {
        args.extend(["-map".into(), src.as_os_str().to_owned(), format!("/{dest}").into()]);
        // The file, and the directories `-map` made for it (which get the mode of the
        // file's directory on disk, so the builder's umask).
        let dirs = dest.match_indices('/').map(|(i, _)| (format!("/{}", &dest[..i]), "0555"));
        for (path, mode) in std::iter::once((format!("/{dest}"), "0444")).chain(dirs) {
            for (cmd, value) in [("-chown", "0"), ("-chgrp", "0"), ("-chmod", mode)] {
                args.extend([cmd.into(), value.into(), path.clone().into(), "--".into()]);
            }
        }
    }
    args
}

/// xorriso's native commands that give every date in the image from `epoch`: the volume
/// dates (GRUB's UUID, see [`slim::grub_uuid`]) and every file's, including files
/// grub-mkrescue copies in itself (their mtimes are the time of the build).
fn xorriso_dates(epoch: u64) -> Vec<String> {
    let (_, stamp) = slim::grub_uuid(epoch);
    ["-volume_date", "uuid", &stamp, "-volume_date", "all_file_dates", &stamp].map(String::from).to_vec()
}
