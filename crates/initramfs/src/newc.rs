//! Writing and reading `newc` (SVR4, magic `070701`) cpio archives.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use cpio::newc::{Builder, Reader};

use crate::tree::{Data, Entry, FileSlice, Kind, Tree, TRAILER};
use crate::Error;

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFIFO: u32 = 0o010_000;
const S_IFMT: u32 = 0o170_000;

impl Tree {
    /// Writes the tree as an uncompressed `newc` cpio archive to `w` and
    /// returns `w`.
    ///
    /// Entries are written in [`Tree::iter`] order (directories before their
    /// contents). Every entry gets mtime `mtime`, its uid and gid, inode
    /// number 1, 2, 3, … in write order, nlink 2 for directories and 1
    /// otherwise, and `st_mode` = file type bits | permission bits. Device
    /// nodes carry their numbers in rdevmajor/rdevminor, symlinks store their
    /// target (without NUL) as data. A regular file and its hard links
    /// ([`Kind::HardLink`]) share the inode number of the first of them
    /// written, have nlink = their count, and the data goes on the last of
    /// them (the others have size 0). The archive ends with a `TRAILER!!!`
    /// entry. [`Data::Path`] and [`Data::Slice`] contents are streamed here.
    pub fn write_newc<W: Write>(&self, mut w: W, mtime: u32) -> Result<W, Error> {
        let groups = self.link_groups()?;
        let mut group_ino: HashMap<&str, u32> = HashMap::new();
        let mut group_seen: HashMap<&str, u32> = HashMap::new();
        for (index, entry) in self.iter().enumerate() {
            let ino = u32::try_from(index + 1).map_err(|_| Error::TooManyEntries)?;
            let group = match &entry.kind {
                Kind::HardLink(target) => Some(target.as_str()),
                Kind::File(_) if groups.contains_key(entry.path.as_str()) => {
                    Some(entry.path.as_str())
                }
                _ => None,
            };
            w = match group {
                None => write_entry(w, entry, None, ino, mtime)?,
                Some(file) => {
                    let ino = *group_ino.entry(file).or_insert(ino);
                    let seen = group_seen.entry(file).or_insert(0);
                    *seen += 1;
                    let nlink = groups[file].1;
                    // The data goes on the last member written.
                    let data = (*seen == nlink).then_some(groups[file].0);
                    let link = Link { ino, nlink, data };
                    write_entry(w, entry, Some(link), ino, mtime)?
                }
            };
        }
        cpio::newc::trailer(w).map_err(|source| Error::Write {
            path: TRAILER.to_owned(),
            source,
        })
    }

    /// For each regular file with hard links: its data and the number of
    /// names it has. Every link must name a regular file of the tree.
    fn link_groups(&self) -> Result<HashMap<&str, (&Data, u32)>, Error> {
        let mut groups: HashMap<&str, (&Data, u32)> = HashMap::new();
        for entry in self.iter() {
            if let Kind::HardLink(target) = &entry.kind {
                let data = match self.get(target).map(|e| &e.kind) {
                    Some(Kind::File(data)) => data,
                    _ => {
                        return Err(Error::HardLink {
                            path: entry.path.clone(),
                            target: target.clone(),
                        })
                    }
                };
                groups.entry(target.as_str()).or_insert((data, 1)).1 += 1;
            }
        }
        Ok(groups)
    }
}

/// How a member of a hard-link group is written.
struct Link<'a> {
    ino: u32,
    nlink: u32,
    /// The group's data, on the last member only.
    data: Option<&'a Data>,
}

fn write_entry<W: Write>(
    w: W,
    entry: &Entry,
    link: Option<Link>,
    ino: u32,
    mtime: u32,
) -> Result<W, Error> {
    let (type_bits, nlink, (rdev_major, rdev_minor)) = match entry.kind {
        Kind::Dir => (S_IFDIR, 2, (0, 0)),
        Kind::File(_) | Kind::HardLink(_) => (S_IFREG, 1, (0, 0)),
        Kind::Symlink(_) => (S_IFLNK, 1, (0, 0)),
        Kind::CharDev { major, minor } => (S_IFCHR, 1, (major, minor)),
        Kind::BlockDev { major, minor } => (S_IFBLK, 1, (major, minor)),
        Kind::Fifo => (S_IFIFO, 1, (0, 0)),
    };
    let (ino, nlink) = link.as_ref().map_or((ino, nlink), |l| (l.ino, l.nlink));
    let builder = Builder::new(&entry.path)
        .ino(ino)
        .mode(type_bits | entry.mode)
        .uid(entry.uid)
        .gid(entry.gid)
        .nlink(nlink)
        .mtime(mtime)
        .rdev_major(rdev_major)
        .rdev_minor(rdev_minor);
    let data = match (&entry.kind, link) {
        (_, Some(link)) => link.data,
        (Kind::File(data), None) => Some(data),
        _ => None,
    };
    match (data, &entry.kind) {
        (Some(Data::Path(source)), _) => write_path(w, builder, &entry.path, source),
        (Some(Data::Bytes(data)), _) => write_bytes(w, builder, &entry.path, data),
        (Some(Data::Slice(slice)), _) => write_slice(w, builder, &entry.path, slice),
        (None, Kind::Symlink(target)) => write_bytes(w, builder, &entry.path, target.as_bytes()),
        (None, _) => builder
            .write(w, 0)
            .finish()
            .map_err(write_error(&entry.path)),
    }
}

