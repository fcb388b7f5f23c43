//! File system labels from the first bytes of a block device: ISO 9660
//! (the primary volume descriptor), ext2/3/4 (the superblock) and FAT (the
//! boot sector). Pure functions on a buffer read from offset 0; a buffer too
//! short for a format (a short read) just does not match it.

use crate::prelude::*;

/// Bytes to read from offset 0 so that every probe can look.
pub const PROBE_BYTES: usize = ISO_PVD + 2048;

/// The first ISO 9660 volume descriptor (sector 16 of 2048 bytes).
const ISO_PVD: usize = 32768;
/// The ext superblock starts at 1024; magic at +56, label at +120.
const EXT_MAGIC: usize = 1080;
const EXT_LABEL: usize = 1144;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    Iso9660,
    Ext,
    Fat,
}

impl FsKind {
    /// The type for mount(2).
    pub fn mount_type(self) -> &'static str {
        match self {
            FsKind::Iso9660 => "iso9660",
            FsKind::Ext => "ext4",
            FsKind::Fat => "vfat",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fs {
    pub kind: FsKind,
    /// `None` if the file system has no label (or a blank one).
    pub label: Option<String>,
}

/// `bytes` as text without padding (trailing spaces and NULs). Bytes that are
/// not UTF-8 are replaced, so such a label matches nothing typed.
fn text(bytes: &[u8]) -> Option<String> {
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != 0)
        .map_or(0, |i| i + 1);
    let s = String::from_utf8_lossy(&bytes[..end]).into_owned();
    (!s.is_empty()).then_some(s)
}

/// ISO 9660: a primary volume descriptor (type 1, `CD001`, version 1) at
/// byte 32768; the volume id is 32 space-padded bytes at 32808.
pub fn iso9660(buf: &[u8]) -> Option<Fs> {
    let vd = buf.get(ISO_PVD..ISO_PVD + 72)?;
    if vd[0] != 1 || &vd[1..6] != b"CD001" || vd[6] != 1 {
        return None;
    }
    Some(Fs {
        kind: FsKind::Iso9660,
        label: text(&vd[40..72]),
    })
}

/// ext2/3/4: magic 0xEF53 (little endian) at 1080, a NUL-padded 16-byte
/// label at 1144.
pub fn ext(buf: &[u8]) -> Option<Fs> {
    if buf.get(EXT_MAGIC..EXT_MAGIC + 2)? != [0x53, 0xEF] {
        return None;
    }
    Some(Fs {
        kind: FsKind::Ext,
        label: text(buf.get(EXT_LABEL..EXT_LABEL + 16)?),
    })
}

/// FAT12/16/32: the boot sector's signature 0x55AA, the type string, and the
/// label of the extended boot record (signature 0x29). `NO NAME` is no label.
pub fn fat(buf: &[u8]) -> Option<Fs> {
    let bs = buf.get(..512)?;
    if bs[510..512] != [0x55, 0xAA] {
        return None;
    }
    // (offset of the extended boot signature, of the label, of the type)
    let (sig, label) = if &bs[82..87] == b"FAT32" {
        (66, 71)
    } else if &bs[54..57] == b"FAT" {
        (38, 43)
    } else {
        return None;
    };
    let label = match bs[sig] {
        0x29 => text(&bs[label..label + 11]).filter(|l| l != "NO NAME"),
        _ => None,
    };
    Some(Fs {
        kind: FsKind::Fat,
        label,
    })
}

/// The file system in `buf` (the device's first bytes), ISO 9660 first: a
/// hybrid ISO also carries an MBR.
pub fn probe(buf: &[u8]) -> Option<Fs> {
    iso9660(buf).or_else(|| ext(buf)).or_else(|| fat(buf))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn iso_image(label: &str) -> Vec<u8> {
        let mut b = vec![0u8; PROBE_BYTES];
        b[ISO_PVD] = 1;
        b[ISO_PVD + 1..ISO_PVD + 6].copy_from_slice(b"CD001");
        b[ISO_PVD + 6] = 1;
        let id = &mut b[ISO_PVD + 40..ISO_PVD + 72];
        id.fill(b' ');
        id[..label.len()].copy_from_slice(label.as_bytes());
        b
    }

    pub fn ext_image(label: &str) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        b[EXT_MAGIC..EXT_MAGIC + 2].copy_from_slice(&0xEF53u16.to_le_bytes());
        b[EXT_LABEL..EXT_LABEL + label.len()].copy_from_slice(label.as_bytes());
        b
    }

