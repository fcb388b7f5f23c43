//! kiln-boot: the `/init` of Kiln's live initramfs. See README.md.
//!
//! No libc: origin provides the program entry (`_start` → `origin_main`),
//! rustix the system calls, rustix-dlmalloc the heap, like kiln-init.

#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

extern crate alloc;
extern crate origin; // links `_start`; without this line the entry point is 0

mod loopdev;
mod os;
mod rescue;

use rustix::fs::Mode;

#[global_allocator]
static HEAP: rustix_dlmalloc::GlobalDlmalloc = rustix_dlmalloc::GlobalDlmalloc;

/// The precompiled `core` refers to the unwinder's personality routine even
/// under panic=abort; it is never called.
#[no_mangle]
extern "C" fn rust_eh_personality() {}

/// Called by origin's `_start`.
#[no_mangle]
fn origin_main(_argc: usize, _argv: *mut *mut u8, envp: *mut *mut u8) -> i32 {
    if rustix::process::getpid() != rustix::process::Pid::INIT {
        let _ = os::write_all(os::stderr(), b"kiln-boot: must run as pid 1 (the /init of a live initramfs)\n");
        return 1;
    }
    os::ensure_stdio();
    os::set_envp(envp);
    rustix::process::umask(Mode::from_raw_mode(0o022));
    let _ = rustix::process::chdir("/");
    let msg = kiln_boot::boot(&mut os::RealSys::default());
    rescue::fail(&msg)
}
