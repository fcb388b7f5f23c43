//! The in-memory list of initramfs entries.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::Error;

/// Mode used for implicitly created parent directories.
const IMPLICIT_DIR_MODE: u32 = 0o755;
/// Mode used by [`Tree::symlink`] (the kernel ignores symlink permissions).
const SYMLINK_MODE: u32 = 0o777;
/// Longest normalized path accepted: the kernel rejects names whose length
/// including the terminating NUL exceeds `PATH_MAX` (4096).
const MAX_PATH_LEN: usize = 4095;
/// Name of the newc end-of-archive entry.
pub(crate) const TRAILER: &str = "TRAILER!!!";

/// Contents of a regular file.
#[derive(Clone, PartialEq, Eq)]
pub enum Data {
    /// Contents held in memory.
    Bytes(Vec<u8>),
    /// A file on the host, opened and streamed into the archive by
    /// [`Tree::write_newc`]. Only its contents are used: its mode, owner and
    /// timestamps are ignored.
    Path(PathBuf),
    /// `len` bytes at `offset` of an open file (e.g. an unlinked spool file
    /// shared by many entries), read with positioned reads by
    /// [`Tree::write_newc`].
    Slice(FileSlice),
}

/// A byte range of an open file, shared cheaply between entries. Two slices
/// are equal when they name the same range of the same open file.
#[derive(Clone)]
pub struct FileSlice {
    /// The file (kept open as long as any entry refers to it).
    pub file: Arc<File>,
    /// Where the range starts.
    pub offset: u64,
    /// How many bytes it has.
    pub len: u64,
}

impl PartialEq for FileSlice {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.file, &other.file) && self.offset == other.offset && self.len == other.len
    }
}

impl Eq for FileSlice {}

impl fmt::Debug for FileSlice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileSlice({}+{})", self.offset, self.len)
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Data::Bytes(b) => write!(f, "Bytes(<{} bytes>)", b.len()),
            Data::Path(p) => f.debug_tuple("Path").field(p).finish(),
            Data::Slice(s) => s.fmt(f),
        }
    }
}

impl Data {
    /// The contents as a reader, with their length (a [`Data::Path`] file is opened
    /// now; a [`Data::Slice`] is read with positioned reads).
    pub fn open(&self) -> std::io::Result<(u64, Box<dyn std::io::Read + '_>)> {
        Ok(match self {
            Data::Bytes(b) => (b.len() as u64, Box::new(b.as_slice())),
            Data::Path(p) => {
                let f = File::open(p)?;
                (f.metadata()?.len(), Box::new(f))
            }
            Data::Slice(s) => (s.len, Box::new(SliceReader { slice: s, pos: 0 })),
        })
    }
}

/// Reads a [`FileSlice`] front to back.
struct SliceReader<'a> {
    slice: &'a FileSlice,
    pos: u64,
}

impl std::io::Read for SliceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let left = self.slice.len - self.pos;
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(0);
        }
        let got = self.slice.file.read_at(&mut buf[..n], self.slice.offset + self.pos)?;
        if got == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "spool file shorter than its slice"));
        }
        self.pos += got as u64;
        Ok(got)
    }
}

impl From<Vec<u8>> for Data {
    fn from(bytes: Vec<u8>) -> Self {
        Data::Bytes(bytes)
    }
}

impl From<&[u8]> for Data {
    fn from(bytes: &[u8]) -> Self {
        Data::Bytes(bytes.to_vec())
    }
}

impl From<PathBuf> for Data {
    fn from(path: PathBuf) -> Self {
        Data::Path(path)
    }
}

impl From<&Path> for Data {
    fn from(path: &Path) -> Self {
        Data::Path(path.to_path_buf())
    }
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File(Data),
    /// A symbolic link to the given target (stored verbatim, may be
    /// absolute or relative).
    Symlink(String),
    /// A character device node.
    CharDev {
        /// Major device number (< 4096).
        major: u32,
        /// Minor device number (< 2^20).
        minor: u32,
    },
    /// A block device node.
    BlockDev {
        /// Major device number (< 4096).
        major: u32,
        /// Minor device number (< 2^20).
        minor: u32,
    },
    /// A named pipe.
    Fifo,
    /// A hard link to the regular file ([`Kind::File`]) at the given
    /// (normalized) path of the same tree. The archive gives the file and
    /// all its links one inode number and link count, and the data once, on
    /// the last of them in write order (as GNU cpio does and the kernel
    /// expects). Checked when the tree is written.
    HardLink(String),
}

