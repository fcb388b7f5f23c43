//! Deterministic initramfs writer for Kiln.
//!
//! Kiln builds the initramfs from an in-memory list of entries instead of a
//! staging directory: no root privileges, no `cpio` binary and no temporary
//! rootfs are involved, and device nodes such as `dev/console` can be created
//! by an unprivileged user.
//!
//! The flow is:
//!
//! 1. Build a [`Tree`] of [`Entry`]s (directories, files, symlinks, device
//!    nodes). Paths are normalized and missing parent directories are added
//!    implicitly.
//! 2. Serialize it with [`Tree::write_newc`] into an uncompressed `newc`
//!    (SVR4, magic `070701`) cpio archive, the format the kernel unpacks.
//! 3. Compress it with [`compress_xz`] into an xz stream the kernel's own xz
//!    decoder accepts (CRC32 check, x86 BCJ + LZMA2).
//!
//! [`read_newc`] and [`decompress_xz`] do the reverse, for tests and size
//! reports.
//!
//! # Determinism
//!
//! The same tree (and the same contents of any [`Data::Path`] files) always
//! produces byte-identical output: entries are written in a fixed path order,
//! every entry gets the caller's `mtime`, its uid/gid (0 unless set) and an
//! inode number assigned sequentially in write order (hard links share the
//! first one's), and xz compression is
//! single-threaded with fixed settings.
//!
//! ```
//! use kiln_initramfs::{compress_xz, read_newc, decompress_xz, Data, Tree};
//!
//! let mut tree = Tree::new();
//! tree.dir("dev", 0o755)?
//!     .char_dev("dev/console", 0o600, 5, 1)?
//!     .file("init", 0o755, Data::Bytes(b"#!/bin/sh\n".to_vec()))?
//!     .symlink("bin/sh", "busybox")?;
//! let cpio = tree.write_newc(Vec::new(), 0)?;
//! let xz = compress_xz(&cpio)?;
//!
//! let entries = read_newc(&decompress_xz(&xz)?)?;
//! let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
//! assert_eq!(names, ["bin", "bin/sh", "dev", "dev/console", "init"]);
//! # Ok::<(), kiln_initramfs::Error>(())
//! ```

mod dir;
mod newc;
mod tree;
mod xz;

use std::io;
use std::path::PathBuf;

pub use dir::DirOptions;
pub use newc::{read_newc, ReadEntry};
pub use tree::{Data, Entry, FileSlice, Kind, Tree};
pub use xz::{compress_xz, compress_xz_with, decompress_xz, XzOptions};

/// Everything that can go wrong while building, writing or reading an
/// initramfs. Variants name the archive path (and source file) involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The path is empty, `/`, contains a NUL byte, is too long, or is (or is
    /// below) a top-level `TRAILER!!!`, which ends a newc archive.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given by the caller.
        path: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The path contains a `..` component.
    #[error("invalid path {path:?}: `..` components are not allowed")]
    ParentComponent {
        /// The path as given by the caller.
        path: String,
    },
    /// An ancestor of the path exists but is not a directory.
    #[error("cannot add {path:?}: parent {parent:?} is not a directory")]
    ParentNotDir {
        /// The (normalized) path being added.
        path: String,
        /// The (normalized) ancestor that is a file, symlink or device.
        parent: String,
    },
    /// A non-directory would replace an existing directory.
    #[error("cannot replace directory {path:?} with a non-directory")]
    IsDir {
        /// The (normalized) path of the existing directory.
        path: String,
    },
    /// The mode has bits set outside the permission bits (`0o7777`).
    #[error("invalid mode {mode:#o} for {path:?}: only permission bits (0o7777) are allowed")]
    InvalidMode {
        /// The (normalized) path of the entry.
        path: String,
        /// The rejected mode.
        mode: u32,
    },
    /// A symlink target is empty or contains a NUL byte.
    #[error("invalid symlink target {target:?} for {path:?}")]
    InvalidTarget {
        /// The (normalized) path of the symlink.
        path: String,
        /// The rejected target.
        target: String,
    },
    /// A device number does not fit Linux's 12-bit major / 20-bit minor.
    #[error("device number {major}:{minor} for {path:?} is out of range")]
    InvalidDevice {
        /// The (normalized) path of the device node.
        path: String,
        /// The major number.
        major: u32,
        /// The minor number.
        minor: u32,
    },
    /// File contents do not fit the 32-bit newc size field.
    #[error("file {path:?} is too large for a newc archive ({size} bytes, limit 4 GiB - 1)")]
    TooLarge {
        /// The archive path of the file.
        path: String,
        /// The size of its contents.
        size: u64,
    },
    /// A [`Data::Path`] source could not be opened or read.
    #[error("cannot read {} for {path:?}", source_path.display())]
    ReadSource {
        /// The archive path of the file.
        path: String,
        /// The file on the host.
        source_path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A [`Data::Path`] source is not a regular file, or changed size while
    /// being archived.
    #[error("source {} for {path:?} {reason}", source_path.display())]
    BadSource {
        /// The archive path of the file.
        path: String,
        /// The file on the host.
        source_path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A [`Data::Slice`] could not be read.
    #[error("cannot read the contents of {path:?} from its file slice")]
    ReadSlice {
        /// The archive path of the file.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A [`Kind::HardLink`] does not name a regular file of the tree.
    #[error("hard link {path:?} names {target:?}, which is not a regular file of the tree")]
    HardLink {
        /// The (normalized) path of the link.
        path: String,
        /// Its target.
        target: String,
    },
    /// Writing the archive to the output failed.
    #[error("cannot write archive entry {path:?}")]
    Write {
        /// The archive path being written (`TRAILER!!!` for the trailer).
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// [`Tree::write_dir`] could not make an object (or reach its parent without
    /// following a symlink).
    #[error("cannot write {path:?} into the directory: {source}")]
    WriteDir {
        /// The tree path (or the destination directory).
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The tree has more entries than 32-bit inode numbers allow.
    #[error("too many entries for 32-bit inode numbers")]
    TooManyEntries,
    /// [`read_newc`] found a malformed or truncated archive.
    #[error("malformed newc archive at byte {offset}")]
    Malformed {
        /// Offset of the header of the entry that could not be read.
        offset: usize,
        /// What was wrong.
        #[source]
        source: io::Error,
    },
    /// [`XzOptions::preset`] is outside `0..=9`.
    #[error("invalid xz preset {0}: must be 0 to 9")]
    InvalidPreset(u32),
    /// liblzma failed to compress.
    #[error("xz compression failed")]
    Compress(#[source] io::Error),
    /// The input is not a valid xz stream.
    #[error("xz decompression failed")]
    Decompress(#[source] io::Error),
}
