//! A compiler launcher (`ccache`, `sccache`, `distcc`, `icecc`) in front of the compilers
//! of the kernel and BusyBox builds, from the `KILN_CC_LAUNCHER` setting.
//!
//! A launcher changes how the compiler is reached, never what it makes, so it is kept out
//! of every cache key: a build made with it is a hit for a run without it, and the other
//! way round. Nothing else about the build changes: the same make targets, environment
//! and compiler, only `CC` (and the kernel's `HOSTCC`) gain the launcher as a prefix.

use anyhow::{bail, Result};
use std::ffi::OsStr;
use std::path::PathBuf;

/// The setting: the launcher's command, e.g. `ccache` or `distcc`; unset or empty for none.
pub const LAUNCHER_ENV: &str = "KILN_CC_LAUNCHER";

/// A launcher's command words (`ccache`, or `/usr/lib/icecc/bin/icecc`), checked to be
/// safe to put in a make variable: make would expand `$`, and quotes and `#` would
/// change the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launcher {
    words: Vec<String>,
}

impl Launcher {
    /// The launcher the setting's `value` (`KILN_CC_LAUNCHER`, if set) names, checked to
    /// be installed; `None` when unset or empty.
    pub fn from_setting(value: Option<&str>) -> Result<Option<Launcher>> {
        let launcher = Launcher::parse(value.unwrap_or_default())?;
        if let Some(l) = &launcher {
            l.check_installed(std::env::var_os("PATH").as_deref())?;
        }
        Ok(launcher)
    }

    /// Reads the setting's value: whitespace-separated words, the first the program.
    pub fn parse(value: &str) -> Result<Option<Launcher>> {
        let words: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
        if words.is_empty() {
            return Ok(None);
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_./+=,:@%".contains(c);
        if let Some(bad) = value.chars().find(|&c| !c.is_whitespace() && !allowed(c)) {
            bail!("{LAUNCHER_ENV}={value:?}: `{bad}` is not allowed (it goes into make's CC; use a wrapper script for anything fancy)");
        }
        Ok(Some(Launcher { words }))
    }

    /// The program that runs: the first word.
    pub fn program(&self) -> &str {
        &self.words[0]
    }

    /// Fails, naming the setting, unless the program is a file (with a slash) or on
    /// `path` (a `PATH` value).
    pub fn check_installed(&self, path: Option<&OsStr>) -> Result<PathBuf> {
        let program = self.program();
        let found = if program.contains('/') {
            Some(PathBuf::from(program)).filter(|p| p.is_file())
        } else {
            path.and_then(|p| std::env::split_paths(p).map(|d| d.join(program)).find(|p| p.is_file()))
        };
        match found {
            Some(p) => Ok(p),
            None => bail!(
                "{LAUNCHER_ENV}={}: `{program}` is not installed (not on PATH); install it (e.g. `apt-get install {}`) or unset {LAUNCHER_ENV}",
                self.words.join(" "),
                program.rsplit('/').next().unwrap_or(program)
            ),
        }
    }

    /// `LAUNCHER COMPILER`, the value of a make variable such as `CC`.
    pub fn wrap(&self, compiler: &str) -> String {
        format!("{} {compiler}", self.words.join(" "))
    }
}

/// The make variables that choose the compilers: `NAME=COMPILER` for each of `vars`, with
/// the launcher in front when there is one. With no launcher, variables whose compiler
/// is make's own default (`None`) are left out, so the command line is what it always was.
pub fn make_vars(launcher: Option<&Launcher>, vars: &[(&str, Option<&str>)], default_compiler: &str) -> Vec<String> {
    vars.iter()
        .filter_map(|(name, compiler)| match (launcher, compiler) {
            (Some(l), c) => Some(format!("{name}={}", l.wrap(c.unwrap_or(default_compiler)))),
            (None, Some(c)) => Some(format!("{name}={c}")),
            (None, None) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_words_and_empty() {
        assert_eq!(Launcher::parse("").unwrap(), None);
        assert_eq!(Launcher::parse("  \t").unwrap(), None);
        let l = Launcher::parse(" ccache ").unwrap().unwrap();
        assert_eq!(l.program(), "ccache");
        assert_eq!(l.wrap("gcc"), "ccache gcc");
        let l = Launcher::parse("/usr/bin/distcc  -j4").unwrap().unwrap();
        assert_eq!(l.wrap("musl-gcc"), "/usr/bin/distcc -j4 musl-gcc");
    }

    #[test]
    fn parse_rejects_what_make_or_a_shell_would_interpret() {
        for bad in ["ccache $(rm)", "cc'ache", "ccache;ls", "ccache # x", "a\\b", "\"ccache\""] {
            let err = Launcher::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("KILN_CC_LAUNCHER="), "{err}");
        }
    }

    #[test]
    fn missing_launcher_names_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let l = Launcher::parse("kiln-no-such-launcher").unwrap().unwrap();
        let err = l.check_installed(Some(dir.path().as_os_str())).unwrap_err().to_string();
        assert!(err.contains("KILN_CC_LAUNCHER=kiln-no-such-launcher") && err.contains("not installed"), "{err}");
        assert!(err.contains("unset KILN_CC_LAUNCHER"), "{err}");
        assert!(l.check_installed(None).is_err());
        let abs = Launcher::parse("/nonexistent/ccache").unwrap().unwrap();
        assert!(abs.check_installed(Some(dir.path().as_os_str())).unwrap_err().to_string().contains("apt-get install ccache"));

        let fake = dir.path().join("kiln-no-such-launcher");
        std::fs::write(&fake, "#!/bin/sh\n").unwrap();
        assert_eq!(l.check_installed(Some(dir.path().as_os_str())).unwrap(), fake);
    }

    #[test]
    fn make_vars_with_and_without_launcher() {
        let kernel = [("CC", None), ("HOSTCC", None)];
        assert!(make_vars(None, &kernel, "gcc").is_empty(), "no launcher: make's defaults, as before");
        let ccache = Launcher::parse("ccache").unwrap();
        assert_eq!(make_vars(ccache.as_ref(), &kernel, "gcc"), ["CC=ccache gcc", "HOSTCC=ccache gcc"]);
        let busybox = [("CC", Some("musl-gcc"))];
        assert_eq!(make_vars(None, &busybox, "gcc"), ["CC=musl-gcc"]);
        assert_eq!(make_vars(ccache.as_ref(), &busybox, "gcc"), ["CC=ccache musl-gcc"]);
    }
}
