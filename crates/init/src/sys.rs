//! The few system operations the pure logic needs, behind a trait so the
//! logic can be unit-tested with a recording fake (no root needed).

#[allow(unused_imports)]
use crate::prelude::*;

use rustix::io::Errno;

pub trait Sys {
    /// mount(2). `flags` are `MS_*` bits (see [`crate::mounts`]).
    fn mount(
        &mut self,
        source: &str,
        target: &str,
        fstype: &str,
        flags: u64,
        data: Option<&str>,
    ) -> Result<(), Errno>;
    /// umount2(2); `detach` is `MNT_DETACH` (lazy: gone now, freed when unused).
    fn unmount(&mut self, target: &str, detach: bool) -> Result<(), Errno>;
    /// Whether `path` is a block device (a mount source backed by a disk).
    fn is_block_device(&mut self, path: &str) -> bool;
    /// `mkdir -p` with mode 0755.
    fn mkdir_p(&mut self, path: &str) -> Result<(), Errno>;
    /// Whole file as text; text that is not UTF-8 is `Errno::ILSEQ`.
    fn read_file(&mut self, path: &str) -> Result<String, Errno>;
    /// Reports a message (the implementation adds the `kiln-init: ` prefix).
    fn log(&mut self, msg: &str);
}

/// A lowercase description of `e` for messages (`no such device`); libc's
/// `strerror` table is not there, so the errors init can meet are listed here.
pub fn errno_text(e: Errno) -> String {
    let text = match e {
        Errno::PERM => "operation not permitted",
        Errno::NOENT => "no such file or directory",
        Errno::IO => "input/output error",
        Errno::NOEXEC => "exec format error",
        Errno::BADF => "bad file descriptor",
        Errno::CHILD => "no child processes",
        Errno::AGAIN => "resource temporarily unavailable",
        Errno::NOMEM => "cannot allocate memory",
        Errno::ACCESS => "permission denied",
        Errno::BUSY => "device or resource busy",
        Errno::EXIST => "file exists",
        Errno::NODEV => "no such device",
        Errno::NOTDIR => "not a directory",
        Errno::ISDIR => "is a directory",
        Errno::INVAL => "invalid argument",
        Errno::NOSPC => "no space left on device",
        Errno::ROFS => "read-only file system",
        Errno::NAMETOOLONG => "file name too long",
        Errno::NOSYS => "function not implemented",
        Errno::LOOP => "too many levels of symbolic links",
        Errno::ILSEQ => "not UTF-8 text",
        _ => return format!("error {}", e.raw_os_error()),
    };
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_texts() {
        assert_eq!(errno_text(Errno::NODEV), "no such device");
        assert_eq!(errno_text(Errno::ACCESS), "permission denied");
        assert_eq!(errno_text(Errno::ISDIR), "is a directory");
        assert_eq!(errno_text(Errno::from_raw_os_error(200)), "error 200");
    }
}
