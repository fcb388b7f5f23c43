//! The mount table and the logic that applies it (plus config mounts).

#[allow(unused_imports)]
use crate::prelude::*;

use crate::config::ExtraMount;
pub use crate::mount_options::{MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RELATIME};
use crate::mount_options::{parse_mount_options, MS_REMOUNT};
use crate::sys::{errno_text, Sys};
use rustix::io::Errno;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountEntry<'a> {
    pub source: &'a str,
    pub target: &'a str,
    pub fstype: &'a str,
    pub flags: u64,
    pub data: Option<&'a str>,
    /// Failure is fatal (the system is unusable without it).
    pub essential: bool,
    /// Skip quietly when the kernel lacks the fs type (no report).
    pub optional: bool,
}

const fn entry(
    source: &'static str,
    target: &'static str,
    fstype: &'static str,
    flags: u64,
    data: Option<&'static str>,
    essential: bool,
) -> MountEntry<'static> {
    MountEntry {
        source,
        target,
        fstype,
        flags,
        data,
        essential,
        optional: false,
    }
}

const NSD: u64 = MS_NOSUID | MS_NODEV;
const NSDE: u64 = MS_NOSUID | MS_NODEV | MS_NOEXEC;

/// Mounted in this order, before the config's extra mounts.
pub const MOUNT_TABLE: &[MountEntry<'static>] = &[
    entry("proc", "/proc", "proc", NSDE, None, true),
    entry("sysfs", "/sys", "sysfs", NSDE, None, true),
    entry(
        "devtmpfs",
        "/dev",
        "devtmpfs",
        MS_NOSUID,
        Some("mode=0755"),
        true,
    ),
    entry(
        "devpts",
        "/dev/pts",
        "devpts",
        MS_NOSUID | MS_NOEXEC,
        Some("mode=620,ptmxmode=666"),
        false,
    ),
    entry("tmpfs", "/dev/shm", "tmpfs", NSD, Some("mode=1777"), false),
    entry("tmpfs", "/run", "tmpfs", NSD, Some("mode=755"), false),
    entry("tmpfs", "/tmp", "tmpfs", NSD, Some("mode=1777"), false),
    MountEntry {
        optional: true,
        ..entry(
            "cgroup2",
            "/sys/fs/cgroup",
            "cgroup2",
            NSDE | MS_RELATIME,
            None,
            false,
        )
    },
];

/// Names of the fs types in `/proc/filesystems` (`nodev\tproc`, `\text4`).
pub fn parse_filesystems(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(str::to_string)
        .collect()
}

/// Whether `/proc/mounts` already has `fstype` mounted on `target`.
pub fn is_mounted(proc_mounts: &str, target: &str, fstype: &str) -> bool {
    proc_mounts.lines().any(|l| {
        let mut w = l.split_whitespace();
        let (_src, t, f) = (w.next(), w.next(), w.next());
        t == Some(target) && f == Some(fstype)
    })
}

/// Mounts [`MOUNT_TABLE`] and then `extra` in order. Returns the targets
/// actually mounted, in order, or the message for a fatal failure of an
/// essential mount. The flag words of an extra mount's options (`ro`,
/// `nosuid`, ...) become mount flags; the rest is the file system's data.
///
/// A non-essential mount whose fs type the kernel does not support (not in
/// `/proc/filesystems`, or `ENODEV`/`EINVAL`) is reported once and skipped;
/// one that is already mounted (`/proc/mounts`, or `EBUSY`) is skipped.
pub fn mount_all(sys: &mut impl Sys, extra: &[ExtraMount]) -> Result<Vec<String>, String> {
    let options: Vec<(u64, Option<String>)> = extra
        .iter()
        .map(|m| m.options.as_deref().map_or((0, None), parse_mount_options))
        .collect();
    let extras = extra.iter().zip(&options).map(|(m, (flags, data))| MountEntry {
        source: &m.source,
        target: &m.target,
        fstype: &m.fstype,
        flags: *flags,
        data: data.as_deref(),
        essential: false,
        optional: false,
    });
    let mut mounted = Vec::new();
    let mut filesystems: Option<Vec<String>> = None;
    for (i, e) in MOUNT_TABLE.iter().copied().chain(extras).enumerate() {
        let from_table = i < MOUNT_TABLE.len();
        if e.flags & MS_REMOUNT != 0 {
            // Changes the flags of what is mounted there (`remount,ro` on `/`): no
            // file system type to check, nothing new to list for unmounting.
            if let Err(err) = sys.mount(e.source, e.target, e.fstype, e.flags, e.data) {
                sys.log(&format!("remount {} failed: {}", e.target, errno_text(err)));
            }
            continue;
        }
        if filesystems.is_none() {
            filesystems = sys
                .read_file("/proc/filesystems")
                .ok()
                .map(|t| parse_filesystems(&t));
        }
        let supported = filesystems
            .as_ref()
            .is_none_or(|fs| fs.iter().any(|f| f == e.fstype));
        if !supported {
            unsupported(sys, &e)?;
            continue;
        }
        if sys
            .read_file("/proc/mounts")
            .is_ok_and(|m| is_mounted(&m, e.target, e.fstype))
        {
            continue;
        }
        // A failure here shows up as ENOENT from mount(2).
        let _ = sys.mkdir_p(e.target);
        match sys.mount(e.source, e.target, e.fstype, e.flags, e.data) {
            Ok(()) => mounted.push(e.target.to_string()),
            Err(Errno::BUSY) => {}
            Err(Errno::NODEV) => unsupported(sys, &e)?,
            Err(Errno::INVAL) if from_table => unsupported(sys, &e)?,
            Err(err) if e.essential => {
                return Err(format!(
                    "essential mount {} ({}) failed: {}",
                    e.target,
                    e.fstype,
                    errno_text(err)
                ))
            }
            Err(err) => sys.log(&format!(
                "mount {} ({}) failed: {}",
                e.target,
                e.fstype,
                errno_text(err)
            )),
        }
    }
    Ok(mounted)
}

fn unsupported(sys: &mut impl Sys, e: &MountEntry) -> Result<(), String> {
    if e.essential {
        return Err(format!(
            "essential mount {} ({}) not supported by this kernel",
            e.target, e.fstype
        ));
    }
    if !e.optional {
        sys.log(&format!(
            "skipping mount {} ({}): not supported by this kernel",
            e.target, e.fstype
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "mounts_tests.rs"]
mod tests;
