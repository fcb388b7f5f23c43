//! Lock files (`images/NAME.lock`, like `Cargo.lock`): the digest each tag of a spec
//! resolved to. Builds use the locked digest; only an explicit update moves it.

use crate::Reference;
use kiln_oci::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const HEADER: &str = "# Written by Kiln: the digest each registry tag of the spec resolved to. Builds use\n\
# these digests; `cargo xtask iso --update` resolves the tags again. Keep it in git.\n";
const VERSION: u32 = 1;

/// What [`Lock::set`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Same,
    Added,
    Updated { old: Digest },
}

/// A lock file, loaded or new.
#[derive(Debug, Clone)]
pub struct Lock {
    path: PathBuf,
    entries: BTreeMap<String, Digest>,
    original: BTreeMap<String, Digest>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    #[serde(default)]
    image: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    reference: String,
    digest: String,
}

impl Lock {
    /// Reads `path`; a missing file is an empty lock. Errors name the file, the line
    /// and what to do.
    pub fn load(path: &Path) -> Result<Lock, String> {
        let shown = path.display();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("{shown}: {e}")),
        };
        let mut entries = BTreeMap::new();
        if !text.trim().is_empty() {
            let file: File = toml::from_str(&text).map_err(|e| {
                let line = e.span().map(|s| text[..s.start].lines().count().max(1));
                let at = line.map(|l| format!(":{l}")).unwrap_or_default();
                format!("{shown}{at}: {} (delete the file and build with --update to write it again)", e.message())
            })?;
            if file.version != VERSION {
                return Err(format!("{shown}: lock file version {}, this Kiln writes {VERSION}", file.version));
            }
            for (i, e) in file.image.iter().enumerate() {
                let r = Reference::parse(&e.reference).map_err(|m| format!("{shown}: image[{i}].reference: {m}"))?;
                let d = Digest::parse(&e.digest).map_err(|m| format!("{shown}: image[{i}].digest: {m}"))?;
                entries.insert(r.unpinned().to_string(), d);
            }
        }
        Ok(Lock { path: path.to_owned(), original: entries.clone(), entries })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The locked digest of a tag.
    pub fn get(&self, r: &Reference) -> Option<&Digest> {
        self.entries.get(&r.unpinned().to_string())
    }

    /// Locks `r`'s tag at `digest`.
    pub fn set(&mut self, r: &Reference, digest: &Digest) -> Change {
        match self.entries.insert(r.unpinned().to_string(), digest.clone()) {
            None => Change::Added,
            Some(old) if old == *digest => Change::Same,
            Some(old) => Change::Updated { old },
        }
    }

    /// Drops entries for tags the spec no longer uses.
    pub fn retain(&mut self, used: &[Reference]) {
        let keep: Vec<String> = used.iter().map(|r| r.unpinned().to_string()).collect();
        self.entries.retain(|k, _| keep.contains(k));
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let file = File {
            version: VERSION,
            image: self.entries.iter().map(|(r, d)| Entry { reference: r.clone(), digest: d.as_str().into() }).collect(),
        };
        format!("{HEADER}{}", toml::to_string(&file).expect("lock file serialises"))
    }

    /// Writes the file (temporary file, then rename) if anything changed; removes it
    /// when no entry is left. Returns whether it wrote.
    pub fn save(&mut self) -> Result<bool, String> {
        if self.entries == self.original {
            return Ok(false);
        }
        let shown = self.path.display();
        if self.entries.is_empty() {
            std::fs::remove_file(&self.path).or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) }).map_err(|e| format!("{shown}: {e}"))?;
        } else {
            crate::store::write_atomic(&self.path, self.render().as_bytes()).map_err(|e| e.to_string())?;
        }
        self.original = self.entries.clone();
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    #[test]
    fn round_trip_changes_and_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.lock");
        let mut lock = Lock::load(&path).unwrap();
        let a = Reference::parse("docker://127.0.0.1:5000/a:1").unwrap();
        let b = Reference::parse("docker://ghcr.io/o/b").unwrap();
        assert_eq!(lock.set(&a, &d('a')), Change::Added);
        assert_eq!(lock.set(&b, &d('b')), Change::Added);
        assert!(lock.save().unwrap() && !lock.save().unwrap(), "writes once");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Written by Kiln") && text.contains("docker://ghcr.io/o/b:latest"), "{text}");
        let mut again = Lock::load(&path).unwrap();
        assert_eq!(again.get(&a.pinned(&d('c'))), Some(&d('a')), "keyed by the tag, not a digest");
        assert_eq!(again.set(&a, &d('a')), Change::Same);
        assert_eq!(again.set(&a, &d('c')), Change::Updated { old: d('a') });
        again.retain(std::slice::from_ref(&a));
        assert!(again.save().unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("o/b") && text.contains(d('c').as_str()), "{text}");
        again.retain(&[]);
        again.save().unwrap();
        assert!(!path.exists(), "an empty lock is removed");
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        std::fs::write(&path, "version = 1\n\n[[image]]\nreference = \"docker://h.io/a:1\"\ndigest = \"sha256:12\"\n").unwrap();
        let e = Lock::load(&path).unwrap_err();
        assert!(e.contains("x.lock") && e.contains("image[0].digest"), "{e}");
        std::fs::write(&path, "version = 1\n[[image]]\nreference = 3\n").unwrap();
        let e = Lock::load(&path).unwrap_err();
        assert!(e.contains("x.lock:3"), "{e}");
        std::fs::write(&path, "version = 2\n").unwrap();
        assert!(Lock::load(&path).unwrap_err().contains("version 2"));
    }
}
