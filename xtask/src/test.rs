//! `cargo xtask test`: every test. Unit tests first (fast, no QEMU), then test-boot.

use crate::ctx::Ctx;
use anyhow::{Context, Result};

pub fn run(args: &crate::test_boot::Args) -> Result<()> {
    let ctx = Ctx::new();
    ctx.run(&ctx.cargo(), &["test", "--workspace", "--quiet"], &[]).context("unit tests failed")?;
    crate::test_boot::run(args)
}
