//! Where an image's files are: a directory (OCI layout) or a tar archive
//! (`oci-archive`, `docker save`), indexed once and read in place.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::tarstream::{self, HeaderCaps, TarError};
use crate::Error;

/// A file of an image: in a directory, or a byte range of an archive.
pub(crate) enum Store {
    Dir(PathBuf),
    Tar {
        path: PathBuf,
        /// Member name (cleaned, no leading `./`) to (offset, size) of its
        /// data in the archive.
        members: BTreeMap<String, (u64, u64)>,
    },
}

/// Symlinks between members (old `docker save` links repeated layers).
const MAX_MEMBER_LINKS: usize = 8;

impl Store {
    /// Opens a directory or indexes a tar archive (regular members and the
    /// symlinks between them).
    pub(crate) fn open(path: &Path) -> Result<Store, Error> {
        let meta = std::fs::metadata(path).map_err(Error::io(path))?;
        if meta.is_dir() {
            return Ok(Store::Dir(path.to_owned()));
        }
        let file = File::open(path).map_err(Error::io(path))?;
        let mut members = BTreeMap::new();
        let mut links = Vec::new();
        let caps = HeaderCaps {
            long_name: 4096,
            pax: 64 * 1024,
        };
        let result = tarstream::walk(io::BufReader::new(file), caps, |m, _, offset| {
            let Some(name) = clean(&String::from_utf8_lossy(&m.path)) else {
                return Ok::<(), ()>(());
            };
            match m.kind {
                b'0' | b'\0' | b'7' => {
                    members.insert(name, (offset, m.size));
                }
                b'2' => {
                    let target =
                        String::from_utf8_lossy(m.link.as_deref().unwrap_or_default()).into_owned();
                    let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                    if let Some(target) = clean(&format!("{dir}/{target}")) {
                        links.push((name, target));
                    }
                }
                _ => {}
            }
            Ok(())
        });
        let format = |reason: String| Error::Format {
            path: path.to_owned(),
            reason,
        };
        match result {
            Ok(()) => {}
            Err(TarError::Io { after, source }) => {
                return Err(format(format!(
                    "not a readable tar archive (after {after:?}): {source}"
                )))
            }
            Err(TarError::Entry { entry, reason }) => {
                return Err(format(format!("entry {entry:?}: {reason}")))
            }
            Err(TarError::Callback(())) => unreachable!("the callback does not fail"),
        }
        for _ in 0..MAX_MEMBER_LINKS {
            let mut resolved = Vec::new();
            for (name, target) in &links {
                if let Some(found) = members.get(target) {
                    resolved.push((name.clone(), *found));
                }
            }
            for (name, found) in resolved {
                members.entry(name).or_insert(found);
            }
        }
        Ok(Store::Tar {
            path: path.to_owned(),
            members,
        })
    }

    /// The image's path as given.
    pub(crate) fn path(&self) -> &Path {
        match self {
            Store::Dir(p) | Store::Tar { path: p, .. } => p,
        }
    }

    /// Whether the store is a tar archive.
    pub(crate) fn is_archive(&self) -> bool {
        matches!(self, Store::Tar { .. })
    }

    /// Whether a file exists.
    pub(crate) fn exists(&self, name: &str) -> bool {
        self.size(name).is_some()
    }

    /// A file's size, if it exists (regular files only).
    pub(crate) fn size(&self, name: &str) -> Option<u64> {
        let name = clean(name)?;
        match self {
            Store::Dir(dir) => {
                let meta = std::fs::metadata(dir.join(name)).ok()?;
                meta.is_file().then_some(meta.len())
            }
            Store::Tar { members, .. } => members.get(&name).map(|(_, size)| *size),
        }
    }

    /// Opens a file for reading; it ends at the file's size.
    pub(crate) fn open_file(&self, name: &str) -> Result<Box<dyn Read + Send>, Error> {
        let missing = || Error::MissingBlob {
            digest: name.to_owned(),
            what: "file".to_owned(),
        };
        let clean_name = clean(name).ok_or_else(missing)?;
        match self {
            Store::Dir(dir) => {
                let path = dir.join(&clean_name);
                let file = File::open(&path).map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => missing(),
                    _ => Error::io(&path)(e),
                })?;
                Ok(Box::new(io::BufReader::new(file)))
            }
            Store::Tar { path, members } => {
                let (offset, size) = *members.get(&clean_name).ok_or_else(missing)?;
                let mut file = File::open(path).map_err(Error::io(path))?;
                file.seek(SeekFrom::Start(offset))
                    .map_err(Error::io(path))?;
                Ok(Box::new(io::BufReader::new(file).take(size)))
            }
        }
    }

    /// Reads a whole (small) file; more than `cap` bytes is an error.
    pub(crate) fn read_small(&self, name: &str, cap: u64) -> Result<Vec<u8>, Error> {
        let size = self.size(name).ok_or_else(|| Error::MissingBlob {
            digest: name.to_owned(),
            what: "file".to_owned(),
        })?;
        if size > cap {
            return Err(Error::Format {
                path: self.path().join(name),
                reason: format!("{size} bytes is more than the {cap} a JSON document may have (Limits::max_json)"),
            });
        }
        let mut data = Vec::new();
        self.open_file(name)?
            .take(cap)
            .read_to_end(&mut data)
            .map_err(Error::io(self.path().join(name)))?;
        Ok(data)
    }
}

/// Cleans a name inside the image: no leading `/` or `./`, no `.` or empty
/// components; `None` if it has `..` or is empty.
pub(crate) fn clean(name: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_and_kept_inside() {
        assert_eq!(
            clean("./blobs//sha256/ab").as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(clean("/manifest.json").as_deref(), Some("manifest.json"));
        assert_eq!(clean("../x"), None);
        assert_eq!(clean("a/../../x"), None);
        assert_eq!(clean("./"), None);
    }
}
