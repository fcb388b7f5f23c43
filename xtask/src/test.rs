//! `cargo xtask test`: every test. Unit tests first (fast, no QEMU), then test-boot,
//! then `bench --quick` and `bench --profiles --quick`, then the reproducibility check (two clean builds, the slowest part).

use crate::ctx::Ctx;
use anyhow::{Context, Result};

#[derive(clap::Args, Clone)]
pub struct TestArgs {
    #[command(flatten)]
    pub boot: crate::test_boot::Args,
    /// Leave out `repro` (two clean builds of the image): for quick local runs
    #[arg(long)]
    pub quick: bool,
}

pub fn run(args: &TestArgs) -> Result<()> {
    let ctx = Ctx::new();
    ctx.run(&ctx.cargo(), &["test", "--workspace", "--quiet"], &[]).context("unit tests failed")?;
    crate::test_boot::run(&args.boot)?;
    // The short bench, so the command cannot rot: its numbers are reported, never checked.
    crate::bench::run(&crate::bench::Args::quick(args.boot.image.clone())).context("cargo xtask bench --quick failed")?;
    let mut profiles = crate::bench::Args::quick(args.boot.image.clone());
    // The other profiles (minimal was just measured), one run in each of two cells.
    profiles.profiles = Some(crate::bench::OTHER_PROFILES.iter().map(|s| s.to_string()).collect());
    crate::bench::run(&profiles).context("cargo xtask bench --profiles --quick failed")?;
    if !args.quick {
        let repro = crate::repro::Args { image: args.boot.image.clone(), dir: None, keep: false };
        crate::repro::run(&repro)?;
    }
    Ok(())
}
