//! GRUB's module directories (`/usr/lib/grub/PLATFORM`): dependencies, and a copy whose
//! `net` module is a stub.
//!
//! GRUB 2.06's `normal` module (needed for a menu) depends on `net`, the whole network
//! stack (58 KiB in the BIOS core after lzma, 28 KiB xz'd for UEFI), for one function,
//! `grub_net_search_config_file`, which it calls only when `$prefix` is on `(tftp)`.
//! A slim ISO never boots from TFTP, so the copy's `net.mod` exports that function as
//! a no-op. Before using the stub, [`module_dir`] checks in the modules' symbol tables
//! that nothing else in the image needs `net`; if something does, it keeps the real one.

use crate::elf::{self, Class};
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where Debian's grub-pc-bin and grub-efi-amd64-bin install the modules.
pub const GRUB_LIB: &str = "/usr/lib/grub";

/// What the stub `net` exports.
pub const NET_STUB_FUNCTIONS: &[&str] = &["grub_net_search_config_file"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    I386Pc,
    X86_64Efi,
}

impl Platform {
    pub fn name(self) -> &'static str {
        match self {
            Platform::I386Pc => "i386-pc",
            Platform::X86_64Efi => "x86_64-efi",
        }
    }

    fn class(self) -> Class {
        match self {
            Platform::I386Pc => Class::Elf32,
            Platform::X86_64Efi => Class::Elf64,
        }
    }
}

/// `moddep.lst`: each module's direct dependencies.
pub fn parse_moddep(text: &str) -> BTreeMap<String, Vec<String>> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(m, deps)| (m.trim().to_string(), deps.split_whitespace().map(String::from).collect()))
        .collect()
}

/// `roots` and everything they depend on.
pub fn closure(deps: &BTreeMap<String, Vec<String>>, roots: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo: Vec<String> = roots.iter().map(|s| s.to_string()).collect();
    while let Some(m) = todo.pop() {
        if out.insert(m.clone()) {
            todo.extend(deps.get(&m).into_iter().flatten().cloned());
        }
    }
    out
}

/// A module directory for `platform` under `dest`, plus its dependency table. With
/// `stub_net`, `net.mod` is the stub if `modules` (with their dependencies) need nothing
/// else from `net`. Returns whether the stub is in.
pub fn module_dir(platform: Platform, dest: &Path, modules: &[&str], stub_net: bool) -> Result<(PathBuf, ModDeps, bool)> {
    let src = Path::new(GRUB_LIB).join(platform.name());
    let moddep_path = src.join("moddep.lst");
    let text = std::fs::read_to_string(&moddep_path)
        .with_context(|| format!("reading {} (is {} installed?)", moddep_path.display(), package(platform)))?;
    let mut deps = parse_moddep(&text);
    let stub = stub_net && closure(&deps, modules).contains("net") && stub_suffices(&src, &deps, modules)?;
    if !stub {
        return Ok((src, ModDeps(deps), false));
    }
    let dir = dest.join(platform.name());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for e in std::fs::read_dir(&src).with_context(|| format!("listing {}", src.display()))? {
        let e = e?;
        let name = e.file_name();
        if name != "net.mod" && name != "moddep.lst" {
            std::os::unix::fs::symlink(e.path(), dir.join(&name)).with_context(|| format!("linking {}", e.path().display()))?;
        }
    }
    std::fs::write(dir.join("net.mod"), elf::stub_module(platform.class(), "net", NET_STUB_FUNCTIONS))?;
    deps.insert("net".into(), Vec::new());
    let lst: String = deps.iter().map(|(m, d)| format!("{m}: {}\n", d.join(" "))).collect();
    std::fs::write(dir.join("moddep.lst"), lst.replace(": \n", ":\n"))?;
    Ok((dir, ModDeps(deps), true))
}

/// A module directory's dependency table.
pub struct ModDeps(pub BTreeMap<String, Vec<String>>);

impl ModDeps {
    pub fn closure(&self, roots: &[&str]) -> BTreeSet<String> {
        closure(&self.0, roots)
    }
}

/// Whether the modules that would load with `modules` use nothing from `net` beyond
/// what the stub exports.
fn stub_suffices(src: &Path, deps: &BTreeMap<String, Vec<String>>, modules: &[&str]) -> Result<bool> {
    let read = |m: &str| -> Result<elf::Symbols> {
        let p = src.join(format!("{m}.mod"));
        elf::symbols(&std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?)
            .with_context(|| format!("reading the symbols of {}", p.display()))
    };
    let net: BTreeSet<String> = read("net")?.defined.into_iter().collect();
    let mut users = closure(deps, modules);
    // net's own dependencies leave with it; only modules outside net need checking.
    users.remove("net");
    for m in &users {
        for sym in read(m)?.undefined {
            if net.contains(&sym) && !NET_STUB_FUNCTIONS.contains(&sym.as_str()) {
                eprintln!("  iso: {m}.mod uses {sym} from net.mod; keeping GRUB's network stack");
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn package(p: Platform) -> &'static str {
    match p {
        Platform::I386Pc => "grub-pc-bin",
        Platform::X86_64Efi => "grub-efi-amd64-bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closure_follows_dependencies() {
        let deps = parse_moddep("normal: extcmd net\nnet: bufio\nextcmd:\nbufio:\nlinux: normal\n");
        let all: Vec<String> = closure(&deps, &["linux"]).into_iter().collect();
        assert_eq!(all, ["bufio", "extcmd", "linux", "net", "normal"]);
    }

    #[test]
    fn the_stub_replaces_net_for_a_menu() {
        let moddep = format!("{GRUB_LIB}/x86_64-efi/moddep.lst");
        let bios = format!("{GRUB_LIB}/i386-pc/moddep.lst");
        if !kiln_util::host::require(&[], &[&moddep, &bios], "cargo xtask deps: grub-pc-bin, grub-efi-amd64-bin") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        for p in [Platform::I386Pc, Platform::X86_64Efi] {
            let (d, deps, stub) = module_dir(p, dir.path(), &["normal", "linux", "serial"], true).unwrap();
            assert!(stub, "{p:?}");
            assert!(deps.0["net"].is_empty() && d.join("normal.mod").exists());
            assert!(!deps.closure(&["normal"]).contains("priority_queue"), "net's own deps are gone");
        }
    }
}
