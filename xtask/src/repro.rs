//! `cargo xtask repro`: builds an image twice from clean, in two copies of the checkout
//! at different paths with separate caches, targets, umasks and time zones, one after
//! the other (so at different times), and compares the sha256 of every artifact.

use crate::artifacts::SUMS;
use crate::ctx::Ctx;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Clone)]
pub struct Args {
    #[command(flatten)]
    pub image: crate::ImageArg,
    /// Where the two builds go (default: a new directory under the system's temp dir)
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the two build directories afterwards (they are deleted when the builds match)
    #[arg(long)]
    pub keep: bool,
}

/// The two builds: a directory name (different lengths, so path-dependent layouts show)
/// and the environment that differs between them.
const BUILDS: [(&str, &str, &str); 2] = [("a", "022", "UTC"), ("second-build", "077", "Pacific/Auckland")];

pub fn run(args: &Args) -> Result<()> {
    let ctx = Ctx::new();
    let image = &args.image.image;
    let base = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("kiln-repro-{}", std::process::id())),
    };
    if base.exists() {
        bail!("{} exists; remove it or pass another --dir", base.display());
    }
    let mut sums = Vec::new();
    for (name, umask, tz) in BUILDS {
        let dir = base.join(name);
        let src = dir.join("kiln");
        eprintln!("repro: build {name} in {} (umask {umask}, TZ={tz})", dir.display());
        copy_checkout(&ctx.root, &src)?;
        seed_downloads(&ctx.cache.join("downloads"), &dir.join("cache/downloads"))?;
        let cache = dir.join("cache").display().to_string();
        let target = dir.join("target").display().to_string();
        let script = format!("umask {umask} && exec \"$0\" xtask iso --image \"$1\"");
        let started = std::time::Instant::now();
        let out = duct::cmd!("sh", "-c", script, ctx.cargo(), image)
            .dir(&src)
            .env("KILN_CACHE", &cache)
            .env("CARGO_TARGET_DIR", &target)
            .env("TZ", tz)
            .env_remove("SOURCE_DATE_EPOCH")
            .unchecked()
            .run()
            .context("running cargo xtask iso")?;
        if !out.status.success() {
            bail!("repro: build {name} failed ({}); it is kept in {}", out.status, dir.display());
        }
        eprintln!("repro: build {name} took {:.0?}", started.elapsed());
        let path = src.join("out").join(image).join(SUMS);
        sums.push(std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?);
    }
    let report = compare(&sums[0], &sums[1])?;
    for line in &report.lines {
        println!("{line}");
    }
    match report.first_difference {
        None => {
            println!("repro: {} artifacts, all identical", report.lines.len());
            if !args.keep {
                std::fs::remove_dir_all(&base).with_context(|| format!("removing {}", base.display()))?;
            }
            Ok(())
        }
        Some(first) => bail!(
            "repro: the builds differ, first in {first} (build order); both are kept in {} for diffoscope",
            base.display()
        ),
    }
}

pub struct Comparison {
    /// `same  NAME  HASH` or `DIFF  NAME  HASH_A HASH_B`, in build order.
    pub lines: Vec<String>,
    /// The first artifact (in build order) whose hashes differ.
    pub first_difference: Option<String>,
}

/// Compares two `SHA256SUMS` files artifact by artifact.
pub fn compare(a: &str, b: &str) -> Result<Comparison> {
    let (a, b) = (parse_sums(a)?, parse_sums(b)?);
    let names = |s: &[(String, String)]| s.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>();
    if names(&a) != names(&b) {
        bail!("the builds made different artifacts: {:?} and {:?}", names(&a), names(&b));
    }
    let mut lines = Vec::new();
    let mut first_difference = None;
    for ((ha, name), (hb, _)) in a.iter().zip(&b) {
        if ha == hb {
            lines.push(format!("same  {name:<12} {ha}"));
        } else {
            first_difference.get_or_insert_with(|| name.clone());
            lines.push(format!("DIFF  {name:<12} {ha} {hb}"));
        }
    }
    Ok(Comparison { lines, first_difference })
}

/// `HASH  NAME` lines.
fn parse_sums(text: &str) -> Result<Vec<(String, String)>> {
    text.lines()
        .map(|l| {
            let (hash, name) = l.split_once("  ").with_context(|| format!("bad {SUMS} line {l:?}"))?;
            Ok((hash.to_string(), name.to_string()))
        })
        .collect()
}

/// Copies the checkout's files (committed or not) to `dest`, leaving out `.git`, `target`
/// and `out`, so each build starts from clean.
fn copy_checkout(root: &Path, dest: &Path) -> Result<()> {
    let skip = [".git", "target", "out"];
    let walk = walkdir::WalkDir::new(root).into_iter().filter_entry(|e| {
        e.depth() != 1 || !skip.iter().any(|s| e.file_name() == *s)
    });
    for entry in walk {
        let entry = entry.with_context(|| format!("walking {}", root.display()))?;
        let to = dest.join(entry.path().strip_prefix(root).expect("under root"));
        let ty = entry.file_type();
        if ty.is_dir() {
            std::fs::create_dir_all(&to).with_context(|| format!("creating {}", to.display()))?;
        } else if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &to)?;
        } else {
            std::fs::copy(entry.path(), &to).with_context(|| format!("copying to {}", to.display()))?;
        }
    }
    Ok(())
}

/// Shares the verified source downloads with a build (hard links, else copies): the
/// build verifies each against its pin anyway, and fetching 150 MB twice proves nothing
/// about reproducibility.
fn seed_downloads(from: &Path, to: &Path) -> Result<()> {
    if !from.is_dir() {
        return Ok(());
    }
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry?;
        let rel = entry.path().strip_prefix(from).expect("under from");
        let name = rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with('.') || name.ends_with(".bad") {
            continue; // temporary or rejected files
        }
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest)?;
        } else if std::fs::hard_link(entry.path(), &dest).is_err() {
            std::fs::copy(entry.path(), &dest).with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_first_artifact_that_differs_in_build_order() {
        let a = "11  kiln-init\n22  busybox\n33  initrd.img\n44  iso\n";
        let b = "11  kiln-init\n22  busybox\n3x  initrd.img\n4x  iso\n";
        let c = compare(a, b).unwrap();
        assert_eq!(c.first_difference.as_deref(), Some("initrd.img"));
        assert_eq!(c.lines.len(), 4);
        assert!(c.lines[3].starts_with("DIFF  iso"), "{:?}", c.lines);
        assert!(compare(a, a).unwrap().first_difference.is_none());
    }

    #[test]
    fn different_artifact_lists_are_an_error() {
        let err = compare("11  kiln-init\n", "11  kiln-init\n22  iso\n").err().unwrap();
        assert!(err.to_string().contains("different artifacts"), "{err}");
        assert!(compare("no separator\n", "").is_err());
    }

    #[test]
    fn copies_the_checkout_without_build_outputs() {
        let root = tempfile::tempdir().unwrap();
        for f in ["Cargo.toml", "crates/init/src/main.rs", "target/debug/x", "out/kiln.iso", ".git/HEAD", "images/out/keep"] {
            let p = root.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, f).unwrap();
        }
        let dest = tempfile::tempdir().unwrap();
        copy_checkout(root.path(), &dest.path().join("k")).unwrap();
        let k = dest.path().join("k");
        assert!(k.join("crates/init/src/main.rs").is_file() && k.join("images/out/keep").is_file());
        assert!(!k.join("target").exists() && !k.join("out").exists() && !k.join(".git").exists());
    }
}
