//! Tool versions for cache keys, without running the tools on every build.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The first line of `TOOL --version`, asked now. Every call starts the tool: on a path
/// that runs on every build, use [`cached_tool_version`].
pub fn tool_version(tool: &str) -> Result<String> {
    ask_version(tool)
}

/// The first line of `TOOL --version`: part of every cache key that the tool affects.
///
/// Starting a compiler to ask costs tens of milliseconds on every run, so the answer is
/// remembered in `memo_dir`, under a name made of the path, size and modification time
/// of `tool` and of the programs in `runs` (the compiler a wrapper such as `musl-gcc`
/// runs, which is what prints the version), and of `$REALGCC`. An upgrade replaces
/// those files, so it gets a new name and the tool is asked again.
pub fn cached_tool_version(tool: &str, runs: &[&str], memo_dir: &Path) -> Result<String> {
    let mut stamp = Sha256::new();
    let realgcc = std::env::var("REALGCC").ok();
    let realgcc_path = realgcc.as_deref().and_then(on_path);
    let programs = std::iter::once(tool).chain(runs.iter().copied());
    for program in programs {
        let path = on_path(program).with_context(|| format!("{program} is not on PATH (is it installed? run `cargo xtask deps`)"))?;
        stamp_file(&mut stamp, &path)?;
    }
    stamp.update(realgcc.as_deref().unwrap_or_default());
    if let Some(path) = &realgcc_path {
        stamp_file(&mut stamp, path)?;
    }
    let stamp: String = stamp.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    let memo = memo_dir.join(format!("{tool}-{stamp}"));
    if let Ok(version) = std::fs::read_to_string(&memo) {
        return Ok(version);
    }
    let version = ask_version(tool)?;
    kiln_util::write_atomic(&memo, version.as_bytes())?;
    Ok(version)
}

fn ask_version(tool: &str) -> Result<String> {
    let out = duct::cmd!(tool, "--version")
        .stderr_to_stdout()
        .unchecked()
        .read()
        .with_context(|| format!("running {tool} --version (is it installed? run `cargo xtask deps`)"))?;
    Ok(out.lines().next().unwrap_or_default().to_string())
}

/// Where `program` is (resolving symlinks): itself if it has a slash, else the first
/// match on `PATH`.
fn on_path(program: &str) -> Option<PathBuf> {
    let found = if program.contains('/') {
        Some(PathBuf::from(program))
    } else {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file())
    };
    found.and_then(|p| std::fs::canonicalize(p).ok())
}

fn stamp_file(stamp: &mut Sha256, path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    stamp.update(path.as_os_str().as_encoded_bytes());
    stamp.update(meta.len().to_le_bytes());
    stamp.update(meta.mtime().to_le_bytes());
    stamp.update(meta.mtime_nsec().to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fake compiler that prints its version and counts how often it was asked.
    fn fake_tool(dir: &Path, version: &str) -> PathBuf {
        let tool = dir.join("fakecc");
        let count = dir.join("count");
        std::fs::write(&tool, format!("#!/bin/sh\necho x >> {}\necho '{version}'\necho second line\n", count.display())).unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        tool
    }

    fn asked(dir: &Path) -> usize {
        std::fs::read_to_string(dir.join("count")).unwrap_or_default().lines().count()
    }

    #[test]
    fn the_version_is_asked_once_until_the_tool_changes() {
        let dir = tempfile::tempdir().unwrap();
        let memo = dir.path().join("memo");
        let tool = fake_tool(dir.path(), "fakecc 1.0");
        let t = tool.to_str().unwrap();
        assert_eq!(cached_tool_version(t, &[], &memo).unwrap(), "fakecc 1.0");
        assert_eq!(cached_tool_version(t, &[], &memo).unwrap(), "fakecc 1.0");
        assert_eq!(asked(dir.path()), 1, "the second answer comes from the memo");

        // An upgrade: new contents, new size and mtime.
        let f = std::fs::File::options().write(true).open(fake_tool(dir.path(), "fakecc 2.0.1")).unwrap();
        f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5)).unwrap();
        drop(f); // a file open for writing cannot be run
        assert_eq!(cached_tool_version(t, &[], &memo).unwrap(), "fakecc 2.0.1");
        assert_eq!(asked(dir.path()), 2);
    }

    #[test]
    fn a_wrapped_compiler_changing_changes_the_answer() {
        let dir = tempfile::tempdir().unwrap();
        let memo = dir.path().join("memo");
        let tool = fake_tool(dir.path(), "wrapper 1");
        let inner = dir.path().join("inner");
        std::fs::write(&inner, b"v1").unwrap();
        let (t, i) = (tool.to_str().unwrap(), inner.to_str().unwrap());
        cached_tool_version(t, &[i], &memo).unwrap();
        std::fs::write(&inner, b"v2, bigger").unwrap();
        cached_tool_version(t, &[i], &memo).unwrap();
        assert_eq!(asked(dir.path()), 2, "the wrapped compiler is part of the memo's name");
    }

    #[test]
    fn a_missing_tool_says_how_to_install_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = cached_tool_version("no-such-compiler-kiln", &[], dir.path()).unwrap_err().to_string();
        assert!(err.contains("no-such-compiler-kiln") && err.contains("cargo xtask deps"), "{err}");
    }
}
