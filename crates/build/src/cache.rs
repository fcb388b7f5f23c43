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

/// How many finished builds of one step (kernel, BusyBox, ...) the cache keeps: the
/// most recently used. Older ones are deleted when a new one finishes.
pub const KEEP_BUILDS: usize = 3;

const DONE: &str = "kiln-done";

/// The build directory of one cache key. It is reused only when its `kiln-done` marker
/// exists: a tree left by an interrupted or failed build is deleted and started over.
/// The marker's mtime records the last use, for [`prune`].
pub struct BuildDir {
    pub dir: std::path::PathBuf,
    done: std::path::PathBuf,
    root: std::path::PathBuf,
    name: String,
}

impl BuildDir {
    /// `ROOT/NAME-KEY16`.
    pub fn new(root: &Path, name: &str, key: &Key) -> BuildDir {
        let dir = root.join(format!("{name}-{}", key.short()));
        BuildDir { done: dir.join(DONE), dir, root: root.to_owned(), name: name.to_owned() }
    }

    /// Whether a finished build is there, with all of `outputs`. A hit counts as a use.
    pub fn is_done(&self, outputs: &[&Path]) -> bool {
        let done = self.done.exists() && outputs.iter().all(|p| p.exists());
        if done {
            let _ = touch(&self.done);
        }
        done
    }

    /// Deletes whatever is there and creates the directory empty.
    pub fn reset(&self) -> Result<()> {
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).with_context(|| format!("removing {}", self.dir.display()))?;
        }
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))
    }

    /// Marks the build finished (the last thing a build does), then deletes this step's
    /// finished builds beyond the [`KEEP_BUILDS`] most recently used.
    pub fn mark_done(&self, key: &Key) -> Result<()> {
        std::fs::write(&self.done, key.finish()).with_context(|| format!("writing {}", self.done.display()))?;
        prune(&self.root, &self.name, KEEP_BUILDS)?;
        Ok(())
    }
}

fn touch(path: &Path) -> std::io::Result<()> {
    std::fs::File::options().write(true).open(path)?.set_modified(std::time::SystemTime::now())
}

/// Deletes the finished `ROOT/NAME-KEY16` build directories of step `name` beyond the
/// `keep` most recently used; returns what it deleted. Unfinished directories are left
/// alone: another run may be building there.
pub fn prune(root: &Path, name: &str, keep: usize) -> Result<Vec<std::path::PathBuf>> {
    let mut finished = Vec::new();
    for entry in std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
        let path = entry?.path();
        let ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(name)?.strip_prefix('-'))
            .is_some_and(|key| key.len() == 16 && key.bytes().all(|b| b.is_ascii_hexdigit()));
        if let (true, Ok(meta)) = (ours, std::fs::metadata(path.join(DONE))) {
            finished.push((meta.modified()?, path));
        }
    }
    finished.sort_by(|a, b| b.cmp(a));
    let old: Vec<_> = finished.into_iter().skip(keep).map(|(_, p)| p).collect();
    for dir in &old {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing old build {}", dir.display()))?;
    }
    Ok(old)
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
    fn prune_keeps_the_most_recently_used_finished_builds_of_one_step() {
        let root = tempfile::tempdir().unwrap();
        let t0 = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        let mut dirs = Vec::new();
        for i in 0..4u64 {
            let b = BuildDir::new(root.path(), "linux", &Key::new(&i.to_string()));
            b.reset().unwrap();
            std::fs::write(&b.done, "k").unwrap();
            std::fs::File::options().write(true).open(&b.done).unwrap().set_modified(t0 + std::time::Duration::from_secs(i)).unwrap();
            dirs.push(b);
        }
        // Used again now: the oldest build becomes the newest.
        assert!(dirs[0].is_done(&[]));
        let unfinished = BuildDir::new(root.path(), "linux", &Key::new("busy"));
        unfinished.reset().unwrap();
        let other_step = BuildDir::new(root.path(), "linux-headers", &Key::new("h"));
        other_step.reset().unwrap();
        std::fs::write(&other_step.done, "k").unwrap();

        let removed = prune(root.path(), "linux", 2).unwrap();
        assert_eq!(removed, [dirs[2].dir.clone(), dirs[1].dir.clone()]);
        for kept in [&dirs[0].dir, &dirs[3].dir, &unfinished.dir, &other_step.dir] {
            assert!(kept.exists(), "{}", kept.display());
        }
    }
}
