//! A root file system tree (a [`kiln_initramfs::Tree`]) as a squashfs image: the live
//! mode's `/LiveOS/squashfs.img`.
//!
//! The tree is streamed as an uncompressed tar archive into `mksquashfs -tar`
//! (squashfs-tools 4.5.1), so nothing is written to the host's file system and no root
//! is needed: owners, modes (setuid too), device nodes, FIFOs, hard links and extended
//! attributes (`security.capability`) come from the tar headers. The image is a pure
//! function of the tree and the epoch: entries in the tree's sorted order, every time
//! set to the epoch, `-reproducible` (mksquashfs's default, given explicitly).
//!
//! Why mksquashfs and not the pure-Rust `backhand` 0.25: backhand's writer has no
//! extended attributes and no hard links (ARCHITECTURE.md has the measurements).

mod tar_stream;

pub use tar_stream::write_tar;

use anyhow::{Context, Result};
use kiln_initramfs::Tree;
use std::path::Path;

/// The host tool; its version belongs in the image's cache key.
pub const TOOL: &str = "mksquashfs";

/// The compressor the kernel reads (`CONFIG_SQUASHFS_XZ` in `kernel/60-live.config`),
/// with the x86 BCJ filter for executables.
pub const COMPRESSION: &[&str] = &["-comp", "xz", "-Xbcj", "x86"];

/// mksquashfs's arguments for an image at `out` from a tar stream on stdin.
pub fn mksquashfs_args(out: &Path, epoch: u64) -> Vec<String> {
    let epoch = epoch.to_string();
    let mut args: Vec<String> = vec!["-".into(), out.display().to_string(), "-tar".into(), "-noappend".into()];
    args.extend(COMPRESSION.iter().map(|s| s.to_string()));
    for (flag, value) in [
        ("-mkfs-time", epoch.as_str()),
        ("-all-time", epoch.as_str()),
        ("-root-time", epoch.as_str()),
        ("-root-mode", "0755"),
        ("-root-uid", "0"),
        ("-root-gid", "0"),
    ] {
        args.push(flag.into());
        args.push(value.into());
    }
    args.extend(["-reproducible", "-no-progress"].map(String::from));
    args
}

/// Writes `tree` as a squashfs image to `out` (atomically: through a temporary name in
/// the same directory, removed on failure). mksquashfs's output goes to
/// `LOG_DIR/squashfs.log`.
pub fn write_squashfs(tree: &Tree, out: &Path, epoch: u64, log_dir: &Path) -> Result<()> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = kiln_util::tmp_name(out);
    let result = write_to(tree, &tmp, epoch, log_dir);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, out).with_context(|| format!("renaming {} to {}", tmp.display(), out.display()))
}

fn write_to(tree: &Tree, tmp: &Path, epoch: u64, log_dir: &Path) -> Result<()> {
    let (reader, writer) = os_pipe::pipe().context("creating a pipe to mksquashfs")?;
    let cmd = duct::cmd(TOOL, mksquashfs_args(tmp, epoch)).stdin_file(reader);
    std::thread::scope(|s| {
        let feeder = s.spawn(move || write_tar(tree, std::io::BufWriter::with_capacity(1 << 20, writer), epoch).map(drop));
        let ran = kiln_util::run_logged("squashfs", cmd, log_dir);
        let fed = feeder.join().unwrap_or_else(|_| Err(anyhow::anyhow!("the tar writer panicked")));
        // mksquashfs failing first closes the pipe, which fails the writer: report the
        // tool's error then, which names its log.
        ran?;
        fed.context("streaming the tree to mksquashfs")
    })
}

#[cfg(test)]
mod tests;
