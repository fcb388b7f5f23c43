//! The in-memory root file system that layers are applied to.
//!
//! Directories own their children; every other object is an inode in an
//! arena, so hard links are several names of one inode. Each name records
//! the last layer that wrote it or anything below it, which is how
//! whiteouts tell the lower layers' files from the ones the same layer adds.

use std::collections::BTreeMap;

use crate::spool::Contents;

/// Symlinks followed while resolving one path (Linux's limit).
pub const MAX_SYMLINK_HOPS: u32 = 40;

/// Metadata of a file system object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits with setuid, setgid and sticky (`0o7777` at most).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Extended attributes (e.g. `security.capability`), by name.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

impl Meta {
    /// Root-owned with the given mode and no xattrs.
    pub fn root(mode: u32) -> Meta {
        Meta {
            mode,
            uid: 0,
            gid: 0,
            xattrs: BTreeMap::new(),
        }
    }
}

/// What an object is. Inodes (non-directories) are never `Dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File(Contents),
    /// A symbolic link, target kept verbatim.
    Symlink(String),
    /// A character device.
    CharDev {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDev {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
}

/// A non-directory object; hard links share one.
#[derive(Debug, Clone)]
pub(crate) struct Inode {
    pub meta: Meta,
    pub leaf: Kind,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Dir(Dir),
    Leaf(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct Child {
    pub node: Node,
    /// 1 + the last layer that wrote this name or anything below it.
    pub touched: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct Dir {
    pub meta: Meta,
    pub children: BTreeMap<String, Child>,
}

impl Dir {
    pub(crate) fn new(meta: Meta) -> Dir {
        Dir {
            meta,
            children: BTreeMap::new(),
        }
    }
}

/// Why a path could not be resolved inside the tree.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ResolveError {
    /// More than [`MAX_SYMLINK_HOPS`] symlinks.
    Loop,
    /// A component is neither a directory nor a symlink, and more follow.
    NotDir(String),
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::Loop => write!(
                f,
                "more than {MAX_SYMLINK_HOPS} symlinks while resolving the path"
            ),
            ResolveError::NotDir(p) => write!(f, "parent {p:?} is not a directory"),
        }
    }
}

/// The tree: a root directory and the inodes.
#[derive(Debug, Clone)]
pub(crate) struct Fs {
    pub root: Dir,
    pub inodes: Vec<Inode>,
}

impl Fs {
    pub(crate) fn new() -> Fs {
        Fs {
            root: Dir::new(Meta::root(0o755)),
            inodes: Vec::new(),
        }
    }

    pub(crate) fn lookup(&self, path: &[String]) -> Option<&Node> {
        let (last, parents) = path.split_last()?;
        let mut dir = &self.root;
        for name in parents {
            match &dir.children.get(name)?.node {
                Node::Dir(d) => dir = d,
                Node::Leaf(_) => return None,
            }
        }
        dir.children.get(last).map(|c| &c.node)
    }

    pub(crate) fn dir_mut(&mut self, path: &[String]) -> Option<&mut Dir> {
        let mut dir = &mut self.root;
        for name in path {
            match &mut dir.children.get_mut(name)?.node {
                Node::Dir(d) => dir = d,
                Node::Leaf(_) => return None,
            }
        }
        Some(dir)
    }

    /// Resolves `path` (components, may hold `.` and `..`) inside the tree
    /// with chroot rules: every symlink met is followed inside the tree (an
    /// absolute target starts again at the root, `..` stops at the root),
    /// missing components are taken as they are. Returns the canonical
    /// components.
    pub(crate) fn resolve(&self, path: &[&str]) -> Result<Vec<String>, ResolveError> {
        let mut todo: Vec<String> = path.iter().rev().map(|s| (*s).to_owned()).collect();
        let mut out: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = todo.pop() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    out.pop();
                    continue;
                }
                _ => {}
            }
            out.push(part);
            match self.lookup(&out) {
                None | Some(Node::Dir(_)) => {}
                Some(Node::Leaf(ino)) => match &self.inodes[*ino].leaf {
                    Kind::Symlink(target) => {
                        hops += 1;
                        if hops > MAX_SYMLINK_HOPS {
                            return Err(ResolveError::Loop);
                        }
                        out.pop();
                        if target.starts_with('/') {
                            out.clear();
                        }
                        todo.extend(target.split('/').rev().map(str::to_owned));
                    }
                    _ if !todo.iter().all(|p| p.is_empty() || p == ".") => {
                        return Err(ResolveError::NotDir(out.join("/")));
                    }
                    _ => {}
                },
            }
        }
        Ok(out)
    }

    /// Makes sure the directory `path` (canonical) exists, creating missing
    /// ones (0755, root), and marks every name on the way as touched by
    /// `layer`.
    pub(crate) fn mkdirs(
        &mut self,
        path: &[String],
        layer: usize,
    ) -> Result<&mut Dir, ResolveError> {
        let mut dir = &mut self.root;
        for (i, name) in path.iter().enumerate() {
            let child = dir.children.entry(name.clone()).or_insert_with(|| Child {
                node: Node::Dir(Dir::new(Meta::root(0o755))),
                touched: 0,
            });
            child.touched = layer + 1;
            match &mut child.node {
                Node::Dir(d) => dir = d,
                Node::Leaf(_) => return Err(ResolveError::NotDir(path[..=i].join("/"))),
            }
        }
        Ok(dir)
    }

    /// Puts `node` at `name` in the directory `parent` (which must exist):
    /// a directory over a directory takes the new metadata and keeps the
    /// contents; anything else replaces what was there.
    pub(crate) fn put(
        &mut self,
        parent: &[String],
        name: &str,
        node: Node,
        layer: usize,
    ) -> Result<(), ResolveError> {
        let dir = self.mkdirs(parent, layer)?;
        let touched = layer + 1;
        match (dir.children.get_mut(name), node) {
            (
                Some(Child {
                    node: Node::Dir(old),
                    touched: t,
                }),
                Node::Dir(new),
            ) => {
                old.meta = new.meta;
                *t = touched;
            }
            (_, node) => {
                dir.children
                    .insert(name.to_owned(), Child { node, touched });
            }
        }
        Ok(())
    }

    /// Adds an inode and returns its number.
    pub(crate) fn add_inode(&mut self, meta: Meta, leaf: Kind) -> usize {
        self.inodes.push(Inode { meta, leaf });
        self.inodes.len() - 1
    }
}

