//! The few system operations the pure logic needs, behind a trait so the
//! logic can be unit-tested with a recording fake (no root needed).

use nix::errno::Errno;

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
    /// `mkdir -p` with mode 0755.
    fn mkdir_p(&mut self, path: &str) -> Result<(), Errno>;
    /// Whole file as text; `None` if it cannot be read.
    fn read_file(&mut self, path: &str) -> Option<String>;
    /// Reports a message (the implementation adds the `kiln-init: ` prefix).
    fn log(&mut self, msg: &str);
}
