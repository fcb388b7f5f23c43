//! Pure logic of `kiln-boot`, the `/init` of Kiln's live initramfs: it finds
//! the boot medium by its label, loop-mounts `LiveOS/squashfs.img` under an
//! overlay on `/sysroot` and switches root to it (dracut's `dmsquash-live`,
//! without a shell).
//!
//! Everything here is side-effect free or goes through [`sys::Sys`], so the
//! whole boot sequence is unit-tested against a recording fake. The binary
//! (`src/main.rs`) does the system calls. The crate is `no_std` (with
//! `alloc`) because the binary is, like kiln-init.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

/// What `std`'s prelude would have given every module.
mod prelude {
    pub use alloc::format;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec;
    pub use alloc::vec::Vec;
}

pub mod boot;
#[cfg(test)]
mod boot_tests;
pub mod cmdline;
pub mod devices;
#[cfg(test)]
mod fake_sys;
pub mod probe;
pub mod switch;
pub mod sys;

pub use boot::boot;
pub use cmdline::{LiveArgs, Source};
