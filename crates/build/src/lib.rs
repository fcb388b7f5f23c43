//! Kiln's build steps. Each step is a function from inputs to an output file, cached by
//! a hash of its inputs and written atomically; `xtask` only wires them together.

pub mod busybox;
pub mod cache;
pub mod host;
pub mod kconfig;
pub mod kernel;

use anyhow::{Context, Result};

/// The first line of `TOOL --version`: part of every cache key that the tool affects.
pub fn tool_version(tool: &str) -> Result<String> {
    let out = duct::cmd!(tool, "--version")
        .stderr_to_stdout()
        .unchecked()
        .read()
        .with_context(|| format!("running {tool} --version (is it installed? run `cargo xtask deps`)"))?;
    Ok(out.lines().next().unwrap_or_default().to_string())
}
