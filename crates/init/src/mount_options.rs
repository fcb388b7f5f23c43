//! mount(8)'s flag words in a mount's options (`ro,nosuid,size=1m`): they
//! become `MS_*` flags for mount(2); every other word is the file system's
//! own data and is passed on as it is.

#[allow(unused_imports)]
use crate::prelude::*;

pub const MS_RDONLY: u64 = 0x1;
pub const MS_NOSUID: u64 = 0x2;
pub const MS_NODEV: u64 = 0x4;
pub const MS_NOEXEC: u64 = 0x8;
pub const MS_SYNCHRONOUS: u64 = 0x10;
pub const MS_REMOUNT: u64 = 0x20;
pub const MS_DIRSYNC: u64 = 0x80;
pub const MS_NOSYMFOLLOW: u64 = 0x100;
pub const MS_NOATIME: u64 = 0x400;
pub const MS_NODIRATIME: u64 = 0x800;
pub const MS_SILENT: u64 = 0x8000;
pub const MS_RELATIME: u64 = 1 << 21;
pub const MS_STRICTATIME: u64 = 1 << 24;
pub const MS_LAZYTIME: u64 = 1 << 25;

/// `(word, flag, set)`: the word sets the flag, or clears it (`rw` after `ro`).
const FLAG_WORDS: &[(&str, u64, bool)] = &[
    ("ro", MS_RDONLY, true),
    ("rw", MS_RDONLY, false),
    ("nosuid", MS_NOSUID, true),
    ("suid", MS_NOSUID, false),
    ("nodev", MS_NODEV, true),
    ("dev", MS_NODEV, false),
    ("noexec", MS_NOEXEC, true),
    ("exec", MS_NOEXEC, false),
    ("sync", MS_SYNCHRONOUS, true),
    ("async", MS_SYNCHRONOUS, false),
    ("dirsync", MS_DIRSYNC, true),
    ("nosymfollow", MS_NOSYMFOLLOW, true),
    ("symfollow", MS_NOSYMFOLLOW, false),
    ("noatime", MS_NOATIME, true),
    ("atime", MS_NOATIME, false),
    ("nodiratime", MS_NODIRATIME, true),
    ("diratime", MS_NODIRATIME, false),
    ("relatime", MS_RELATIME, true),
    ("norelatime", MS_RELATIME, false),
    ("strictatime", MS_STRICTATIME, true),
    ("nostrictatime", MS_STRICTATIME, false),
    ("lazytime", MS_LAZYTIME, true),
    ("nolazytime", MS_LAZYTIME, false),
    ("silent", MS_SILENT, true),
    // `remount,ro` on `/`: a read-only system root (kiln-init skips the
    // file-system checks and the mkdir for a remount).
    ("remount", MS_REMOUNT, true),
    ("loud", MS_SILENT, false),
    // fstab's "use the defaults" (rw, suid, dev, exec, async): nothing to set.
    ("defaults", 0, false),
];

/// Splits a comma-separated option string into `MS_*` flags and the data
/// for the file system (`None` when nothing is left). Later words win, as
/// with mount(8): `ro,rw` is read-write.
pub fn parse_mount_options(options: &str) -> (u64, Option<String>) {
    let mut flags = 0;
    let mut data: Vec<&str> = Vec::new();
    for word in options.split(',').filter(|w| !w.is_empty()) {
        match FLAG_WORDS.iter().find(|(w, _, _)| *w == word) {
            Some(&(_, flag, true)) => flags |= flag,
            Some(&(_, flag, false)) => flags &= !flag,
            None => data.push(word),
        }
    }
    let data = (!data.is_empty()).then(|| data.join(","));
    (flags, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_out_data_kept() {
        assert_eq!(
            parse_mount_options("ro,nosuid,size=1m,mode=0755"),
            (MS_RDONLY | MS_NOSUID, Some("size=1m,mode=0755".into()))
        );
        assert_eq!(
            parse_mount_options("nodev,noexec,noatime,nodiratime,relatime,strictatime,lazytime,sync,dirsync,silent,nosymfollow"),
            (MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME
                | MS_LAZYTIME | MS_SYNCHRONOUS | MS_DIRSYNC | MS_SILENT | MS_NOSYMFOLLOW, None)
        );
        assert_eq!(parse_mount_options("size=16m"), (0, Some("size=16m".into())));
        assert_eq!(parse_mount_options(""), (0, None));
        assert_eq!(parse_mount_options("defaults"), (0, None));
    }

    #[test]
    fn later_words_win() {
        assert_eq!(parse_mount_options("ro,rw").0, 0);
        assert_eq!(parse_mount_options("rw,ro").0, MS_RDONLY);
        assert_eq!(parse_mount_options("noexec,exec,nosuid").0, MS_NOSUID);
        assert_eq!(parse_mount_options("atime,noatime").0, MS_NOATIME);
    }

    #[test]
    fn empty_words_and_unknown_words() {
        assert_eq!(
            parse_mount_options(",ro,,trans=virtio,version=9p2000.L,"),
            (MS_RDONLY, Some("trans=virtio,version=9p2000.L".into()))
        );
        // Not a flag word: the file system decides (e.g. tmpfs rejects it).
        assert_eq!(parse_mount_options("bogus"), (0, Some("bogus".into())));
        // Flag names only count as whole words.
        assert_eq!(parse_mount_options("rox,xro"), (0, Some("rox,xro".into())));
    }
}
