//! The one list of host packages (`ci/packages.toml`), used by `deps` and `doctor`.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HostPackage {
    pub name: String,
    pub provides: Vec<String>,
    pub why: String,
    /// Needed only by tests and benchmarks (`tests = true`): `deps` installs it and
    /// `doctor` checks it, but a build does not require it.
    #[serde(default)]
    pub tests: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    package: Vec<HostPackage>,
}

pub fn load(path: &Path) -> Result<Vec<HostPackage>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text).with_context(|| format!("in {}", path.display()))
}

pub fn parse(text: &str) -> Result<Vec<HostPackage>> {
    Ok(toml::from_str::<File>(text)?.package)
}

/// For each package, the things it should provide that are missing, according to
/// `present` (which answers for a command name or an absolute path).
pub fn missing(packages: &[HostPackage], present: impl Fn(&str) -> bool) -> Vec<(&HostPackage, Vec<&str>)> {
    packages
        .iter()
        .filter_map(|p| {
            let gone: Vec<&str> = p.provides.iter().map(String::as_str).filter(|x| !present(x)).collect();
            (!gone.is_empty()).then_some((p, gone))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repo_list_parses_and_names_what_kiln_runs() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ci/packages.toml");
        let pkgs = load(&path).unwrap();
        let provides: Vec<&str> = pkgs.iter().flat_map(|p| p.provides.iter().map(String::as_str)).collect();
        for tool in ["qemu-system-x86_64", "xorriso", "musl-gcc", "make", "/usr/share/ovmf/OVMF.fd", "rsync"] {
            assert!(provides.contains(&tool), "{tool} is not provided by any host package");
        }
    }

    #[test]
    fn reports_missing_with_package() {
        let pkgs = parse("[[package]]\nname='a'\nprovides=['x','/y']\nwhy='w'\n[[package]]\nname='b'\nprovides=['z']\nwhy='w'\n").unwrap();
        let m = missing(&pkgs, |t| t == "x" || t == "z");
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].0.name.as_str(), m[0].1.clone()), ("a", vec!["/y"]));
    }

    #[test]
    fn typo_is_an_error() {
        let e = parse("[[package]]\nname='a'\nprovide=['x']\nwhy='w'\n").unwrap_err().to_string();
        assert!(e.contains("provide"), "{e}");
    }
}
