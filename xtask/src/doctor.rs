//! `cargo xtask doctor`: what is missing on this host, and which apt package has it.

use crate::ctx::Ctx;
use anyhow::{bail, Result};
use kiln_build::host::{self, HostPackage};

pub fn present(thing: &str) -> bool {
    if thing.starts_with('/') {
        std::path::Path::new(thing).exists()
    } else {
        which::which(thing).is_ok()
    }
}

pub fn packages(ctx: &Ctx) -> Result<Vec<HostPackage>> {
    host::load(&ctx.root.join("ci/packages.toml"))
}

pub fn run() -> Result<()> {
    let ctx = Ctx::new();
    let pkgs = packages(&ctx)?;
    let missing = host::missing(&pkgs, present);
    for p in &pkgs {
        let gone = missing.iter().find(|(m, _)| m.name == p.name).map(|(_, g)| g.join(", "));
        match gone {
            None => println!("ok       {:<28} {}{}", p.name, if p.tests { "(tests) " } else { "" }, p.why),
            Some(g) => println!("MISSING  {:<28} {}{} (no {g})", p.name, if p.tests { "(tests) " } else { "" }, p.why),
        }
    }
    if !missing.is_empty() {
        bail!("{} host package(s) missing; install them with `cargo xtask deps`", missing.len());
    }
    println!("everything Kiln needs is installed");
    Ok(())
}

/// Fails naming each missing tool a build needs and the apt package that provides it
/// (packages marked `tests = true` are the tests' and benchmarks' to require).
pub fn require_host_tools(ctx: &Ctx) -> Result<()> {
    let pkgs: Vec<HostPackage> = packages(ctx)?.into_iter().filter(|p| !p.tests).collect();
    let missing = host::missing(&pkgs, present);
    if missing.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> =
        missing.iter().map(|(p, gone)| format!("  {} (apt-get install {})", gone.join(", "), p.name)).collect();
    bail!("missing host tools:\n{}\nrun `cargo xtask deps` to install them all", lines.join("\n"))
}