fn write_error(path: &str) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_owned(),
        source,
    }
}

/// Streams a range of an open file into the archive with positioned reads.
fn write_slice<W: Write>(
    w: W,
    builder: Builder,
    path: &str,
    slice: &FileSlice,
) -> Result<W, Error> {
    let size = file_size(path, slice.len)?;
    let write_err = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let mut writer = builder.write(w, size);
    let mut buf = vec![0u8; 64 * 1024];
    let mut done = 0u64;
    while done < slice.len {
        let n = buf
            .len()
            .min(usize::try_from(slice.len - done).unwrap_or(usize::MAX));
        slice
            .file
            .read_exact_at(&mut buf[..n], slice.offset + done)
            .map_err(|source| Error::ReadSlice {
                path: path.to_owned(),
                source,
            })?;
        writer.write_all(&buf[..n]).map_err(write_err)?;
        done += n as u64;
    }
    writer.finish().map_err(write_err)
}

fn file_size(path: &str, size: u64) -> Result<u32, Error> {
    u32::try_from(size).map_err(|_| Error::TooLarge {
        path: path.to_owned(),
        size,
    })
}

fn write_bytes<W: Write>(w: W, builder: Builder, path: &str, data: &[u8]) -> Result<W, Error> {
    let size = file_size(path, data.len() as u64)?;
    let write_err = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let mut writer = builder.write(w, size);
    writer.write_all(data).map_err(write_err)?;
    writer.finish().map_err(write_err)
}

/// Streams a host file into the archive, checking that it has exactly the
/// size announced in the header (the cpio crate would otherwise silently
/// produce a corrupt archive).
fn write_path<W: Write>(w: W, builder: Builder, path: &str, source: &Path) -> Result<W, Error> {
    let read_err = |err| Error::ReadSource {
        path: path.to_owned(),
        source_path: source.to_owned(),
        source: err,
    };
    let bad = |reason| Error::BadSource {
        path: path.to_owned(),
        source_path: source.to_owned(),
        reason,
    };
    let write_err = |source| Error::Write {
        path: path.to_owned(),
        source,
    };

    let mut file = File::open(source).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(bad("is not a regular file"));
    }
    let size = file_size(path, meta.len())?;
    let mut writer = builder.write(w, size);
    let mut remaining = u64::from(size);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(read_err(err)),
        };
        if n == 0 {
            break;
        }
        if n as u64 > remaining {
            return Err(bad("grew while being archived"));
        }
        writer.write_all(&buf[..n]).map_err(write_err)?;
        remaining -= n as u64;
    }
    if remaining != 0 {
        return Err(bad("shrank while being archived"));
    }
    writer.finish().map_err(write_err)
}

/// One entry parsed back from a `newc` archive by [`read_newc`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadEntry {
    /// Path as stored in the archive.
    pub name: String,
    /// Full `st_mode`: file type bits | permission bits.
    pub mode: u32,
    /// Inode number.
    pub ino: u32,
    /// Link count.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (seconds since the epoch).
    pub mtime: u32,
    /// Device major number (device nodes only).
    pub rdev_major: u32,
    /// Device minor number (device nodes only).
    pub rdev_minor: u32,
    /// File contents, or the symlink target.
    pub data: Vec<u8>,
}

impl ReadEntry {
    /// The file type bits of [`ReadEntry::mode`] (`S_IFMT` part).
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }

    /// The permission bits of [`ReadEntry::mode`].
    pub fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == S_IFDIR
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type() == S_IFREG
    }

    /// Whether this is a symlink.
    pub fn is_symlink(&self) -> bool {
        self.file_type() == S_IFLNK
    }
}

/// Parses a whole uncompressed `newc` archive (the trailer is not returned).
///
/// Like the kernel, this accepts several archives concatenated, with NUL
/// padding between them. The input must end with a trailer followed only
/// by NUL padding.
pub fn read_newc(archive: &[u8]) -> Result<Vec<ReadEntry>, Error> {
    let mut entries = Vec::new();
    let mut rest = archive;
    let mut seen_trailer = false;
    loop {
        if seen_trailer {
            // Skip padding between (or after) concatenated archives.
            let padding = rest.iter().take_while(|b| **b == 0).count();
            rest = &rest[padding..];
            if rest.is_empty() {
                return Ok(entries);
            }
        }
        let offset = archive.len() - rest.len();
        let malformed = |source| Error::Malformed { offset, source };
        let mut reader = Reader::new(rest).map_err(malformed)?;
        let header = reader.entry().clone();
        seen_trailer = header.is_trailer();
        let mut data = Vec::new();
        reader.read_to_end(&mut data).map_err(malformed)?;
        if data.len() != header.file_size() as usize {
            return Err(malformed(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("truncated data for {:?}", header.name()),
            )));
        }
        rest = reader.finish().map_err(malformed)?;
        if !seen_trailer {
            entries.push(ReadEntry {
                name: header.name().to_owned(),
                mode: header.mode(),
                ino: header.ino(),
                nlink: header.nlink(),
                uid: header.uid(),
                gid: header.gid(),
                mtime: header.mtime(),
                rdev_major: header.rdev_major(),
                rdev_minor: header.rdev_minor(),
                data,
            });
        }
    }
}
