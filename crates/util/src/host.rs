//! What tests need from the host, and what they do when it is missing.

use std::path::Path;

/// Whether `tool` is a file in one of `PATH`'s directories.
pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// For tests that need host tools or files: true when all are there. When one is
/// missing the test may skip (return early) on a developer's machine, but under CI
/// (`CI` set to anything but `false`/`0`) a skip would be a test that cannot fail, so
/// this panics, naming what is missing and how to install it.
pub fn require(tools: &[&str], files: &[&str], install: &str) -> bool {
    require_with(in_ci(), tools, files, install)
}

fn require_with(ci: bool, tools: &[&str], files: &[&str], install: &str) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|t| !on_path(t))
        .chain(files.iter().filter(|f| !Path::new(f).exists()))
        .copied()
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!("missing {} ({install})", missing.join(", "));
    if ci {
        panic!("{msg}: under CI a test may not skip");
    }
    eprintln!("skipped: {msg}");
    false
}

/// Whether this is a CI run (`CI=true`, as CI systems set it).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_tools_pass_and_missing_ones_skip_outside_ci() {
        assert!(on_path("sh"));
        assert!(require_with(true, &["sh"], &["/"], "apt-get install dash"));
        assert!(!require_with(false, &["kiln-no-such-tool"], &[], "nothing to install"));
        assert!(!require_with(false, &[], &["/kiln/no/such/file"], "nothing to install"));
    }

    #[test]
    #[should_panic(expected = "missing kiln-no-such-tool (apt-get install x): under CI a test may not skip")]
    fn missing_tools_fail_under_ci() {
        require_with(true, &["kiln-no-such-tool"], &[], "apt-get install x");
    }
}
