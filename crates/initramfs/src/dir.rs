//! A [`Tree`] written into a fresh directory of the running system (kiln-ctr's
//! `kiln-ctr run`: an image's root file system on the guest's tmpfs).
//!
//! The tree may come from a hostile image, so nothing here follows a symlink: every
//! parent directory is reached from the destination's descriptor one component at a
//! time with `O_NOFOLLOW | O_DIRECTORY`, and every object is made with a call that
//! does not follow its last component either (`mkdirat`, `openat(O_CREAT | O_EXCL |
//! O_NOFOLLOW)`, `symlinkat`, `linkat` without `AT_SYMLINK_FOLLOW`, `mknodat`, owners
//! with `AT_SYMLINK_NOFOLLOW`). A symlink is written verbatim and never used; a hard
//! link's target is reached the same way. The destination must not exist.
//!
//! Directories are made `0700` and get their owner, xattrs and mode last, deepest
//! first, so a read-only directory of the image can still be filled. Owners, then
//! xattrs, then mode: `chown` clears setuid bits.

use std::ffi::CString;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, XattrFlags, CWD};

use crate::{Data, Error, Kind, Tree};

/// How [`Tree::write_dir`] writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirOptions {
    /// Give every object the tree's owner (needs `CAP_CHOWN`); else they belong to
    /// the writer.
    pub owners: bool,
}

fn c(s: &str) -> CString {
    // Tree paths and symlink targets never hold a NUL (checked on insert).
    CString::new(s).unwrap_or_default()
}

fn os(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

fn err(path: &str) -> impl Fn(rustix::io::Errno) -> Error + '_ {
    move |e| Error::WriteDir { path: path.to_owned(), source: os(e) }
}

/// The directory `path` below `root` (empty: `root` itself), reached one component at
/// a time without following a symlink: an `O_PATH` descriptor (for the `*at` calls),
/// or with `readable` one that `fchmod`, `fchown` and `fsetxattr` take.
fn open_dir(root: BorrowedFd<'_>, path: &str, readable: bool) -> rustix::io::Result<OwnedFd> {
    let base = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let last = if readable { base | OFlags::RDONLY } else { base | OFlags::PATH };
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let Some((name, parents)) = parts.split_last() else {
        return rfs::openat(root, c".", last, Mode::empty());
    };
    let mut fd = rfs::openat(root, c".", base | OFlags::PATH, Mode::empty())?;
    for part in parents {
        fd = rfs::openat(&fd, c(part).as_c_str(), base | OFlags::PATH, Mode::empty())?;
    }
    rfs::openat(&fd, c(name).as_c_str(), last, Mode::empty())
}

/// `(parent, name)` of a normalized tree path.
fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

fn set_xattrs(fd: BorrowedFd<'_>, name: Option<&str>, xattrs: &std::collections::BTreeMap<String, Vec<u8>>) -> rustix::io::Result<()> {
    for (k, v) in xattrs {
        match name {
            None => rfs::fsetxattr(fd, c(k).as_c_str(), v, XattrFlags::empty())?,
            // A symlink or a device node: through its parent's descriptor, so only the
            // last component is looked up, and not followed (`lsetxattr`).
            Some(n) => {
                let p = format!("/proc/self/fd/{}/{n}", fd.as_raw_fd());
                rfs::lsetxattr(c(&p).as_c_str(), c(k).as_c_str(), v, XattrFlags::empty())?
            }
        }
    }
    Ok(())
}

fn owner(uid: u32, gid: u32) -> (Option<rfs::Uid>, Option<rfs::Gid>) {
    (Some(rfs::Uid::from_raw(uid)), Some(rfs::Gid::from_raw(gid)))
}

fn copy(data: &Data, fd: BorrowedFd<'_>) -> io::Result<()> {
    let (_, mut r) = data.open()?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let w = rustix::io::write(fd, rest).map_err(os)?;
            rest = &rest[w..];
        }
    }
}

