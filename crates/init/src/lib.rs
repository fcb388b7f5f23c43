//! Pure logic of `kiln-init`, Kiln's PID 1.
//!
//! Everything here is side-effect free (or goes through [`sys::Sys`]) so it
//! can be unit-tested without root. The syscall-heavy code lives in the
//! binary (`src/main.rs` and its modules).
//!
//! The build tool reads an image spec's `[init]` table straight into a
//! [`config::Config`] (feature `serde`, checked by the same [`rules`] as
//! init.conf lines) and writes [`config::Config::render`] to
//! `/etc/kiln/init.conf`; a `Config` built in code is checked with
//! [`config::Config::check`].
//!
//! The crate is `no_std` (with `alloc`) because the binary is: it runs with no
//! libc at all, on rustix's raw system calls and origin's program start.

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
use prelude::*;

pub mod cmdline;
pub mod config;
#[cfg(feature = "serde")]
mod config_serde;
pub mod consoles;
#[cfg(test)]
mod fake_sys;
pub mod mount_options;
pub mod mounts;
pub mod policy;
pub mod rules;
pub mod stop;
pub mod sys;
pub mod unmount;
pub mod words;

pub use cmdline::Cmdline;
pub use config::{Command, Config, ConfigError, ExtraMount, Service};
pub use policy::{Backoff, Exit, Restart};
pub use stop::Action;

/// Path of the config file inside the image.
pub const CONFIG_PATH: &str = "/etc/kiln/init.conf";

/// Prefix of the single line printed on every console once boot is done:
/// `kiln-init: boot complete in 1.234 s`.
pub const BOOT_MARKER_PREFIX: &str = "kiln-init: boot complete in ";

/// Formats the boot marker line (without trailing newline) for an uptime in
/// milliseconds: `kiln-init: boot complete in 1.234 s`.
pub fn boot_marker(uptime_ms: u64) -> String {
    format!("{BOOT_MARKER_PREFIX}{} s", format_secs(uptime_ms))
}

/// Formats milliseconds as seconds with exactly three decimals (`1.234`).
pub fn format_secs(ms: u64) -> String {
    let frac = ms % 1000;
    let mut s = (ms / 1000).to_string();
    s.push('.');
    s.push(char::from(b'0' + (frac / 100) as u8));
    s.push(char::from(b'0' + (frac / 10 % 10) as u8));
    s.push(char::from(b'0' + (frac % 10) as u8));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_format() {
        assert_eq!(boot_marker(1234), "kiln-init: boot complete in 1.234 s");
        assert_eq!(boot_marker(5), "kiln-init: boot complete in 0.005 s");
        assert_eq!(format_secs(61_050), "61.050");
        assert_eq!(format_secs(0), "0.000");
    }
}
