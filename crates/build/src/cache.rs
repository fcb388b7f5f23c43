//! Content keys for cached build steps, and build directories that two runs sharing one
//! cache can use at once.

use anyhow::{Context, Result};
use kiln_util::{lock_path, Lock, Mode};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

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

/// The build directory of one cache key, `ROOT/NAME-KEY16`, guarded by the lock file
/// `ROOT/NAME-KEY16.lock`: a run using a finished build holds it shared, a run building
/// holds it exclusively. A build is reused only when its `kiln-done` marker exists; the
/// marker's mtime records the last use, for [`prune`].
pub struct BuildDir {
    pub dir: PathBuf,
    done: PathBuf,
    root: PathBuf,
    name: String,
}

/// What [`BuildDir::claim`] found. Either way the lock stays held as long as the value
/// (or the lock taken out of it) lives, so nobody deletes or rebuilds the tree meanwhile.
#[derive(Debug)]
pub enum Claim {
    /// A finished build, locked shared.
    Done(Lock),
    /// An empty directory to build in, locked exclusively: finish with [`BuildDir::mark_done`].
    Build(Lock),
}

impl BuildDir {
    /// `ROOT/NAME-KEY16`.
    pub fn new(root: &Path, name: &str, key: &Key) -> BuildDir {
        let dir = root.join(format!("{name}-{}", key.short()));
        BuildDir { done: dir.join(DONE), dir, root: root.to_owned(), name: name.to_owned() }
    }

    pub fn lock_path(&self) -> PathBuf {
        lock_path(&self.dir)
    }

    fn finished(&self, outputs: &[&Path]) -> bool {
        self.done.exists() && outputs.iter().all(|p| p.exists())
    }

    /// Locks the build directory: shared when a finished build with all of `outputs` is
    /// there (a hit, which counts as a use), else exclusively, after waiting for any run
    /// that builds or uses it, with the directory emptied. Two runs that miss at once
    /// thus build once: the second waits, then finds the first one's build.
    pub fn claim(&self, outputs: &[&Path]) -> Result<Claim> {
        let lock_file = self.lock_path();
        let shared = Lock::acquire(&lock_file, Mode::Shared)?;
        if self.finished(outputs) {
            let _ = touch(&self.done);
            // Best effort: the trees of failed builds of this step go on the next run,
            // even one that builds nothing; a hit never fails over cleanup.
            let _ = prune(&self.root, &self.name, KEEP_BUILDS);
            return Ok(Claim::Done(shared));
        }
        drop(shared);
        let mut lock = Lock::acquire(&lock_file, Mode::Exclusive)?;
        if self.finished(outputs) {
            let _ = touch(&self.done);
            lock.downgrade()?;
            return Ok(Claim::Done(lock));
        }
        // Nobody else is in this tree: whatever is there was left by a failed or
        // interrupted build.
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).with_context(|| format!("removing {}", self.dir.display()))?;
        }
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        prune(&self.root, &self.name, KEEP_BUILDS)?;
        Ok(Claim::Build(lock))
    }

    /// Marks the build finished (the last thing a build does) and lets other runs share
    /// it, then deletes this step's builds that no run uses beyond the [`KEEP_BUILDS`]
    /// most recently used finished ones.
    pub fn mark_done(&self, key: &Key, lock: &mut Lock) -> Result<()> {
        std::fs::write(&self.done, key.finish()).with_context(|| format!("writing {}", self.done.display()))?;
        lock.downgrade()?;
        prune(&self.root, &self.name, KEEP_BUILDS)?;
        Ok(())
    }
}

fn touch(path: &Path) -> std::io::Result<()> {
    std::fs::File::options().write(true).open(path)?.set_modified(std::time::SystemTime::now())
}

/// Deletes, of step `name`'s `ROOT/NAME-KEY16` build directories, the finished ones
/// beyond the `keep` most recently used and the unfinished ones (left by a failed or
/// interrupted build); returns what it deleted. A directory whose lock another run holds
/// is left alone: that run builds or uses it.
pub fn prune(root: &Path, name: &str, keep: usize) -> Result<Vec<PathBuf>> {
    let mut finished = Vec::new();
    let mut unfinished = Vec::new();
    for entry in std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
        let entry = entry?;
        let path = entry.path();
        let ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(name)?.strip_prefix('-'))
            .is_some_and(|key| key.len() == 16 && key.bytes().all(|b| b.is_ascii_hexdigit()));
        if !ours || !entry.file_type()?.is_dir() {
            continue;
        }
        match std::fs::metadata(path.join(DONE)) {
            Ok(meta) => finished.push((meta.modified()?, path)),
            Err(_) => unfinished.push(path),
        }
    }
    finished.sort_by(|a, b| b.cmp(a));
    let candidates = finished.into_iter().skip(keep).map(|(_, p)| (p, true)).chain(unfinished.into_iter().map(|p| (p, false)));
    let mut removed = Vec::new();
    for (dir, was_done) in candidates {
        let Some(lock) = Lock::try_acquire(&lock_path(&dir), Mode::Exclusive)? else { continue };
        // Re-check under the lock: a build may have finished since the listing.
        if !dir.is_dir() || dir.join(DONE).exists() != was_done {
            continue;
        }
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing old build {}", dir.display()))?;
        lock.remove()?;
        removed.push(dir);
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests;
