//! Where an ISO's bytes go, read back with xorriso's reports.

use crate::{INITRD_PATH, KERNEL_PATH, SQUASHFS_PATH};
use anyhow::{ensure, Context, Result};
use std::path::Path;

const BLOCK: u64 = 2048;

/// An ISO's bytes by purpose. `kernel` and `initrd` are file sizes; the boot images and
/// GRUB files count the 2 KiB blocks they take; `padding` is the unused end of the
/// kernel's and initramfs's last blocks; `metadata` is the rest: system area (MBR,
/// GPT), ISO 9660 descriptors and directories, the backup GPT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SizeReport {
    pub total: u64,
    pub kernel: u64,
    pub initrd: u64,
    /// A live image's root (`LiveOS/squashfs.img`); 0 for other images.
    pub squashfs: u64,
    /// The BIOS El Torito boot image (the GRUB core).
    pub bios_core: u64,
    /// The UEFI El Torito boot image (the FAT image with `BOOTX64.EFI`).
    pub efi_image: u64,
    /// Every other file: the GRUB menu, modules, fonts.
    pub grub_files: u64,
    /// The unused ends of the payload files' last 2 KiB blocks.
    pub padding: u64,
    pub metadata: u64,
}

impl SizeReport {
    /// What booting costs over the payload: everything but kernel, initramfs and a
    /// live root.
    pub fn overhead(&self) -> u64 {
        self.total.saturating_sub(self.kernel + self.initrd + self.squashfs)
    }

    /// The parts, named, in the order a table shows them; they add up to `total`.
    pub fn rows(&self) -> [(&'static str, u64); 8] {
        [
            ("kernel", self.kernel),
            ("initramfs", self.initrd),
            ("squashfs root", self.squashfs),
            ("BIOS core image", self.bios_core),
            ("EFI image", self.efi_image),
            ("GRUB files", self.grub_files),
            ("ISO metadata", self.metadata),
            ("padding", self.padding),
        ]
    }
}

impl std::fmt::Display for SizeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        for (name, n) in self.rows() {
            writeln!(f, "{name:<22} {n:>10}  {:>8.1} KiB", n as f64 / 1024.0)?;
        }
        writeln!(f, "{:<22} {:>10}  {:>8.1} KiB", "total", self.total, self.total as f64 / 1024.0)?;
        write!(f, "{:<22} {:>10}  {:>8.3} MiB", "boot overhead", self.overhead(), self.overhead() as f64 / 1048576.0)
    }
}

/// Reads `iso` with `xorriso -report_el_torito`, `-report_system_area` and
/// `-find / -exec report_lba`.
pub fn size_report(iso: &Path) -> Result<SizeReport> {
    let total = std::fs::metadata(iso).with_context(|| format!("reading {}", iso.display()))?.len();
    let text = duct::cmd!("xorriso", "-indev", iso, "-report_el_torito", "plain", "-report_system_area", "plain", "-find", "/", "-exec", "report_lba", "--")
        .stderr_null()
        .read()
        .with_context(|| format!("running xorriso on {}", iso.display()))?;
    parse_reports(&text, total)
}

/// The boot images: (platform, first block, bytes).
fn boot_images(text: &str) -> Vec<(String, u64, u64)> {
    let mut images = Vec::new();
    let mut blocks = std::collections::BTreeMap::new();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        match key.trim() {
            // N Pltf B Emul Ld_seg Hdpt Ldsiz LBA
            "El Torito boot img" if f.len() >= 8 => {
                let n = |i: usize| f[i].parse::<u64>().unwrap_or(0);
                images.push((f[0].to_string(), f[1].to_string(), n(7), n(6) * 512));
            }
            "El Torito img blks" if f.len() >= 2 => {
                blocks.insert(f[0].to_string(), f[1].parse::<u64>().unwrap_or(0) * BLOCK);
            }
            _ => {}
        }
    }
    images.into_iter().map(|(n, p, lba, size)| (p, lba, blocks.get(&n).copied().unwrap_or(size))).collect()
}

fn parse_reports(text: &str, total: u64) -> Result<SizeReport> {
    let mut r = SizeReport { total, ..SizeReport::default() };
    // (first block, blocks, bytes, path)
    let mut files = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("File data lba:") else { continue };
        let f: Vec<&str> = rest.splitn(5, ',').map(str::trim).collect();
        ensure!(f.len() == 5, "unexpected xorriso line: {line}");
        let num = |s: &str| s.parse::<u64>().with_context(|| format!("unexpected xorriso line: {line}"));
        files.push((num(f[1])?, num(f[2])?, num(f[3])?, f[4].trim_matches('\'').trim_start_matches('/').to_string()));
    }
    ensure!(!files.is_empty(), "xorriso listed no files");
    let images = boot_images(text);
    for (platform, lba, bytes) in &images {
        // A boot image that is also a file (BIOS) takes the file's blocks; El Torito's
        // load size is only what the firmware reads first.
        let bytes = files.iter().find(|f| f.0 == *lba).map_or(*bytes, |f| f.1 * BLOCK);
        if platform == "BIOS" { r.bios_core += bytes } else { r.efi_image += bytes }
    }
    for (lba, blocks, size, path) in &files {
        let payload = match path.as_str() {
            KERNEL_PATH => Some(&mut r.kernel),
            INITRD_PATH => Some(&mut r.initrd),
            SQUASHFS_PATH => Some(&mut r.squashfs),
            _ => None,
        };
        if let Some(field) = payload {
            *field += size;
            r.padding += (blocks * BLOCK).saturating_sub(*size);
        } else if !images.iter().any(|(_, l, _)| l == lba) {
            r.grub_files += blocks * BLOCK;
        }
    }
    let counted = r.kernel + r.initrd + r.squashfs + r.bios_core + r.efi_image + r.grub_files + r.padding;
    r.metadata = total.saturating_sub(counted);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
El Torito images   :   N  Pltf  B   Emul  Ld_seg  Hdpt  Ldsiz         LBA
El Torito boot img :   1  BIOS  y   none  0x0000  0x00      4          34
El Torito boot img :   2  UEFI  y   none  0x0000  0x00    344        1314
El Torito img path :   1  /boot/grub/bios.img
El Torito img blks :   2  86
Report layout: xt , Startlba ,   Blocks , Filesize , ISO image path
File data lba:  0 ,       34 ,       71 ,   144640 , '/boot/grub/bios.img'
File data lba:  0 ,      105 ,        1 ,      393 , '/boot/grub/grub.cfg'
File data lba:  0 ,      174 ,      509 ,  1040716 , '/images/pxeboot/initrd.img'
File data lba:  0 ,      683 ,      631 ,  1291264 , '/images/pxeboot/vmlinuz'
";

    #[test]
    fn parses_xorriso_reports() {
        let r = parse_reports(SAMPLE, 2_899_968).unwrap();
        assert_eq!((r.kernel, r.initrd), (1_291_264, 1_040_716));
        // The BIOS image is a file too; it counts once, as the El Torito image says.
        assert_eq!((r.bios_core, r.efi_image, r.grub_files), (71 * 2048, 86 * 2048, 2048));
        assert_eq!(r.overhead(), 2_899_968 - 1_291_264 - 1_040_716);
        // The unused ends of the initramfs's 509 blocks and the kernel's 631.
        assert_eq!(r.padding, (509 * 2048 - 1_040_716) + (631 * 2048 - 1_291_264));
        assert_eq!(r.total, r.rows().iter().map(|(_, n)| n).sum::<u64>());
    }
}
