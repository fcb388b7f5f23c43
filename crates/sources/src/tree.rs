//! Extracted source trees in the cache (`CACHE/src/NAME-SHA16`), made only when a build
//! needs one, and locked so that two runs never extract or delete a tree the other uses.

use crate::extract::extract_tarball;
use crate::fetch::{Fetched, Fetcher};
use crate::spec::Source;
use crate::{io_err, Error, Result};
use kiln_util::{lock_path, Lock, Mode};
use std::path::{Path, PathBuf};

/// An extracted source tree, locked shared while this value lives.
#[derive(Debug)]
pub struct Tree {
    pub dir: PathBuf,
    /// The pinned sha256 of the tarball it came from.
    pub sha256: String,
    _lock: Lock,
}

/// The extracted tree of the tarball pinned as `sha256`: `TREES/NAME-SHA16`. When it is not
/// there, `fetch` supplies the tarball, which is checked against `sha256` as it is
/// extracted. The tree is extracted under an exclusive lock (`TREES/NAME-SHA16.lock`), so
/// a second run wanting it waits instead of extracting it again over the first one's.
pub fn unpacked(trees: &Path, name: &str, sha256: &str, fetch: impl FnOnce() -> Result<Fetched>) -> Result<Tree> {
    let sha256 = sha256.to_lowercase();
    let short = sha256.get(..16).ok_or_else(|| Error::Other(format!("{name}: sha256 {sha256:?} is too short")))?;
    let dir = trees.join(format!("{name}-{short}"));
    let lock_file = lock_path(&dir);
    let locking = io_err(format!("locking {}", lock_file.display()));
    let shared = Lock::acquire(&lock_file, Mode::Shared).map_err(locking)?;
    if dir.is_dir() {
        return Ok(Tree { dir, sha256, _lock: shared });
    }
    drop(shared);
    let mut lock = Lock::acquire(&lock_file, Mode::Exclusive).map_err(io_err(format!("locking {}", lock_file.display())))?;
    if !dir.is_dir() {
        remove_extractions_of(trees, &dir);
        let tarball = fetch()?;
        extract_tarball(&tarball.path, &sha256, &dir)?;
    }
    lock.downgrade().map_err(io_err(format!("locking {}", lock_file.display())))?;
    Ok(Tree { dir, sha256, _lock: lock })
}

/// Deletes what runs that died left in the cache: extractions in `trees`
/// (`.NAME-SHA16.extract-PID`, and the older `.extract-PID`) and download work
/// directories in `downloads` (`NAME-VERSION/.tmp-PID`) whose process no longer runs.
/// Cheap (a few directory listings): call it on every run.
pub fn remove_leftovers(trees: &Path, downloads: &Path) -> Vec<PathBuf> {
    use kiln_util::stale::{pid_between, remove_dead};
    let mut removed = remove_dead(trees, |n| {
        let (_, pid) = n.strip_prefix('.')?.rsplit_once(".extract-")?;
        pid_between(pid, "")
    });
    removed.extend(remove_dead(trees, |n| pid_between(n, ".extract-")));
    for entry in std::fs::read_dir(downloads).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            removed.extend(remove_dead(&entry.path(), |n| pid_between(n, ".tmp-")));
        }
    }
    removed
}

/// Extractions that runs which died left behind: of `dir` (we hold its lock, so any is
/// stale), and those of the old unnamed form `.extract-PID` whose process is gone.
fn remove_extractions_of(trees: &Path, dir: &Path) {
    let ours = dir.file_name().map(|n| format!(".{}.extract-", n.to_string_lossy())).unwrap_or_default();
    for stale in std::fs::read_dir(trees).into_iter().flatten().flatten() {
        if stale.file_name().to_string_lossy().starts_with(&ours) {
            let _ = std::fs::remove_dir_all(stale.path());
        }
    }
    kiln_util::stale::remove_dead(trees, |n| kiln_util::stale::pid_between(n, ".extract-"));
}

/// A pinned source whose tree is fetched and extracted only when a build needs it.
/// Knowing its identity (the pin) reads nothing.
pub struct Pinned<'a> {
    fetcher: &'a Fetcher,
    name: String,
    source: &'a Source,
    trees: PathBuf,
}

impl<'a> Pinned<'a> {
    /// `trees` is where extracted trees live (`CACHE/src`).
    pub fn new(fetcher: &'a Fetcher, name: &str, source: &'a Source, trees: &Path) -> Pinned<'a> {
        Pinned { fetcher, name: name.to_string(), source, trees: trees.to_owned() }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.source.version
    }

    /// The pinned sha256 of the tarball, from `sources.toml`.
    pub fn sha256(&self) -> String {
        self.source.sha256()
    }

    /// The extracted tree: fetched, verified and extracted now unless already there.
    pub fn unpack(&self) -> Result<Tree> {
        unpacked(&self.trees, &self.name, &self.sha256(), || self.fetcher.fetch(&self.name, self.source))
    }
}

#[cfg(test)]
mod tests;
