//! The system operations the boot sequence needs, behind a trait so that the
//! whole sequence can be unit-tested with a recording fake (no root needed).

use crate::prelude::*;
use rustix::io::Errno;

pub use kiln_init::mount_options::{MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY};

/// statfs(2) `f_type` of ramfs and tmpfs: the kinds of `/` an initramfs is.
pub const RAMFS_MAGIC: u64 = 0x8584_58f6;
pub const TMPFS_MAGIC: u64 = 0x0102_1994;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Block,
    Other,
}

/// lstat(2), the parts that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub kind: Kind,
    /// `st_dev`: which file system holds it.
    pub dev: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub is_dir: bool,
}

pub trait Sys {
    /// mount(2). `flags` are `MS_*` bits.
    fn mount(&mut self, source: &str, target: &str, fstype: &str, flags: u64, data: Option<&str>)
        -> Result<(), Errno>;
    /// `mount --move FROM TO`.
    fn move_mount(&mut self, from: &str, to: &str) -> Result<(), Errno>;
    /// umount2(2); `detach` is `MNT_DETACH`.
    fn unmount(&mut self, target: &str, detach: bool) -> Result<(), Errno>;
    /// `mkdir -p` with mode 0755.
    fn mkdir_p(&mut self, path: &str) -> Result<(), Errno>;
    /// Whole file as text; text that is not UTF-8 is `Errno::ILSEQ`.
    fn read_file(&mut self, path: &str) -> Result<String, Errno>;
    /// The entries of a directory, without `.` and `..`, in any order.
    fn read_dir(&mut self, path: &str) -> Result<Vec<DirEntry>, Errno>;
    /// Fills `buf` from `offset` of `path` as far as the file goes; the count read.
    fn read_at(&mut self, path: &str, offset: u64, buf: &mut [u8]) -> Result<usize, Errno>;
    /// lstat(2).
    fn stat(&mut self, path: &str) -> Result<Stat, Errno>;
    /// Creates a block device node (mode 0600).
    fn mknod_block(&mut self, path: &str, major: u32, minor: u32) -> Result<(), Errno>;
    /// Attaches `file` read-only to a free loop device; its path (`/dev/loop0`).
    fn attach_loop(&mut self, file: &str) -> Result<String, Errno>;
    /// Copies a file; the number of bytes.
    fn copy_file(&mut self, from: &str, to: &str) -> Result<u64, Errno>;
    /// Ok if `path`, resolved with `root` as `/` (symlinks too), is a regular
    /// file someone may execute.
    fn check_executable(&mut self, root: &str, path: &str) -> Result<(), Errno>;
    /// statfs(2) `f_type`.
    fn fs_type(&mut self, path: &str) -> Result<u64, Errno>;
    fn chdir(&mut self, path: &str) -> Result<(), Errno>;
    fn chroot(&mut self, path: &str) -> Result<(), Errno>;
    /// unlink(2), or rmdir(2) if `dir`.
    fn remove(&mut self, path: &str, dir: bool) -> Result<(), Errno>;
    /// execve(2) of `path` with argv `[path]` and our environment, with the
    /// signal mask cleared; returns only on failure.
    fn exec(&mut self, path: &str) -> Errno;
    /// Runs a shell on the console and waits for it to end (`rd.break`).
    fn shell(&mut self, why: &str);
    /// Milliseconds since boot.
    fn now_ms(&mut self) -> u64;
    fn sleep_ms(&mut self, ms: u64);
    /// Reports a message (the implementation adds the `kiln-boot: ` prefix).
    fn log(&mut self, msg: &str);
}

/// A lowercase description of `e` for messages: kiln-init's list, plus the
/// errors of block devices and loop devices.
pub fn errno_text(e: Errno) -> String {
    let text = match e {
        Errno::NXIO => "no such device or address",
        Errno::NOTBLK => "block device required",
        Errno::NOTTY => "inappropriate ioctl for device",
        Errno::NOMEDIUM => "no medium found",
        Errno::MEDIUMTYPE => "wrong medium type",
        Errno::FBIG => "file too large",
        Errno::OVERFLOW => "value too large for defined data type",
        Errno::UCLEAN => "structure needs cleaning",
        Errno::OPNOTSUPP => "operation not supported",
        _ => return kiln_init::sys::errno_text(e),
    };
    text.to_string()
}

/// `what: reason` for a failed system call.
pub fn failed(what: &str, e: Errno) -> String {
    format!("{what}: {}", errno_text(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_texts() {
        assert_eq!(errno_text(Errno::NOMEDIUM), "no medium found");
        assert_eq!(errno_text(Errno::NODEV), "no such device");
        assert_eq!(failed("cannot mount x", Errno::INVAL), "cannot mount x: invalid argument");
    }
}
