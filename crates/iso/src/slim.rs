//! The slim layout: one small hybrid ISO that boots with BIOS and UEFI, from CD and from a
//! disk (the ISO written to a USB stick), with the GRUB menu of `boot/grub.cfg`.
//!
//! - BIOS: a `grub-mkimage -O i386-pc-eltorito` core image (lzma-compressed, every module
//!   it needs built in) as an El Torito no-emulation boot image; for disks, GRUB's
//!   `boot_hybrid.img` MBR, patched by xorriso (`--grub2-boot-info`) to load that image.
//! - UEFI: `EFI/BOOT/BOOTX64.EFI` from `grub-mkimage -O x86_64-efi` in a FAT image
//!   appended as GPT partition 2 (type EF00), also the El Torito UEFI boot image. The EFI
//!   core holds only what it needs to find the ISO and unpack modules (iso9660,
//!   search_fs_uuid, xzio); the menu's modules are xz-compressed files in
//!   `/boot/grub/x86_64-efi/`, a third of their size in the core (PE images are not
//!   compressed).
//! - Both cores embed a config that finds the ISO by its volume UUID (a date fixed by
//!   the build's epoch, see [`grub_uuid`]) and sets `$prefix`; `normal` then reads the
//!   rendered menu from `/boot/grub/grub.cfg`. In both, `net` is a stub (see `grubmod`).
//! - Kernel and initramfs once, at `/images/pxeboot/`; no padding (`-no-pad`).
//!
//! The menu may use commands from [`MENU_MODULES`] only: no command list is shipped.

use crate::efi;
use crate::grubmod::{self, Platform, GRUB_LIB};
use crate::{set_mtimes, xorriso_dates, xorriso_maps, IsoInputs};
use anyhow::{Context, Result};
use kiln_util::run_logged;
use std::path::{Path, PathBuf};

/// The modules `boot/grub.cfg` may use, besides GRUB's kernel commands (`set`, `insmod`):
/// the menu (`normal`), `linux`/`initrd`, `serial`, `terminal_input`/`terminal_output`.
pub const MENU_MODULES: &[&str] = &["normal", "linux", "serial", "terminal"];

/// Built into the BIOS core besides the menu's: the disk driver, the file system, the
/// search for the ISO.
const BIOS_CORE: &[&str] = &["biosdisk", "iso9660", "search_fs_uuid"];

/// Built into the EFI core: the file system, the search and the xz reader for the rest.
const EFI_CORE: &[&str] = &["iso9660", "search_fs_uuid", "xzio"];

/// Where the BIOS core image sits in the ISO (the El Torito boot image).
pub const BIOS_IMAGE: &str = "boot/grub/bios.img";

/// GRUB's ISO 9660 UUID for an image made with `-volume_date uuid` at `epoch`:
/// `YYYY-MM-DD-hh-mm-ss-00`; and xorriso's form of the same date, `YYYYMMDDhhmmss00`.
pub fn grub_uuid(epoch: u64) -> (String, String) {
    let digits: String = kiln_util::utc_date(epoch).chars().filter(|c| c.is_ascii_digit()).collect();
    let d = |r: std::ops::Range<usize>| digits[r].to_string();
    let uuid = [d(0..4), d(4..6), d(6..8), d(8..10), d(10..12), d(12..14), "00".into()].join("-");
    (uuid, digits + "00")
}

/// The config built into both cores: find this ISO, point `$prefix` at its GRUB files
/// (after which GRUB starts `normal`, which reads `$prefix/grub.cfg`), and load what
/// the menu needs but the core lacks.
pub fn embedded_cfg(uuid: &str, insmod: &[&str]) -> String {
    let mut cfg = format!("search.fs_uuid {uuid} root\nset prefix=($root)/boot/grub\n");
    for m in insmod {
        cfg += &format!("insmod {m}\n");
    }
    cfg
}