/// One file system object in the initramfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path inside the initramfs. Normalized (no leading `/`, no `.`, `..`
    /// or empty components) once the entry is in a [`Tree`].
    pub path: String,
    /// Permission bits only (`0o7777` at most), e.g. `0o755`. The file type
    /// bits come from [`Entry::kind`].
    pub mode: u32,
    /// The type of the entry and its type-specific data.
    pub kind: Kind,
    /// Owner (0 for entries made by the builder methods).
    pub uid: u32,
    /// Group (0 for entries made by the builder methods).
    pub gid: u32,
    /// Extended attributes (name → value), e.g. `security.capability`. A newc
    /// archive cannot carry them ([`Tree::write_newc`] leaves them out); a
    /// squashfs keeps them.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

impl Entry {
    /// An entry owned by root (uid and gid 0).
    pub fn new(path: &str, mode: u32, kind: Kind) -> Self {
        Entry {
            path: path.to_owned(),
            mode,
            kind,
            uid: 0,
            gid: 0,
            xattrs: BTreeMap::new(),
        }
    }
}

impl Entry {
    /// Whether this entry is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir)
    }
}

/// Map key ordering paths component by component: `/` compares lower than
/// any other byte, so a directory is immediately followed by its whole
/// subtree (`a`, `a/b`, `a-b`), and parents always precede their children.
#[derive(Clone, PartialEq, Eq)]
struct Key(String);

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        // Paths never contain NUL, so mapping `/` to 0 keeps the order total
        // and consistent with `Eq`.
        let map = |b: &u8| if *b == b'/' { 0 } else { *b };
        self.0
            .as_bytes()
            .iter()
            .map(map)
            .cmp(other.0.as_bytes().iter().map(map))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A set of initramfs entries keyed by normalized path.
///
/// Iteration and [`Tree::write_newc`] visit entries depth-first in path
/// order, comparing paths component by component: every directory comes
/// before its contents.
#[derive(Clone, Default)]
pub struct Tree {
    entries: BTreeMap<Key, Entry>,
}

impl fmt::Debug for Tree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.values()).finish()
    }
}

impl Tree {
    /// Creates an empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a directory, or sets the mode (and owner) of an existing one (its contents
    /// are kept). Replaces a non-directory at the same path.
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<&mut Self, Error> {
        self.insert(Entry::new(path, mode, Kind::Dir))
    }

    /// Adds a regular file, replacing any non-directory at the same path.
    pub fn file(&mut self, path: &str, mode: u32, data: Data) -> Result<&mut Self, Error> {
        self.insert(Entry::new(path, mode, Kind::File(data)))
    }