/// Removes what lower layers put below `dir`, keeping what `layer` wrote
/// (and the directories leading to it).
pub(crate) fn prune_lower(dir: &mut Dir, layer: usize) {
    dir.children.retain(|_, child| {
        if child.touched != layer + 1 {
            return false;
        }
        if let Node::Dir(d) = &mut child.node {
            prune_lower(d, layer);
        }
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(p: &str) -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn symlink(fs: &mut Fs, at: &str, target: &str) {
        let ino = fs.add_inode(Meta::root(0o777), Kind::Symlink(target.to_owned()));
        let mut p = parts(at);
        let name = p.pop().unwrap();
        fs.put(&p, &name, Node::Leaf(ino), 0).unwrap();
    }

    #[test]
    fn resolve_follows_symlinks_inside_the_root() {
        let mut fs = Fs::new();
        fs.mkdirs(&parts("etc"), 0).unwrap();
        symlink(&mut fs, "abs", "/etc");
        symlink(&mut fs, "up", "../../../../etc");
        symlink(&mut fs, "a/rel", "../abs/x");
        symlink(&mut fs, "loop", "loop");
        let r = |p: &str| fs.resolve(&p.split('/').collect::<Vec<_>>());
        assert_eq!(r("abs/passwd").unwrap(), parts("etc/passwd"));
        assert_eq!(r("up/passwd").unwrap(), parts("etc/passwd"));
        assert_eq!(r("a/rel").unwrap(), parts("etc/x"));
        assert_eq!(r("../../..").unwrap(), Vec::<String>::new());
        assert_eq!(r("loop/x"), Err(ResolveError::Loop));
    }

    #[test]
    fn prune_keeps_only_the_layer_s_own_names() {
        let mut fs = Fs::new();
        fs.mkdirs(&parts("d/old"), 0).unwrap();
        fs.mkdirs(&parts("d/keep/new"), 1).unwrap();
        let d = fs.dir_mut(&parts("d")).unwrap();
        d.children.get_mut("keep").unwrap().touched = 2;
        prune_lower(d, 1);
        assert!(fs.lookup(&parts("d/old")).is_none());
        assert!(fs.lookup(&parts("d/keep/new")).is_some());
    }
}