    fn fat_image(fat32: bool, label: &[u8; 11]) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[510] = 0x55;
        b[511] = 0xAA;
        let (sig, lab, ty, name): (usize, usize, usize, &[u8]) = if fat32 {
            (66, 71, 82, b"FAT32   ")
        } else {
            (38, 43, 54, b"FAT16   ")
        };
        b[sig] = 0x29;
        b[lab..lab + 11].copy_from_slice(label);
        b[ty..ty + 8].copy_from_slice(name);
        b
    }

    #[test]
    fn iso9660_volume_id() {
        let fs = probe(&iso_image("KILN_LIVE")).unwrap();
        assert_eq!(fs, Fs { kind: FsKind::Iso9660, label: Some("KILN_LIVE".into()) });
        assert_eq!(probe(&iso_image("")).unwrap().label, None);
        let full = "A".repeat(32);
        assert_eq!(probe(&iso_image(&full)).unwrap().label.as_deref(), Some(full.as_str()));
        // A hybrid ISO's MBR signature does not make it FAT.
        let mut hybrid = iso_image("KILN_LIVE");
        hybrid[510] = 0x55;
        hybrid[511] = 0xAA;
        assert_eq!(probe(&hybrid).unwrap().kind, FsKind::Iso9660);
    }

    #[test]
    fn iso9660_rejects_other_descriptors() {
        let mut b = iso_image("X");
        b[ISO_PVD] = 2; // supplementary, not primary
        assert_eq!(iso9660(&b), None);
        let mut b = iso_image("X");
        b[ISO_PVD + 5] = b'2';
        assert_eq!(iso9660(&b), None);
    }

    #[test]
    fn ext_label() {
        let fs = probe(&ext_image("KILN_DATA")).unwrap();
        assert_eq!(fs, Fs { kind: FsKind::Ext, label: Some("KILN_DATA".into()) });
        assert_eq!(probe(&ext_image("")).unwrap().label, None);
        assert_eq!(probe(&ext_image("sixteen-chars-xx")).unwrap().label.as_deref(), Some("sixteen-chars-xx"));
        assert_eq!(FsKind::Ext.mount_type(), "ext4");
    }

    #[test]
    fn fat_labels() {
        let fs = probe(&fat_image(true, b"KILN_EFI   ")).unwrap();
        assert_eq!(fs, Fs { kind: FsKind::Fat, label: Some("KILN_EFI".into()) });
        assert_eq!(probe(&fat_image(false, b"BOOT       ")).unwrap().label.as_deref(), Some("BOOT"));
        assert_eq!(probe(&fat_image(false, b"NO NAME    ")).unwrap().label, None);
        let mut no_sig = fat_image(false, b"BOOT       ");
        no_sig[38] = 0;
        assert_eq!(probe(&no_sig).unwrap().label, None);
        // An MBR without a FAT type string is not FAT.
        let mut mbr = vec![0u8; 512];
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        assert_eq!(probe(&mbr), None);
    }

    #[test]
    fn garbage_and_short_reads() {
        assert_eq!(probe(&[]), None);
        assert_eq!(probe(&vec![0u8; PROBE_BYTES]), None);
        assert_eq!(probe(&vec![0xFFu8; PROBE_BYTES]), None);
        let pseudo: Vec<u8> = (0..PROBE_BYTES as u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
        assert_eq!(probe(&pseudo), None);
        // Cut anywhere, an ISO is either still found or not found; never a panic.
        let iso = iso_image("KILN_LIVE");
        for cut in [0, 511, 1081, 1145, ISO_PVD, ISO_PVD + 6, ISO_PVD + 71] {
            assert_eq!(probe(&iso[..cut]), None, "cut at {cut}");
        }
        assert!(probe(&iso[..ISO_PVD + 72]).is_some());
        let e = ext_image("D");
        assert_eq!(probe(&e[..1081]), None);
        assert_eq!(probe(&e[..1150]), None);
    }

    #[test]
    fn labels_not_utf8_match_nothing_typed() {
        let mut b = iso_image("AB");
        b[ISO_PVD + 41] = 0xFF;
        assert_eq!(probe(&b).unwrap().label.as_deref(), Some("A\u{FFFD}"));
    }
}
