//! Kiln's build steps. Each step is a function from inputs to an output file, cached by
//! a hash of its inputs and written atomically; `xtask` only wires them together.

pub mod busybox;
pub mod cache;
pub mod host;
pub mod kconfig;
pub mod kernel;
pub mod launcher;
mod tools;

pub use launcher::{Launcher, LAUNCHER_ENV};
pub use tools::{cached_tool_version, tool_version};
