//! Applying one tar member of a layer to the tree, with containerd's rules:
//! names cleaned lexically and clamped to the root, symlinked parents
//! resolved inside the tree, whiteouts, hard links inside the tree.

use std::io::Read;

use crate::fs::{prune_lower, Dir, Fs, Kind, Meta, Node};
use crate::spool::{Spool, StoreError};
use crate::tarstream::Member;

/// Longest path Kiln keeps (Linux's `PATH_MAX` less the NUL).
const MAX_PATH: usize = 4095;
/// Longest name of one component (Linux's `NAME_MAX`).
const MAX_NAME: usize = 255;
const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
/// aufs' own metadata (`.wh..wh.plnk`, ...): skipped, as moby does.
const WHITEOUT_META: &str = ".wh..wh.";

/// Why a member could not be applied.
pub(crate) enum ApplyError {
    /// The member is hostile or unsupported: the reason.
    Reject(String),
    /// Reading its data failed.
    Read(std::io::Error),
    /// The spool file failed.
    Spool(std::io::Error),
}

fn reject<T>(reason: impl Into<String>) -> Result<T, ApplyError> {
    Err(ApplyError::Reject(reason.into()))
}

/// Cleans a name lexically: `.` and empty components dropped, `..` pops a
/// component and stops at the root. An empty result is the root itself.
pub(crate) fn clean(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            p => out.push(p.to_owned()),
        }
    }
    out
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, ApplyError> {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.contains('\0') => reject(format!("the {what} has a NUL byte")),
        Ok(s) => Ok(s),
        Err(_) => reject(format!("the {what} is not UTF-8")),
    }
}

/// Resolves the parent of a cleaned path inside the tree (chroot rules).
fn resolve_parent(fs: &Fs, parent: &[String]) -> Result<Vec<String>, ApplyError> {
    let parts: Vec<&str> = parent.iter().map(String::as_str).collect();
    fs.resolve(&parts)
        .map_err(|e| ApplyError::Reject(e.to_string()))
}

/// Applies `member` (layer number `layer`, oldest 0) with its `data`.
pub(crate) fn apply(
    fs: &mut Fs,
    spool: &mut Spool,
    layer: usize,
    member: &Member,
    data: &mut dyn Read,
) -> Result<(), ApplyError> {
    let path = clean(utf8(&member.path, "name")?);
    let Some((base, parent)) = path.split_last() else {
        // The root itself: ignored, as containerd does.
        return Ok(());
    };
    if base.len() > MAX_NAME || path.iter().map(|p| p.len() + 1).sum::<usize>() > MAX_PATH {
        return reject("the name is too long");
    }
    let parent = resolve_parent(fs, parent)?;
    if base.starts_with(WHITEOUT) {
        return whiteout(fs, layer, &parent, base);
    }
    let meta = meta(member)?;
    let node = match member.kind {
        b'5' => Node::Dir(Dir::new(meta)),
        b'0' | b'\0' | b'7' => {
            let contents = spool.store(data, member.size).map_err(|e| match e {
                StoreError::Read(e) => ApplyError::Read(e),
                StoreError::Spool(e) => ApplyError::Spool(e),
            })?;
            Node::Leaf(fs.add_inode(meta, Kind::File(contents)))
        }
        b'2' => {
            let target = utf8(member.link.as_deref().unwrap_or_default(), "symlink target")?;
            if target.is_empty() {
                return reject("the symlink target is empty");
            }
            if target.len() > MAX_PATH {
                return reject("the symlink target is too long");
            }
            Node::Leaf(fs.add_inode(meta, Kind::Symlink(target.to_owned())))
        }
        b'1' => Node::Leaf(hard_link(fs, member)?),
        b'3' | b'4' => {
            let (major, minor) = member.dev;
            if major >= 1 << 12 || minor >= 1 << 20 {
                return reject(format!(
                    "device number {major}:{minor} is out of Linux's range"
                ));
            }
            let leaf = if member.kind == b'3' {
                Kind::CharDev { major, minor }
            } else {
                Kind::BlockDev { major, minor }
            };
            Node::Leaf(fs.add_inode(meta, leaf))
        }
        b'6' => Node::Leaf(fs.add_inode(meta, Kind::Fifo)),
        other => return reject(format!("unsupported entry type {:?}", other as char)),
    };
    fs.put(&parent, base, node, layer)
        .map_err(|e| ApplyError::Reject(e.to_string()))
}

fn meta(member: &Member) -> Result<Meta, ApplyError> {
    let id = |v: u64, what: &str| {
        u32::try_from(v).or_else(|_| reject(format!("{what} {v} does not fit 32 bits")))
    };
    let mut meta = Meta {
        mode: member.mode & 0o7777,
        uid: id(member.uid, "uid")?,
        gid: id(member.gid, "gid")?,
        xattrs: Default::default(),
    };
    for (name, value) in &member.xattrs {
        meta.xattrs.insert(name.clone(), value.clone());
    }
    Ok(meta)
}

/// A hard link: the target is cleaned and clamped like a name, its parent
/// resolved inside the tree, its last component not followed (a link to a
/// symlink is a link to the symlink). It must exist already.
fn hard_link(fs: &Fs, member: &Member) -> Result<usize, ApplyError> {
    let target = utf8(
        member.link.as_deref().unwrap_or_default(),
        "hard link target",
    )?;
    let cleaned = clean(target);
    let Some((base, parent)) = cleaned.split_last() else {
        return reject(format!("hard link to the root ({target:?})"));
    };
    let mut resolved = resolve_parent(fs, parent)?;
    resolved.push(base.clone());
    match fs.lookup(&resolved) {
        Some(Node::Leaf(ino)) => Ok(*ino),
        Some(Node::Dir(_)) => reject(format!("hard link to the directory {target:?}")),
        None => reject(format!(
            "hard link target {target:?} does not exist (a link must come after its target)"
        )),
    }
}

/// `.wh.NAME` hides NAME of the lower layers; `.wh..wh..opq` hides the lower
/// layers' contents of its directory. What this layer wrote stays.
fn whiteout(fs: &mut Fs, layer: usize, parent: &[String], base: &str) -> Result<(), ApplyError> {
    if base == OPAQUE {
        let dir = fs
            .mkdirs(parent, layer)
            .map_err(|e| ApplyError::Reject(e.to_string()))?;
        prune_lower(dir, layer);
        return Ok(());
    }
    if base.starts_with(WHITEOUT_META) {
        return Ok(());
    }
    let name = &base[WHITEOUT.len()..];
    if matches!(name, "" | "." | "..") {
        return reject(format!("whiteout {base:?} names no entry of its directory"));
    }
    let Some(dir) = fs.dir_mut(parent) else {
        return Ok(());
    };
    let Some(child) = dir.children.get_mut(name) else {
        return Ok(());
    };
    if child.touched != layer + 1 {
        dir.children.remove(name);
    } else if let Node::Dir(d) = &mut child.node {
        prune_lower(d, layer);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_and_clamped() {
        assert_eq!(clean("../../etc/./passwd"), ["etc", "passwd"]);
        assert_eq!(clean("/a//b/../c/"), ["a", "c"]);
        assert!(clean("./").is_empty() && clean("..").is_empty());
    }
}