impl Tree {
    /// Writes every entry below `dest`, which is created (mode `0755`) and must not
    /// exist: directories, regular files, symlinks (verbatim), hard links, device
    /// nodes and fifos, with their modes (setuid too), xattrs and, with
    /// [`DirOptions::owners`], owners. Never follows a symlink (see the module
    /// documentation). On error, what was written so far stays.
    pub fn write_dir(&self, dest: &Path, opts: DirOptions) -> Result<(), Error> {
        let dest_c = CString::new(dest.as_os_str().as_bytes()).map_err(|_| Error::WriteDir {
            path: dest.display().to_string(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "nul byte in the path"),
        })?;
        let top = dest.display().to_string();
        rfs::mkdirat(CWD, dest_c.as_c_str(), Mode::from_raw_mode(0o700)).map_err(err(&top))?;
        let root = rfs::openat(CWD, dest_c.as_c_str(), OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()).map_err(err(&top))?;
        let root = root.as_fd();
        let mut dirs = Vec::new();
        for e in self.iter() {
            let (parent, name) = split(&e.path);
            let e_err = err(&e.path);
            let pfd = open_dir(root, parent, false).map_err(&e_err)?;
            let name_c = c(name);
            let name_c = name_c.as_c_str();
            let mode = Mode::from_raw_mode(e.mode);
            let node = |ft: FileType, dev: rfs::Dev| -> rustix::io::Result<()> {
                rfs::mknodat(&pfd, name_c, ft, Mode::from_raw_mode(0o600), dev)?;
                if opts.owners {
                    let (u, g) = owner(e.uid, e.gid);
                    rfs::chownat(&pfd, name_c, u, g, AtFlags::SYMLINK_NOFOLLOW)?;
                }
                set_xattrs(pfd.as_fd(), Some(name), &e.xattrs)?;
                rfs::chmodat(&pfd, name_c, mode, AtFlags::empty())
            };
            match &e.kind {
                Kind::Dir => {
                    rfs::mkdirat(&pfd, name_c, Mode::from_raw_mode(0o700)).map_err(&e_err)?;
                    dirs.push(e);
                }
                Kind::File(data) => {
                    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                    let fd = rfs::openat(&pfd, name_c, flags, Mode::from_raw_mode(0o600)).map_err(&e_err)?;
                    copy(data, fd.as_fd()).map_err(|source| Error::WriteDir { path: e.path.clone(), source })?;
                    if opts.owners {
                        let (u, g) = owner(e.uid, e.gid);
                        rfs::fchown(&fd, u, g).map_err(&e_err)?;
                    }
                    set_xattrs(fd.as_fd(), None, &e.xattrs).map_err(&e_err)?;
                    rfs::fchmod(&fd, mode).map_err(&e_err)?;
                }
                Kind::Symlink(target) => {
                    rfs::symlinkat(c(target).as_c_str(), &pfd, name_c).map_err(&e_err)?;
                    if opts.owners {
                        let (u, g) = owner(e.uid, e.gid);
                        rfs::chownat(&pfd, name_c, u, g, AtFlags::SYMLINK_NOFOLLOW).map_err(&e_err)?;
                    }
                    set_xattrs(pfd.as_fd(), Some(name), &e.xattrs).map_err(&e_err)?;
                }
                Kind::HardLink(target) => {
                    if !matches!(self.get(target).map(|t| &t.kind), Some(Kind::File(_))) {
                        return Err(Error::HardLink { path: e.path.clone(), target: target.clone() });
                    }
                    let (tparent, tname) = split(target);
                    let tfd = open_dir(root, tparent, false).map_err(&e_err)?;
                    rfs::linkat(&tfd, c(tname).as_c_str(), &pfd, name_c, AtFlags::empty()).map_err(&e_err)?;
                }
                Kind::CharDev { major, minor } => node(FileType::CharacterDevice, rfs::makedev(*major, *minor)).map_err(&e_err)?,
                Kind::BlockDev { major, minor } => node(FileType::BlockDevice, rfs::makedev(*major, *minor)).map_err(&e_err)?,
                Kind::Fifo => node(FileType::Fifo, 0).map_err(&e_err)?,
            }
        }
        // Deepest first: a parent stays writable until its children are done.
        for e in dirs.into_iter().rev() {
            let e_err = err(&e.path);
            let fd = open_dir(root, &e.path, true).map_err(&e_err)?;
            if opts.owners {
                let (u, g) = owner(e.uid, e.gid);
                rfs::fchown(&fd, u, g).map_err(&e_err)?;
            }
            set_xattrs(fd.as_fd(), None, &e.xattrs).map_err(&e_err)?;
            rfs::fchmod(&fd, Mode::from_raw_mode(e.mode)).map_err(&e_err)?;
        }
        let fd = open_dir(root, "", true).map_err(err(&top))?;
        rfs::fchmod(&fd, Mode::from_raw_mode(0o755)).map_err(err(&top))?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "dir_tests.rs"]
mod tests;
