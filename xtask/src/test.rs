//! `cargo xtask test`: every test. Unit tests first (fast, no QEMU), then test-boot.

use crate::ctx::Ctx;
use anyhow::{Context, Result};

pub fn run(args: &crate::test_boot::Args) -> Result<()> {
    let ctx = Ctx::new();
    let sh = ctx.shell()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    xshell::cmd!(sh, "{cargo} test --workspace --quiet").run().context("unit tests failed")?;
    crate::test_boot::run(args)
}
