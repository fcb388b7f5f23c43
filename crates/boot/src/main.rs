//! kiln-boot: the `/init` of Kiln's live initramfs. See README.md.
//!
//! The runtime is kiln-init's, from kiln-guest (feature `rt`): origin's `_start`
//! calls `origin_main` below; the heap is rustix-dlmalloc's and there is no libc.

#![no_std]
#![no_main]

extern crate alloc;

mod loopdev;
mod os;
mod rescue;

/// Called by origin's `_start`.
#[no_mangle]
fn origin_main(_argc: usize, _argv: *mut *mut u8, envp: *mut *mut u8) -> i32 {
    if !kiln_guest::start_pid1(os::LOGGER, " (the /init of a live initramfs)") {
        return 1;
    }
    os::ensure_stdio();
    os::set_envp(envp);
    let msg = kiln_boot::boot(&mut os::RealSys::default());
    rescue::fail(&msg)
}
