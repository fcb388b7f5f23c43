//! The cache: blobs by digest (`blobs/sha256/HEX`, written only after their digest was
//! checked), partial downloads (`partial/HEX`), and one-image OCI layouts over the
//! shared blobs (`images/HEX/`, HEX the platform manifest's digest) for kiln-oci.

use crate::{Error, Result};
use kiln_oci::Digest;
use std::path::{Path, PathBuf};

/// A blob cache under one directory (Kiln's: `KILN_CACHE/registry`).
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where blob `digest` is kept.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join(digest.algorithm()).join(digest.hex())
    }

    /// Where an interrupted download of `digest` waits to be resumed.
    pub fn partial_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("partial").join(digest.hex())
    }

    /// Whether blob `digest` is cached.
    pub fn has(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Reads a cached blob (manifests, configs), checking its digest again.
    pub fn read(&self, digest: &Digest) -> Result<Option<Vec<u8>>> {
        let path = self.blob_path(digest);
        match std::fs::read(&path) {
            Ok(bytes) if Digest::sha256(&bytes) == *digest => Ok(Some(bytes)),
            Ok(_) => {
                // Altered on disk: forget it, it will be fetched again.
                let _ = std::fs::remove_file(&path);
                Ok(None)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io { path, source: e }),
        }
    }

    /// Keeps `bytes` as blob `digest` if they hash to it.
    pub fn put(&self, digest: &Digest, bytes: &[u8]) -> Result<()> {
        let actual = Digest::sha256(bytes);
        if actual != *digest {
            return Err(Error::Digest { what: "blob".into(), digest: digest.as_str().into(), actual: actual.as_str().into(), size: bytes.len() as u64 });
        }
        let path = self.blob_path(digest);
        self.prepare(&path)?;
        write_atomic(&path, bytes)
    }

    /// Makes the parent directories of a path in the store.
    pub(crate) fn prepare(&self, path: &Path) -> Result<()> {
        let dir = path.parent().expect("store paths have parents");
        std::fs::create_dir_all(dir).map_err(Error::io(dir))
    }

    /// Writes the OCI layout for one image: `oci-layout`, an `index.json` naming its
    /// manifest (with the platform), and `blobs` pointing at the store's. Returns its path.
    pub fn layout(&self, manifest: &Digest, media_type: &str, size: u64, platform: &kiln_oci::Platform, name: &str) -> Result<PathBuf> {
        let dir = self.root.join("images").join(manifest.hex());
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        write_atomic(&dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let mut p = serde_json::json!({"os": platform.os, "architecture": platform.architecture});
        if let Some(v) = &platform.variant {
            p["variant"] = v.as_str().into();
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": media_type, "digest": manifest.as_str(), "size": size, "platform": p,
                "annotations": {"org.opencontainers.image.ref.name": name}}]
        });
        write_atomic(&dir.join("index.json"), &serde_json::to_vec_pretty(&index).expect("JSON"))?;
        let link = dir.join("blobs");
        if std::fs::read_link(&link).is_err() {
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink("../../blobs", &link).map_err(Error::io(&link))?;
        }
        Ok(dir)
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(Error::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_checks_the_digest_and_read_forgets_altered_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::new(dir.path());
        let d = Digest::sha256(b"hello");
        assert!(s.put(&d, b"hellO").is_err() && !s.has(&d));
        s.put(&d, b"hello").unwrap();
        assert_eq!(s.read(&d).unwrap().as_deref(), Some(&b"hello"[..]));
        std::fs::write(s.blob_path(&d), b"jello").unwrap();
        assert_eq!(s.read(&d).unwrap(), None);
        assert!(!s.has(&d), "an altered blob is removed");
    }
}
