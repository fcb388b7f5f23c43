//! `cargo xtask deps`: installs the host packages from `ci/packages.toml` with apt, and
//! the `deb-src` entry that the Debian source providers need.

use crate::ctx::Ctx;
use crate::doctor::{packages, present};
use anyhow::{bail, Context, Result};
use kiln_build::host;

const DEB_SRC_FILE: &str = "/etc/apt/sources.list.d/kiln-deb-src.sources";
const DEB_SRC: &str = "# Added by `cargo xtask deps`: Kiln fetches pinned source tarballs with `apt-get source`.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

fn has_deb_src() -> bool {
    let mut files = vec![std::path::PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        files.extend(dir.flatten().map(|e| e.path()));
    }
    files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).any(|text| {
        text.lines().map(str::trim).any(|l| l.starts_with("deb-src ") || (l.starts_with("Types:") && l.contains("deb-src")))
    })
}

pub fn run() -> Result<()> {
    let ctx = Ctx::new();
    let pkgs = packages(&ctx)?;
    let missing = host::missing(&pkgs, present);
    let need_src = !has_deb_src();
    if missing.is_empty() && !need_src {
        eprintln!("deps: all {} host packages are installed", pkgs.len());
        return Ok(());
    }
    if !nix_is_root() {
        bail!("deps: installing packages needs root; run `sudo cargo xtask deps` (or `cargo xtask doctor` to see what is missing)");
    }
    if need_src {
        eprintln!("deps: adding {DEB_SRC_FILE}");
        std::fs::write(DEB_SRC_FILE, DEB_SRC).with_context(|| format!("writing {DEB_SRC_FILE}"))?;
    }
    eprintln!("deps: apt-get update");
    ctx.run("apt-get", &["update", "-q"], &[]).context("apt-get update failed")?;
    let names: Vec<&str> = pkgs.iter().map(|p| p.name.as_str()).collect();
    eprintln!("deps: apt-get install {}", names.join(" "));
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(&names);
    ctx.run("apt-get", &args, &[("DEBIAN_FRONTEND", "noninteractive")]).context("apt-get install failed")?;
    let still = host::missing(&pkgs, present);
    if !still.is_empty() {
        let names: Vec<&str> = still.iter().map(|(p, _)| p.name.as_str()).collect();
        bail!("deps: still missing after install: {}", names.join(", "));
    }
    eprintln!("deps: done");
    Ok(())
}

fn nix_is_root() -> bool {
    // The real uid, from /proc: no libc binding needed for one number.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}
