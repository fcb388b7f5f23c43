//! kiln-boot: the `/init` of Kiln's live initramfs. See README.md.
//!
//! No libc: origin provides the program entry (`_start` → `origin_main`),
//! rustix the system calls, rustix-dlmalloc the heap, like kiln-init; kiln-guest
//! (feature `rt`) links the three, and holds the helpers kiln-init shares.

#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

mod loopdev;
mod os;
mod rescue;

use rustix::fs::Mode;

/// Called by origin's `_start`.
#[no_mangle]
fn origin_main(_argc: usize, _argv: *mut *mut u8, envp: *mut *mut u8) -> i32 {
    if !os::LOGGER.is_pid1(" (the /init of a live initramfs)") {
        return 1;
    }
    os::ensure_stdio();
    os::set_envp(envp);
    rustix::process::umask(Mode::from_raw_mode(0o022));
    let _ = rustix::process::chdir("/");
    let msg = kiln_boot::boot(&mut os::RealSys::default());
    rescue::fail(&msg)
}
