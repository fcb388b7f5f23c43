//! Leftovers of runs that died (Ctrl-C, a crash, a power cut): temporary files and
//! trees whose name carries the pid of the process that made them.

use std::path::{Path, PathBuf};

/// Whether a process with this pid runs on this host.
pub fn pid_alive(pid: u32) -> bool {
    pid != 0 && Path::new("/proc").join(pid.to_string()).exists()
}

/// Deletes the entries (files or trees) of `dir` for which `pid_of(name)` is the pid of a
/// process that no longer runs; returns what it deleted. An entry of a live process, or
/// one whose name `pid_of` does not recognise, is left alone.
pub fn remove_dead(dir: &Path, pid_of: impl Fn(&str) -> Option<u32>) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(&pid_of) else { continue };
        if pid_alive(pid) {
            continue;
        }
        let path = entry.path();
        let gone = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
        if gone.is_ok() {
            removed.push(path);
        }
    }
    removed
}

/// The pid in `PREFIX<pid>SUFFIX`, where SUFFIX is empty or starts with a dot.
pub fn pid_between(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let digits = rest.split('.').next()?;
    let after = &rest[digits.len()..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || !(after.is_empty() || after.starts_with('.')) {
        return None;
    }
    digits.parse().ok()
}

/// A pid that is certainly not running (beyond the kernel's `pid_max`): for tests.
pub fn dead_pid() -> u32 {
    let max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(4_194_304);
    max + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pids_in_names() {
        assert_eq!(pid_between(".extract-123", ".extract-"), Some(123));
        assert_eq!(pid_between(".kiln.iso.77.tmp", ".kiln.iso."), Some(77));
        assert_eq!(pid_between(".kiln.iso.77.d", ".kiln.iso."), Some(77));
        assert_eq!(pid_between(".kiln.iso.x7.tmp", ".kiln.iso."), None);
        assert_eq!(pid_between(".extract-", ".extract-"), None);
        assert_eq!(pid_between("other", ".extract-"), None);
    }

    #[test]
    fn removes_only_what_dead_processes_left() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join(format!(".extract-{}", dead_pid()));
        let live = dir.path().join(format!(".extract-{}", std::process::id()));
        let other = dir.path().join("linux-0123456789abcdef");
        for d in [&dead, &live, &other] {
            std::fs::create_dir_all(d.join("sub")).unwrap();
        }
        let removed = remove_dead(dir.path(), |n| pid_between(n, ".extract-"));
        assert_eq!(removed, vec![dead.clone()]);
        assert!(!dead.exists() && live.exists() && other.exists());
    }
}
