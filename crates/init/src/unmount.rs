//! File systems at shutdown, once every process is gone: mounts backed by a
//! block device are remounted read-only first, so the disk is consistent even
//! if an unmount then fails; then everything but `/` is unmounted, innermost
//! (last mounted) first.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::mount_options::{MS_RDONLY, MS_REMOUNT};
use crate::sys::{errno_text, Sys};
use rustix::io::Errno;

/// One line of `/proc/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub options: String,
}

impl MountInfo {
    fn read_only(&self) -> bool {
        self.options.split(',').any(|o| o == "ro")
    }
}

/// Undoes the octal escapes of `/proc/mounts` (`\040` is a space).
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 4).and_then(|d| u8::from_str_radix(d, 8).ok());
        match code {
            Some(c) => {
                out.push(char::from(c));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses `/proc/mounts` (`SOURCE TARGET FSTYPE OPTIONS 0 0`), in mount order.
pub fn parse_proc_mounts(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some(MountInfo {
                source: unescape(w.next()?),
                target: unescape(w.next()?),
                fstype: unescape(w.next()?),
                options: w.next().unwrap_or_default().to_string(),
            })
        })
        .collect()
}

/// Remounts every writable block-device-backed mount read-only (`/` too),
/// then unmounts everything but `/` in reverse mount order (lazily when
/// busy). Failures are logged; nothing stops the shutdown.
pub fn release_mounts(sys: &mut impl Sys, proc_mounts: &str) {
    let mounts = parse_proc_mounts(proc_mounts);
    for m in mounts.iter().rev() {
        if m.read_only() || !sys.is_block_device(&m.source) {
            continue;
        }
        if let Err(e) = sys.mount("", &m.target, "", MS_REMOUNT | MS_RDONLY, None) {
            sys.log(&format!(
                "cannot remount {} read-only: {}",
                m.target,
                errno_text(e)
            ));
        }
    }
    for m in mounts.iter().rev().filter(|m| m.target != "/") {
        let res = match sys.unmount(&m.target, false) {
            Err(Errno::BUSY) => sys.unmount(&m.target, true),
            other => other,
        };
        match res {
            // Gone with a mount it was under (or unmounted twice in the list).
            Ok(()) | Err(Errno::INVAL) | Err(Errno::NOENT) => {}
            Err(e) => sys.log(&format!("cannot unmount {}: {}", m.target, errno_text(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_sys::Fake;

    const MOUNTS: &str = "rootfs / rootfs rw 0 0\n\
        proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n\
        devtmpfs /dev devtmpfs rw,nosuid,size=1k,mode=755 0 0\n\
        /dev/vda /data ext4 rw,relatime 0 0\n\
        /dev/vdb /mnt/my\\040disk ext4 rw 0 0\n\
        /dev/vdc /media vfat ro 0 0\n\
        tmpfs /data/tmp tmpfs rw 0 0\n";

    #[test]
    fn parses_and_unescapes() {
        let m = parse_proc_mounts(MOUNTS);
        assert_eq!(m.len(), 7);
        assert_eq!(m[4].target, "/mnt/my disk");
        assert_eq!(m[1].options, "rw,nosuid,nodev,noexec,relatime");
        assert_eq!(unescape("a\\011b\\\\c\\"), "a\tb\\\\c\\");
        assert!(parse_proc_mounts("\n  \n").is_empty());
    }

    #[test]
    fn block_mounts_read_only_first_then_unmount_innermost_first() {
        let mut f = Fake {
            block_devices: vec!["/dev/vda", "/dev/vdb", "/dev/vdc"],
            ..Fake::default()
        };
        release_mounts(&mut f, MOUNTS);
        assert_eq!(
            f.calls,
            [
                // /media is already read-only; tmpfs, proc, devtmpfs have no disk.
                "mount /mnt/my disk   0x21 -",
                "mount /data   0x21 -",
                "umount /data/tmp",
                "umount /media",
                "umount /mnt/my disk",
                "umount /data",
                "umount /dev",
                "umount /proc",
            ]
        );
        assert!(f.logs.is_empty(), "{:?}", f.logs);
    }

    #[test]
    fn busy_is_detached_and_failures_are_reported() {
        let mut f = Fake {
            block_devices: vec!["/dev/vda"],
            ..Fake::default()
        };
        f.fail.insert("/data", Errno::BUSY); // remount and the first unmount
        f.fail_once.insert("/dev", Errno::BUSY);
        f.fail.insert("/proc", Errno::INVAL);
        release_mounts(&mut f, MOUNTS);
        assert!(f.calls.contains(&"umount -l /dev".to_string()), "{:?}", f.calls);
        assert_eq!(
            f.logs,
            [
                "cannot remount /data read-only: device or resource busy",
                "cannot unmount /data: device or resource busy"
            ]
        );
    }

    #[test]
    fn root_on_a_disk_is_remounted_read_only_but_stays() {
        let mut f = Fake {
            block_devices: vec!["/dev/sda1"],
            ..Fake::default()
        };
        release_mounts(&mut f, "/dev/sda1 / ext4 rw 0 0\n");
        assert_eq!(f.calls, ["mount /   0x21 -"]);
    }
}