/// Makes `iso` from the staged tree `root`, with scratch files in `work`.
pub fn build(inputs: &IsoInputs, work: &Path, root: &Path, iso: &Path) -> Result<()> {
    let grub = root.join("boot/grub");
    let (uuid, _) = grub_uuid(inputs.epoch);
    let log = inputs.log_dir;

    // BIOS: everything in the (compressed) core.
    let bios_mods: Vec<&str> = BIOS_CORE.iter().chain(MENU_MODULES).copied().collect();
    let (bios_dir, _, _) = grubmod::module_dir(Platform::I386Pc, &work.join("grub"), &bios_mods, true)?;
    let bios_cfg = work.join("bios.cfg");
    std::fs::write(&bios_cfg, embedded_cfg(&uuid, &[]))?;
    let cmd = duct::cmd("grub-mkimage", mkimage_args(&bios_dir, "i386-pc-eltorito", &bios_cfg, &root.join(BIOS_IMAGE), &bios_mods));
    run_logged("iso grub-mkimage bios", cmd, log)?;

    // UEFI: a small core; the menu's modules, xz-compressed, on the ISO.
    let efi_all: Vec<&str> = EFI_CORE.iter().chain(MENU_MODULES).copied().collect();
    let (efi_dir, deps, _) = grubmod::module_dir(Platform::X86_64Efi, &work.join("grub"), &efi_all, true)?;
    let efi_cfg = work.join("efi.cfg");
    let insmod: Vec<&str> = MENU_MODULES.iter().filter(|m| **m != "normal").copied().collect();
    std::fs::write(&efi_cfg, embedded_cfg(&uuid, &insmod))?;
    let efi_bin = work.join("bootx64.efi");
    run_logged("iso grub-mkimage efi", duct::cmd("grub-mkimage", mkimage_args(&efi_dir, "x86_64-efi", &efi_cfg, &efi_bin, EFI_CORE)), log)?;
    let core = deps.closure(EFI_CORE);
    let on_disk: Vec<String> = deps.closure(&efi_all).into_iter().filter(|m| !core.contains(m)).collect();
    let mod_dir = grub.join(Platform::X86_64Efi.name());
    std::fs::create_dir_all(&mod_dir)?;
    let mut files = Vec::new();
    for m in &on_disk {
        let dest = mod_dir.join(format!("{m}.mod"));
        std::fs::copy(efi_dir.join(format!("{m}.mod")), &dest).with_context(|| format!("copying GRUB module {m}"))?;
        files.push(dest);
    }
    xz_in_place(&files, log)?;

    set_mtimes(root, inputs.epoch)?;
    set_mtimes(&efi_bin, inputs.epoch)?;
    let efi_img = work.join("efi.img");
    efi::fat_image(&efi_bin, &efi_img, inputs.epoch, log)?;

    let mbr = Path::new(GRUB_LIB).join("i386-pc/boot_hybrid.img");
    let mut args: Vec<std::ffi::OsString> = vec!["-as".into(), "mkisofs".into(), "-o".into(), iso.into()];
    args.extend(["-V", inputs.label, "-r"].map(Into::into));
    // BIOS: El Torito image 1, and the MBR that loads it from a disk.
    args.extend(["-b", BIOS_IMAGE, "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table", "--grub2-boot-info"].map(Into::into));
    args.extend(["--grub2-mbr".into(), mbr.into()]);
    // The protective MBR partition marked active, as in Ubuntu's ISOs: some BIOSes boot
    // a USB stick only if a partition is.
    args.push("--mbr-force-bootable".into());
    // UEFI: the FAT image as GPT partition 2, and El Torito image 2 pointing at it.
    args.extend(["-append_partition".into(), "2".into(), "0xef".into(), efi_img.into(), "-appended_part_as_gpt".into()]);
    args.extend(["-eltorito-alt-boot", "-e", "--interval:appended_partition_2:all::", "-no-emul-boot", "-no-pad"].map(Into::into));
    args.push(root.into());
    // Native commands: every date from the epoch (the volume's is GRUB's UUID).
    args.push("--".into());
    args.extend(xorriso_maps(inputs.extra));
    args.extend(xorriso_dates(inputs.epoch).into_iter().map(Into::into));
    let cmd = duct::cmd("xorriso", args).env("SOURCE_DATE_EPOCH", inputs.epoch.to_string());
    run_logged("iso xorriso", cmd, log)
}

fn mkimage_args(dir: &Path, format: &str, cfg: &Path, out: &Path, modules: &[&str]) -> Vec<std::ffi::OsString> {
    let mut a: Vec<std::ffi::OsString> = vec!["-d".into(), dir.into(), "-O".into(), format.into(), "-p".into(), "/boot/grub".into()];
    a.extend(["-c".into(), cfg.into(), "-o".into(), out.into()]);
    a.extend(modules.iter().map(Into::into));
    a
}

/// Compresses each file in place the way GRUB's xz reader takes it (grub-mkrescue's
/// `--compress=xz` settings: a 128 KiB dictionary, no integrity check).
fn xz_in_place(files: &[PathBuf], log: &Path) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let script = r#"for f; do xz -T1 --format=xz --lzma2=preset=9e,dict=128KiB --check=none -c "$f" > "$f.xz"; mv "$f.xz" "$f"; done"#;
    let mut args: Vec<std::ffi::OsString> = vec!["-ec".into(), script.into(), "sh".into()];
    args.extend(files.iter().map(Into::into));
    run_logged("iso xz grub modules", duct::cmd("sh", args), log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_the_volume_date() {
        assert_eq!(grub_uuid(1_735_689_600 + 3661), ("2025-01-01-01-01-01-00".into(), "2025010101010100".into()));
    }

    #[test]
    fn embedded_config_finds_the_iso_then_loads_modules() {
        let cfg = embedded_cfg("2025-01-01-00-00-00-00", &["linux"]);
        assert_eq!(cfg, "search.fs_uuid 2025-01-01-00-00-00-00 root\nset prefix=($root)/boot/grub\ninsmod linux\n");
    }
}
