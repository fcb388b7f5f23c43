//! File contents: small ones in memory, the rest in one spool file.
//!
//! The spool file is created (lazily) in a directory the caller chooses and
//! unlinked at once (`O_TMPFILE` or create + unlink), so nothing is left
//! behind whatever happens; it lives as long as a [`crate::Rootfs`] or a
//! `kiln_initramfs::Tree` made from it holds it open. Contents are
//! appended as layers are read; the initramfs writer streams them back with
//! positioned reads. Files deleted or replaced by later layers stay in the
//! spool (disk, not memory) until it is dropped.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a regular file's contents are.
#[derive(Clone, PartialEq, Eq)]
pub enum Contents {
    /// Held in memory (at most [`crate::Options::inline_max`] bytes).
    Inline(Vec<u8>),
    /// `len` bytes at `offset` of the spool file.
    Spooled {
        /// Where they start.
        offset: u64,
        /// How many there are.
        len: u64,
    },
}

impl Contents {
    /// The size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Contents::Inline(b) => b.len() as u64,
            Contents::Spooled { len, .. } => *len,
        }
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Contents::Inline(b) => write!(f, "Inline(<{} bytes>)", b.len()),
            Contents::Spooled { offset, len } => write!(f, "Spooled({offset}+{len})"),
        }
    }
}

/// The spool: a directory and, once something big came, an unlinked file.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    inline_max: u64,
    file: Option<Arc<File>>,
    len: u64,
}

impl Spool {
    pub(crate) fn new(dir: &Path, inline_max: u64) -> Spool {
        Spool {
            dir: dir.to_owned(),
            inline_max,
            file: None,
            len: 0,
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The spool file, if anything was spooled.
    pub(crate) fn file(&self) -> Option<&Arc<File>> {
        self.file.as_ref()
    }

    /// Bytes written to the spool file so far.
    pub(crate) fn spooled_bytes(&self) -> u64 {
        self.len
    }

    /// Stores exactly `size` bytes read from `data`. Errors: reading
    /// (`Err(Ok(e))`) or the spool file (`Err(Err(e))`).
    pub(crate) fn store(&mut self, data: &mut dyn Read, size: u64) -> Result<Contents, StoreError> {
        if size <= self.inline_max {
            let mut buf = Vec::with_capacity(size as usize);
            data.take(size)
                .read_to_end(&mut buf)
                .map_err(StoreError::Read)?;
            if buf.len() as u64 != size {
                return Err(StoreError::Read(io::ErrorKind::UnexpectedEof.into()));
            }
            return Ok(Contents::Inline(buf));
        }
        if self.file.is_none() {
            let file = tempfile::tempfile_in(&self.dir).map_err(StoreError::Spool)?;
            self.file = Some(Arc::new(file));
        }
        let file = self.file.as_ref().expect("created above");
        let offset = self.len;
        let mut buf = vec![0u8; 64 * 1024];
        let mut done = 0u64;
        while done < size {
            let want = buf
                .len()
                .min(usize::try_from(size - done).unwrap_or(usize::MAX));
            let n = match data.read(&mut buf[..want]) {
                Ok(0) => return Err(StoreError::Read(io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StoreError::Read(e)),
            };
            file.write_all_at(&buf[..n], offset + done)
                .map_err(StoreError::Spool)?;
            done += n as u64;
        }
        self.len += size;
        Ok(Contents::Spooled { offset, len: size })
    }

    /// Reads contents back (tests and small reads).
    pub(crate) fn read(&self, contents: &Contents) -> io::Result<Vec<u8>> {
        match contents {
            Contents::Inline(b) => Ok(b.clone()),
            Contents::Spooled { offset, len } => {
                let file = self
                    .file
                    .as_ref()
                    .ok_or_else(|| io::Error::other("no spool file"))?;
                let mut buf = vec![0u8; usize::try_from(*len).map_err(io::Error::other)?];
                file.read_exact_at(&mut buf, *offset)?;
                Ok(buf)
            }
        }
    }
}

/// Why [`Spool::store`] failed.
#[derive(Debug)]
pub(crate) enum StoreError {
    Read(io::Error),
    Spool(io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_contents_stay_in_memory_and_big_ones_are_spooled() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path(), 4);
        let small = spool.store(&mut &b"abcd"[..], 4).unwrap();
        assert_eq!(small, Contents::Inline(b"abcd".to_vec()));
        assert!(spool.file().is_none());
        let big = spool.store(&mut &b"hello world"[..], 11).unwrap();
        let big2 = spool.store(&mut &b"second!"[..], 7).unwrap();
        assert_eq!(big2, Contents::Spooled { offset: 11, len: 7 });
        assert_eq!(spool.read(&big).unwrap(), b"hello world");
        assert_eq!(spool.read(&big2).unwrap(), b"second!");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the spool file is unlinked"
        );
        assert!(matches!(
            spool.store(&mut &b"short"[..], 9),
            Err(StoreError::Read(_))
        ));
    }
}
