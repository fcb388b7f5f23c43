//! The `grub-mkrescue` layout: GRUB's stock hybrid image (BIOS + UEFI, CD + USB).

use crate::{efi, set_mtimes, xorriso_dates, xorriso_maps, IsoInputs};
use anyhow::{Context, Result};
use kiln_util::run_logged;
use std::path::Path;

/// Makes `iso` from the staged tree `root`, with scratch files in `work`.
pub fn build(inputs: &IsoInputs, work: &Path, root: &Path, iso: &Path) -> Result<()> {
    set_mtimes(root, inputs.epoch)?;
    let mut args: Vec<std::ffi::OsString> = vec!["-o".into(), iso.into(), root.into()];
    // xorriso's native commands after `--`: fixed label and dates for a reproducible image.
    args.extend(["--", "-volid", inputs.label].map(Into::into));
    args.extend(xorriso_maps(inputs.extra));
    args.extend(xorriso_dates(inputs.epoch).into_iter().map(Into::into));
    let cmd = duct::cmd("grub-mkrescue", args)
        .env("SOURCE_DATE_EPOCH", inputs.epoch.to_string())
        .env("PATH", fixed_serial_path(work)?);
    run_logged("iso grub-mkrescue", cmd, inputs.log_dir)
}

/// grub-mkrescue formats its EFI image with a bare `mformat`, which picks a random volume
/// serial: the one thing that made two builds differ. A `PATH` whose first directory has
/// an `mformat` that adds the fixed serial ([`efi::VOLUME_SERIAL`]) makes it reproducible.
fn fixed_serial_path(work: &Path) -> Result<std::ffi::OsString> {
    use std::os::unix::fs::PermissionsExt;
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;
    let real = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("mformat")).find(|f| f.is_file()))
        .context("mformat is not on PATH (cargo xtask deps installs mtools)")?;
    let wrapper = bin.join("mformat");
    let script = format!("#!/bin/sh\nexec '{}' -N {} \"$@\"\n", real.display(), efi::VOLUME_SERIAL);
    std::fs::write(&wrapper, script).with_context(|| format!("writing {}", wrapper.display()))?;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
    let mut path = std::ffi::OsString::from(bin.as_os_str());
    if let Some(rest) = std::env::var_os("PATH") {
        path.push(":");
        path.push(rest);
    }
    Ok(path)
}
