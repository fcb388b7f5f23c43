//! Output files written atomically: through a temporary name in the same directory,
//! then renamed, so a reader (or an interrupted run) never sees a half-written file.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Writes `data` to `dest` through a temporary file in the same directory, so a reader
/// (or an interrupted run) never sees a half-written file.
pub fn write_atomic(dest: &Path, data: &[u8]) -> Result<()> {
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = tmp_name(dest);
    std::fs::write(&tmp, data).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, dest).with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()))
}

/// Copies `src` to `dest` atomically.
pub fn copy_atomic(src: &Path, dest: &Path) -> Result<()> {
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = tmp_name(dest);
    std::fs::copy(src, &tmp).with_context(|| format!("copying {} to {}", src.display(), tmp.display()))?;
    std::fs::rename(&tmp, dest).with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()))
}

/// `DIR/.NAME.PID.tmp`: hidden, in the same directory (so rename is atomic), per process.
/// A caller that needs more temporaries derives them with `with_extension` (`.NAME.PID.d`).
///
/// It also deletes the temporaries of `dest` that runs which died left behind
/// (`.NAME.PID.*` of a pid that no longer runs), so an interrupted run costs no space
/// after the next one.
pub fn tmp_name(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = format!(".{name}.");
    if let Some(dir) = dest.parent() {
        crate::stale::remove_dead(dir, |n| crate::stale::pid_between(n, &prefix));
    }
    dest.with_file_name(format!("{prefix}{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/out.bin");
        write_atomic(&dest, b"one").unwrap();
        write_atomic(&dest, b"two").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
    }

    #[test]
    fn temporaries_of_dead_runs_are_removed_on_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("kiln.iso");
        let dead = crate::stale::dead_pid();
        let file = dir.path().join(format!(".kiln.iso.{dead}.tmp"));
        let tree = dir.path().join(format!(".kiln.iso.{dead}.d"));
        let live = dir.path().join(format!(".kiln.iso.{}.d", std::process::id()));
        let other = dir.path().join(format!(".other.iso.{dead}.tmp"));
        std::fs::write(&file, b"half an iso").unwrap();
        std::fs::create_dir_all(tree.join("boot")).unwrap();
        std::fs::create_dir_all(&live).unwrap();
        std::fs::write(&other, b"x").unwrap();
        assert_eq!(tmp_name(&dest).with_extension("d"), live, "a derived name keeps the pid");
        write_atomic(&dest, b"iso").unwrap();
        assert!(!file.exists() && !tree.exists(), "left by a dead run");
        assert!(live.exists() && other.exists(), "a live run's, and another file's");
    }
}