    /// Adds a symlink (mode `0o777`) pointing at `target`, replacing any
    /// non-directory at the same path.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<&mut Self, Error> {
        let kind = Kind::Symlink(target.to_owned());
        self.insert(Entry::new(path, SYMLINK_MODE, kind))
    }

    /// Adds a character device node, e.g. `dev/console` (5, 1).
    pub fn char_dev(
        &mut self,
        path: &str,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<&mut Self, Error> {
        let kind = Kind::CharDev { major, minor };
        self.insert(Entry::new(path, mode, kind))
    }

    /// Adds a block device node.
    pub fn block_dev(
        &mut self,
        path: &str,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<&mut Self, Error> {
        let kind = Kind::BlockDev { major, minor };
        self.insert(Entry::new(path, mode, kind))
    }

    /// Adds an entry after normalizing its path (and a hard link's target)
    /// and creating missing parent directories (mode `0o755`, root-owned).
    ///
    /// An existing non-directory at the same path is replaced. A directory
    /// inserted over an existing directory only updates its mode. A
    /// non-directory cannot replace a directory ([`Error::IsDir`]), and no
    /// ancestor may be a non-directory ([`Error::ParentNotDir`]). On error
    /// the tree is left unchanged.
    pub fn insert(&mut self, entry: Entry) -> Result<&mut Self, Error> {
        let path = normalize(&entry.path)?;
        validate(&path, &entry)?;
        let mut entry = entry;
        if let Kind::HardLink(target) = &mut entry.kind {
            *target = normalize(target)?;
        }

        // Check every ancestor before touching the map.
        let ancestors: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
        for parent in &ancestors {
            if let Some(existing) = self.entries.get(&Key((*parent).to_owned())) {
                if !existing.is_dir() {
                    return Err(Error::ParentNotDir {
                        path: path.clone(),
                        parent: (*parent).to_owned(),
                    });
                }
            }
        }
        let key = Key(path.clone());
        if let Some(existing) = self.entries.get_mut(&key) {
            match (existing.is_dir(), entry.is_dir()) {
                (true, true) => {
                    existing.mode = entry.mode;
                    existing.uid = entry.uid;
                    existing.gid = entry.gid;
                    existing.xattrs = entry.xattrs;
                    return Ok(self);
                }
                (true, false) => return Err(Error::IsDir { path }),
                _ => {}
            }
        }

        for parent in ancestors {
            self.entries
                .entry(Key(parent.to_owned()))
                .or_insert_with(|| Entry::new(parent, IMPLICIT_DIR_MODE, Kind::Dir));
        }
        self.entries.insert(key, Entry { path, ..entry });
        Ok(self)
    }

    /// Returns the entry at `path` (normalized first), if any.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        let path = normalize(path).ok()?;
        self.entries.get(&Key(path))
    }

    /// Removes the entry at `path` (normalized first) and returns it. For a
    /// directory, everything below it is removed too.
    pub fn remove(&mut self, path: &str) -> Option<Entry> {
        let path = normalize(path).ok()?;
        let removed = self.entries.remove(&Key(path.clone()))?;
        if removed.is_dir() {
            // The subtree sorts immediately after the directory itself.
            let prefix = format!("{path}/");
            let below: Vec<Key> = self
                .entries
                .range(Key(path)..)
                .map(|(k, _)| k)
                .take_while(|k| k.0.starts_with(&prefix))
                .cloned()
                .collect();
            for key in below {
                self.entries.remove(&key);
            }
        }
        Some(removed)
    }

    /// Puts every entry of `other` below the directory `prefix` (made if missing),
    /// keeping modes, owners and xattrs; hard links are re-aimed at the grafted
    /// paths, symlinks are kept verbatim (an absolute one resolves inside the
    /// subtree only once it is someone's root, as a container's rootfs is). On error
    /// the entries grafted so far stay.
    pub fn graft(&mut self, prefix: &str, other: Tree) -> Result<&mut Self, Error> {
        let prefix = normalize(prefix)?;
        if !matches!(self.get(&prefix), Some(e) if e.is_dir()) {
            self.dir(&prefix, IMPLICIT_DIR_MODE)?;
        }
        for (_, mut entry) in other.entries {
            entry.path = format!("{prefix}/{}", entry.path);
            if let Kind::HardLink(target) = &mut entry.kind {
                *target = format!("{prefix}/{target}");
            }
            self.insert(entry)?;
        }
        Ok(self)
    }

    /// Iterates over all entries in write order (parents before children).
    pub fn iter(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.entries.values()
    }

    /// Number of entries, including implicitly created directories.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the tree has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Normalizes an archive path: strips leading `/`, drops `.` and empty
/// components, and rejects `..`, NUL bytes, paths that end up empty or
/// longer than the kernel accepts, and paths starting with the newc trailer
/// name `TRAILER!!!`.
pub(crate) fn normalize(path: &str) -> Result<String, Error> {
    let invalid = |reason| Error::InvalidPath {
        path: path.to_owned(),
        reason,
    };
    if path.contains('\0') {
        return Err(invalid("contains a nul byte"));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(Error::ParentComponent {
                    path: path.to_owned(),
                })
            }
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err(invalid("the root itself cannot be an entry"));
    }
    // The kernel (and `read_newc`) end an archive at an entry of this name and
    // skip it, so the entry, and anything below it, would silently be missing.
    if parts[0] == TRAILER {
        return Err(invalid("a top-level `TRAILER!!!` marks the end of a newc archive"));
    }
    let normalized = parts.join("/");
    if normalized.len() > MAX_PATH_LEN {
        return Err(invalid("longer than 4095 bytes"));
    }
    Ok(normalized)
}

/// Checks the mode and kind-specific data of an entry.
fn validate(path: &str, entry: &Entry) -> Result<(), Error> {
    if entry.mode & !0o7777 != 0 {
        return Err(Error::InvalidMode {
            path: path.to_owned(),
            mode: entry.mode,
        });
    }
    match &entry.kind {
        Kind::Symlink(target) if target.is_empty() || target.contains('\0') => {
            Err(Error::InvalidTarget {
                path: path.to_owned(),
                target: target.clone(),
            })
        }
        Kind::CharDev { major, minor } | Kind::BlockDev { major, minor }
            if *major >= 1 << 12 || *minor >= 1 << 20 =>
        {
            Err(Error::InvalidDevice {
                path: path.to_owned(),
                major: *major,
                minor: *minor,
            })
        }
        Kind::HardLink(target) if target.is_empty() || target.contains('\0') => {
            Err(Error::InvalidTarget {
                path: path.to_owned(),
                target: target.clone(),
            })
        }
        _ => Ok(()),
    }
}
