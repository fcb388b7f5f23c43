//! Content keys for cached build steps, and atomic output files.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Builds a cache key from everything a step's output depends on. Each part is
/// length-prefixed, so `("ab","c")` and `("a","bc")` differ.
#[derive(Clone, Default)]
pub struct Key(Sha256);

impl Key {
    pub fn new(step: &str) -> Key {
        let mut k = Key(Sha256::new());
        k.add(step);
        k
    }

    pub fn add(&mut self, part: impl AsRef<[u8]>) -> &mut Self {
        let part = part.as_ref();
        self.0.update((part.len() as u64).to_le_bytes());
        self.0.update(part);
        self
    }

    pub fn add_file(&mut self, path: &Path) -> Result<&mut Self> {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        self.add(path.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
        Ok(self.add(data))
    }

    /// The full hex digest.
    pub fn finish(&self) -> String {
        self.0.clone().finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The first 16 hex digits: enough to name a cache directory.
    pub fn short(&self) -> String {
        self.finish()[..16].to_string()
    }
}

/// The build directory of one cache key. It is reused only when its `kiln-done` marker
/// exists: a tree left by an interrupted or failed build is deleted and started over.
pub struct BuildDir {
    pub dir: std::path::PathBuf,
    done: std::path::PathBuf,
}

impl BuildDir {
    /// `ROOT/NAME-KEY16`.
    pub fn new(root: &Path, name: &str, key: &Key) -> BuildDir {
        let dir = root.join(format!("{name}-{}", key.short()));
        BuildDir { done: dir.join("kiln-done"), dir }
    }

    /// Whether a finished build is there, with all of `outputs`.
    pub fn is_done(&self, outputs: &[&Path]) -> bool {
        self.done.exists() && outputs.iter().all(|p| p.exists())
    }

    /// Deletes whatever is there and creates the directory empty.
    pub fn reset(&self) -> Result<()> {
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).with_context(|| format!("removing {}", self.dir.display()))?;
        }
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))
    }

    /// Marks the build finished (the last thing a build does).
    pub fn mark_done(&self, key: &Key) -> Result<()> {
        std::fs::write(&self.done, key.finish()).with_context(|| format!("writing {}", self.done.display()))
    }
}

/// Writes `data` to `dest` through a temporary file in the same directory, so a reader
/// (or an interrupted run) never sees a half-written file.
pub fn write_atomic(dest: &Path, data: &[u8]) -> Result<()> {
    let tmp = tmp_name(dest);
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&tmp, data).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, dest).with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()))
}

/// Copies `src` to `dest` atomically.
pub fn copy_atomic(src: &Path, dest: &Path) -> Result<()> {
    let tmp = tmp_name(dest);
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::copy(src, &tmp).with_context(|| format!("copying {} to {}", src.display(), tmp.display()))?;
    std::fs::rename(&tmp, dest).with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()))
}

/// `DIR/.NAME.tmp-PID`: hidden, in the same directory (so rename is atomic), per process.
pub fn tmp_name(dest: &Path) -> std::path::PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_depends_on_every_part_and_its_boundaries() {
        let k = |parts: &[&str]| {
            let mut k = Key::new("step");
            for p in parts {
                k.add(p);
            }
            k.finish()
        };
        assert_eq!(k(&["a", "b"]), k(&["a", "b"]));
        assert_ne!(k(&["ab", "c"]), k(&["a", "bc"]));
        assert_ne!(k(&["a"]), k(&["b"]));
        assert_ne!(Key::new("kernel").short(), Key::new("busybox").short());
        assert_eq!(Key::new("x").short().len(), 16);
    }

    #[test]
    fn build_dir_is_reused_only_when_done() {
        let root = tempfile::tempdir().unwrap();
        let key = Key::new("k");
        let b = BuildDir::new(root.path(), "linux", &key);
        let out = b.dir.join("bzImage");
        b.reset().unwrap();
        std::fs::write(&out, b"half").unwrap();
        assert!(!b.is_done(&[&out]), "no marker: an interrupted build");
        b.mark_done(&key).unwrap();
        assert!(b.is_done(&[&out]));
        b.reset().unwrap();
        assert!(!out.exists() && !b.is_done(&[]));
    }

    #[test]
    fn atomic_write_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/out.bin");
        write_atomic(&dest, b"one").unwrap();
        write_atomic(&dest, b"two").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
    }
}
