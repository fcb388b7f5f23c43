//! `cargo xtask iso`: builds the image and prints where its ISO is.

use crate::artifacts::{self, human};
use crate::ctx::Ctx;
use crate::ImageArg;
use anyhow::Result;

pub fn run(args: &ImageArg) -> Result<()> {
    let ctx = Ctx::new();
    let a = artifacts::build(&ctx, &args.image, true)?;
    let iso = a.iso.expect("iso requested");
    let size = std::fs::metadata(&iso)?.len();
    let shown = iso.strip_prefix(&ctx.root).unwrap_or(&iso);
    println!("{} ({})", shown.display(), human(size));
    Ok(())
}
