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

use anyhow::Result;
use std::path::Path;

pub const KERNEL_PATH: &str = "images/pxeboot/vmlinuz";
pub const INITRD_PATH: &str = "images/pxeboot/initrd.img";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// GRUB's stock `grub-mkrescue` (BIOS + UEFI, CD + USB; large).
    Mkrescue,
    /// One small hybrid image (BIOS + UEFI, CD + USB) with the same menu: GRUB core
    /// images made with `grub-mkimage`, the EFI one in an appended FAT partition. The
    /// menu may use the commands of [`MENU_MODULES`] only. See `slim.rs`.
    Slim,
}

pub struct IsoInputs<'a> {
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    pub menu: &'a Menu,
    /// The template (`boot/grub.cfg`).
    pub grub_template: &'a str,
    pub label: &'a str,
    /// Fixed timestamp for every date in the image.
    pub epoch: u64,
    pub log_dir: &'a Path,
}

/// Writes the ISO to `out` (atomically: through a temporary name).
pub fn build_iso(layout: Layout, inputs: &IsoInputs, out: &Path) -> Result<()> {
    match layout {
        Layout::Mkrescue => mkrescue::build(inputs, out),
        Layout::Slim => slim::build(inputs, out),
    }
}
