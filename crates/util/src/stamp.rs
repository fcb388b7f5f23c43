//! Output files cached by a key of their inputs, like the kernel's build directories but
//! for files written straight into `out/`: a hidden sidecar `.NAME.key` beside the
//! output holds the key and the size and mtime the output had when it was written, so
//! an output that was replaced or touched since is rebuilt too.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// One output file and the key of the inputs it must have been made from.
pub struct Stamped {
    out: PathBuf,
    stamp: PathBuf,
    key: String,
}

impl Stamped {
    pub fn new(out: &Path, key: impl Into<String>) -> Stamped {
        let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Stamped { out: out.to_owned(), stamp: out.with_file_name(format!(".{name}.key")), key: key.into() }
    }

    /// Forgets what `out` was made from, so the next build remakes it (benchmarks use
    /// it to time a rebuild as if an input had changed).
    pub fn invalidate(out: &Path) -> Result<()> {
        let s = Stamped::new(out, "");
        match std::fs::remove_file(&s.stamp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", s.stamp.display()))
            }
            _ => Ok(()),
        }
    }

    /// Whether the output is there, made from these inputs and unchanged since.
    pub fn is_fresh(&self) -> bool {
        let Ok(recorded) = std::fs::read_to_string(&self.stamp) else { return false };
        describe(&self.out).is_some_and(|d| recorded == format!("{}\n{d}\n", self.key))
    }

    /// Records that the output (already in place) was made from these inputs.
    pub fn record(&self) -> Result<()> {
        let d = describe(&self.out).with_context(|| format!("{} was not written", self.out.display()))?;
        crate::write_atomic(&self.stamp, format!("{}\n{d}\n", self.key).as_bytes())
    }

    /// Runs `make` unless the output is fresh, then records it. Returns whether the
    /// output came from the cache. The stamp is removed first, so a failed or
    /// interrupted `make` leaves no stamp that could vouch for a stale output.
    pub fn get_or_make(&self, make: impl FnOnce() -> Result<()>) -> Result<bool> {
        if self.is_fresh() {
            return Ok(true);
        }
        match std::fs::remove_file(&self.stamp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", self.stamp.display())),
        }
        make()?;
        self.record()?;
        Ok(false)
    }
}

/// `SIZE MTIME_NS` of a file, or `None` if it is not a file.
fn describe(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_nanos();
    Some(format!("{} {mtime}", meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilds_only_when_the_key_or_the_output_changed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("initrd.img");
        let make = |text: &'static str| {
            let out = out.clone();
            move || crate::write_atomic(&out, text.as_bytes())
        };
        assert!(!Stamped::new(&out, "k1").get_or_make(make("one")).unwrap(), "first build");
        assert!(Stamped::new(&out, "k1").get_or_make(make("two")).unwrap(), "same inputs: cached");
        assert_eq!(std::fs::read(&out).unwrap(), b"one");
        assert!(!Stamped::new(&out, "k2").get_or_make(make("three")).unwrap(), "new inputs");
        assert_eq!(std::fs::read(&out).unwrap(), b"three");
        // Someone replaced the output: its size differs from the record.
        Stamped::invalidate(&out).unwrap();
        assert!(!Stamped::new(&out, "k2").is_fresh(), "invalidated");
        Stamped::new(&out, "k2").record().unwrap();
        std::fs::write(&out, b"edited by hand").unwrap();
        assert!(!Stamped::new(&out, "k2").is_fresh());
        std::fs::remove_file(&out).unwrap();
        assert!(!Stamped::new(&out, "k2").is_fresh(), "output gone");
    }

    #[test]
    fn a_failed_build_leaves_no_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("kiln.iso");
        let s = Stamped::new(&out, "k");
        s.get_or_make(|| crate::write_atomic(&out, b"good")).unwrap();
        let failed = Stamped::new(&out, "k2").get_or_make(|| anyhow::bail!("xorriso failed"));
        assert!(failed.is_err());
        assert!(!dir.path().join(".kiln.iso.key").exists());
        assert!(!Stamped::new(&out, "k").is_fresh(), "the old stamp is gone too: rebuild next time");
    }
}
