//! The `grub-mkrescue` layout: GRUB's stock hybrid image (BIOS + UEFI, CD + USB).

use crate::{render_grub_cfg, IsoInputs, INITRD_PATH, KERNEL_PATH};
use anyhow::{Context, Result};
use kiln_util::tmp_name;
use kiln_util::run_logged;
use std::path::Path;

pub fn build(inputs: &IsoInputs, out: &Path) -> Result<()> {
    let tmp = tmp_name(out);
    let staging = tmp.with_extension("d");
    let _ = std::fs::remove_dir_all(&staging);
    let result = stage(inputs, &staging).and_then(|()| {
        let date = kiln_util::utc_date(inputs.epoch);
        // xorriso's native commands after `--`: fixed label and dates for a reproducible image.
        let stamp: String = date.chars().filter(|c| c.is_ascii_digit()).collect::<String>() + "00";
        let cmd = duct::cmd!(
            "grub-mkrescue",
            "-o",
            &tmp,
            &staging,
            "--",
            "-volid",
            inputs.label,
            "-volume_date",
            "uuid",
            &stamp,
            "-volume_date",
            "all_file_dates",
            "set_to_mtime"
        )
        .env("SOURCE_DATE_EPOCH", inputs.epoch.to_string());
        run_logged("iso grub-mkrescue", cmd, inputs.log_dir)
    });
    let _ = std::fs::remove_dir_all(&staging);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, out).with_context(|| format!("renaming {} to {}", tmp.display(), out.display()))
}

fn stage(inputs: &IsoInputs, dir: &Path) -> Result<()> {
    let files = [(KERNEL_PATH, inputs.kernel), (INITRD_PATH, inputs.initrd)];
    for (dest, src) in files {
        let dest = dir.join(dest);
        std::fs::create_dir_all(dest.parent().expect("has parent"))?;
        std::fs::copy(src, &dest).with_context(|| format!("copying {} to {}", src.display(), dest.display()))?;
    }
    let cfg = dir.join("boot/grub/grub.cfg");
    std::fs::create_dir_all(cfg.parent().expect("has parent"))?;
    std::fs::write(&cfg, render_grub_cfg(inputs.grub_template, inputs.menu)).with_context(|| format!("writing {}", cfg.display()))?;
    // Every file in the image gets the same fixed date.
    let epoch = std::time::UNIX_EPOCH + std::time::Duration::from_secs(inputs.epoch);
    for entry in walk(dir)? {
        let f = std::fs::File::options().read(true).open(&entry)?;
        f.set_modified(epoch).with_context(|| format!("setting the date of {}", entry.display()))?;
    }
    Ok(())
}

fn walk(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(walk(&p)?);
        }
        out.push(p);
    }
    Ok(out)
}
