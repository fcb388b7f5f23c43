//! Booting Kiln's artifacts in QEMU, as users do, and checking what the guest prints.
//!
//! Every run has a deadline and the QEMU process is killed when it passes (or when the
//! [`Session`] is dropped): a hung guest never hangs a test. The serial console is
//! QEMU's `-nographic` stdio, exactly what a user sees, saved to a log file.

mod ansi;
mod machine;
mod script;
mod session;

pub use ansi::clean;
pub use machine::{probe_kvm, probe_kvm_memo, Accel, Boot, Firmware, Machine, OVMF_PATH};
pub use script::{run_script, CaseResult, Step};
pub use session::Session;

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start qemu-system-x86_64: {0} (run `cargo xtask deps`)")]
    Spawn(std::io::Error),
    #[error("timed out after {waited:.1?} waiting for {what:?}; last output:\n{tail}")]
    Timeout { what: String, waited: Duration, tail: String },
    #[error("qemu exited ({status}) while waiting for {what:?}; last output:\n{tail}")]
    Exited { what: String, status: String, tail: String },
    #[error("{0}")]
    Check(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("log file {path}: {source}")]
    Log { path: PathBuf, source: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
