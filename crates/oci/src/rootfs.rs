//! The unpacked image: inspection, and conversion to an initramfs `Tree`.

use std::collections::HashMap;
use std::io;

use kiln_initramfs::{Data, FileSlice, Tree};

use crate::fs::{Dir, Fs, Kind, Meta, Node};
use crate::spool::{Contents, Spool};
use crate::Error;

/// The root file system of an image, in memory (contents of big files in
/// the spool file).
#[derive(Debug)]
pub struct Rootfs {
    fs: Fs,
    spool: Spool,
}

/// One object of a [`Rootfs`], for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path from the root, without a leading `/`.
    pub path: String,
    /// What it is.
    pub kind: Kind,
    /// Mode, owner and xattrs.
    pub meta: Meta,
    /// Inode number in the tree (shared by hard links); `None` for
    /// directories.
    pub inode: Option<usize>,
}

/// A [`Rootfs`] as an initramfs tree.
#[derive(Debug)]
pub struct TreeConversion {
    /// The tree: regular files hard-linked together become one
    /// `Kind::File` (the first path in write order) and `Kind::HardLink`s
    /// to it; other hard-linked objects become copies.
    pub tree: Tree,
    /// `(path, xattr name)` of every extended attribute. The tree's entries
    /// carry them; a squashfs keeps them, a newc initramfs cannot.
    pub xattrs: Vec<(String, String)>,
}

impl Rootfs {
    pub(crate) fn new(fs: Fs, spool: Spool) -> Rootfs {
        Rootfs { fs, spool }
    }

    /// Every object, depth-first in path order (parents before children,
    /// `a`, `a/b`, `a-b`), the root excluded.
    pub fn entries(&self) -> Vec<Entry> {
        let mut out = Vec::new();
        walk(&self.fs.root, "", &mut |path, node| {
            let (kind, meta, inode) = match node {
                Node::Dir(d) => (Kind::Dir, d.meta.clone(), None),
                Node::Leaf(ino) => {
                    let i = &self.fs.inodes[*ino];
                    (i.leaf.clone(), i.meta.clone(), Some(*ino))
                }
            };
            out.push(Entry {
                path: path.to_owned(),
                kind,
                meta,
                inode,
            });
        });
        out
    }

    /// The object at `path` (no leading `/`), not following symlinks.
    pub fn get(&self, path: &str) -> Option<Entry> {
        self.entries()
            .into_iter()
            .find(|e| e.path == path.trim_start_matches('/'))
    }

    /// The root directory's metadata (layers' entries for `/` are ignored,
    /// as containerd does: it is root-owned 0755).
    pub fn root_meta(&self) -> &Meta {
        &self.fs.root.meta
    }

    /// Reads a regular file's contents.
    pub fn read(&self, contents: &Contents) -> io::Result<Vec<u8>> {
        self.spool.read(contents)
    }

    /// Bytes of file contents in the spool file (the rest is in memory).
    pub fn spooled_bytes(&self) -> u64 {
        self.spool.spooled_bytes()
    }

    /// Converts to a `kiln_initramfs::Tree`, keeping modes (setuid too),
    /// owners, extended attributes, device nodes and hard links. Spooled contents are referenced
    /// ([`Data::Slice`]), not copied: the tree keeps the spool file open.
    pub fn to_tree(&self) -> Result<TreeConversion, Error> {
        let mut tree = Tree::new();
        let mut dropped = Vec::new();
        let mut first_name: HashMap<usize, String> = HashMap::new();
        for e in self.entries() {
            for name in e.meta.xattrs.keys() {
                dropped.push((e.path.clone(), name.clone()));
            }
            let kind = match (&e.kind, e.inode) {
                (Kind::File(_), Some(ino)) if first_name.contains_key(&ino) => {
                    kiln_initramfs::Kind::HardLink(first_name[&ino].clone())
                }
                (Kind::File(c), ino) => {
                    if let Some(ino) = ino {
                        first_name.insert(ino, e.path.clone());
                    }
                    kiln_initramfs::Kind::File(self.data(c)?)
                }
                (Kind::Dir, _) => kiln_initramfs::Kind::Dir,
                (Kind::Symlink(t), _) => kiln_initramfs::Kind::Symlink(t.clone()),
                (Kind::CharDev { major, minor }, _) => kiln_initramfs::Kind::CharDev {
                    major: *major,
                    minor: *minor,
                },
                (Kind::BlockDev { major, minor }, _) => kiln_initramfs::Kind::BlockDev {
                    major: *major,
                    minor: *minor,
                },
                (Kind::Fifo, _) => kiln_initramfs::Kind::Fifo,
            };
            let mut entry = kiln_initramfs::Entry::new(&e.path, e.meta.mode, kind);
            entry.uid = e.meta.uid;
            entry.gid = e.meta.gid;
            entry.xattrs = e.meta.xattrs.clone();
            tree.insert(entry)?;
        }
        Ok(TreeConversion {
            tree,
            xattrs: dropped,
        })
    }

    fn data(&self, c: &Contents) -> Result<Data, Error> {
        Ok(match c {
            Contents::Inline(b) => Data::Bytes(b.clone()),
            Contents::Spooled { offset, len } => {
                let file = self.spool.file().cloned().ok_or_else(|| Error::Spool {
                    dir: self.spool.dir().to_owned(),
                    source: io::Error::other("no spool file"),
                })?;
                Data::Slice(FileSlice {
                    file,
                    offset: *offset,
                    len: *len,
                })
            }
        })
    }
}

fn walk(dir: &Dir, prefix: &str, f: &mut dyn FnMut(&str, &Node)) {
    for (name, child) in &dir.children {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        f(&path, &child.node);
        if let Node::Dir(d) = &child.node {
            walk(d, &path, f);
        }
    }
}
