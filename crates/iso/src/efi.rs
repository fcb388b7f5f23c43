//! The EFI system partition: a FAT image holding `EFI/BOOT/BOOTX64.EFI`, just big enough,
//! made with mtools (no mounting, no root).

use anyhow::{Context, Result};
use kiln_util::run_logged;
use std::path::Path;

const SECTOR: u64 = 512;

/// The FAT volume serial: fixed, so that builds are reproducible ("KILN").
pub const VOLUME_SERIAL: &str = "4b494c4e";

/// Sectors for a FAT image holding one file of `file_bytes` in a two-level directory:
/// boot sector, two FATs, one root-directory sector, one cluster per directory, the file
/// in 512-byte clusters and a little slack. FAT entries are counted at 2 bytes
/// (FAT16), which also covers FAT12.
pub fn sectors_for(file_bytes: u64) -> u64 {
    let data = file_bytes.div_ceil(SECTOR) + 2 + 2;
    let fat = ((data + 2) * 2).div_ceil(SECTOR);
    1 + 2 * fat + 1 + data
}

/// Writes a FAT image at `out` with `efi` as `EFI/BOOT/BOOTX64.EFI`. Dates come from
/// `epoch` (mtools honours SOURCE_DATE_EPOCH; the file keeps its own mtime, set by the
/// caller), the serial is [`VOLUME_SERIAL`].
pub fn fat_image(efi: &Path, out: &Path, epoch: u64, log_dir: &Path) -> Result<()> {
    let size = std::fs::metadata(efi).with_context(|| format!("reading {}", efi.display()))?.len();
    let sectors = sectors_for(size).to_string();
    let _ = std::fs::remove_file(out);
    let img = out.to_string_lossy().into_owned();
    let script = [
        // -C: create; one head, one "track" of every sector; one sector per cluster; one
        // root-directory sector (16 entries).
        format!("mformat -i \"$1\" -C -T {sectors} -h 1 -s {sectors} -c 1 -r 1 -N {VOLUME_SERIAL} -v KILN-EFI ::"),
        "mmd -i \"$1\" ::/EFI ::/EFI/BOOT".into(),
        "mcopy -m -i \"$1\" \"$2\" ::/EFI/BOOT/BOOTX64.EFI".into(),
    ]
    .join(" && ");
    let cmd = duct::cmd!("sh", "-ec", script, "sh", &img, efi)
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .env("MTOOLS_SKIP_CHECK", "1")
        .env("TZ", "UTC");
    run_logged("iso efi image", cmd, log_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sized_to_the_file() {
        // 168 KiB of GRUB: 336 data sectors + 2 dirs + 2 slack, 2 FAT sectors each.
        assert_eq!(sectors_for(172_032), 1 + 2 * 2 + 1 + 340);
        assert!(sectors_for(4 << 20) * SECTOR < (4 << 20) + 64 * 1024);
    }
}
