//! A [`Tree`] as an uncompressed tar stream: what `mksquashfs -tar` reads.

use anyhow::{Context, Result};
use kiln_initramfs::{Kind, Tree};
use std::io::{self, Read, Write};
use tar::{EntryType, Header};

/// Writes `tree` to `w` as a tar archive (GNU headers, GNU long names, PAX
/// `SCHILY.xattr.*` records for extended attributes), every mtime `epoch`, owners
/// numeric only. Entries come in the tree's order: a directory before its contents, a
/// hard link after the file it names.
pub fn write_tar<W: Write>(tree: &Tree, w: W, epoch: u64) -> Result<W> {
    let mut b = tar::Builder::new(w);
    for e in tree.iter() {
        let at = || format!("writing /{} to the tar stream", e.path);
        if !e.xattrs.is_empty() {
            let records: Vec<(String, &[u8])> = e.xattrs.iter().map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice())).collect();
            b.append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v))).with_context(at)?;
        }
        let mut h = Header::new_gnu();
        h.set_mode(e.mode);
        h.set_uid(e.uid.into());
        h.set_gid(e.gid.into());
        h.set_mtime(epoch);
        h.set_size(0);
        let path = e.path.as_str();
        match &e.kind {
            Kind::Dir => {
                h.set_entry_type(EntryType::Directory);
                b.append_data(&mut h, format!("{path}/"), io::empty()).with_context(at)?;
            }
            Kind::File(data) => {
                let (len, reader) = data.open().with_context(|| format!("reading the contents of /{path}"))?;
                h.set_entry_type(EntryType::Regular);
                h.set_size(len);
                b.append_data(&mut h, path, Exact { inner: reader, left: len }).with_context(at)?;
            }
            Kind::Symlink(target) => {
                h.set_entry_type(EntryType::Symlink);
                b.append_link(&mut h, path, target).with_context(at)?;
            }
            Kind::HardLink(target) => {
                h.set_entry_type(EntryType::Link);
                b.append_link(&mut h, path, target).with_context(at)?;
            }
            Kind::CharDev { major, minor } | Kind::BlockDev { major, minor } => {
                let t = if matches!(e.kind, Kind::CharDev { .. }) { EntryType::Char } else { EntryType::Block };
                h.set_entry_type(t);
                h.set_device_major(*major).with_context(at)?;
                h.set_device_minor(*minor).with_context(at)?;
                b.append_data(&mut h, path, io::empty()).with_context(at)?;
            }
            Kind::Fifo => {
                h.set_entry_type(EntryType::Fifo);
                b.append_data(&mut h, path, io::empty()).with_context(at)?;
            }
        }
    }
    let mut w = b.into_inner().context("ending the tar stream")?;
    w.flush().context("ending the tar stream")?;
    Ok(w)
}

/// Reads exactly `left` bytes from `inner`, failing if it ends early, so that a file
/// that shrank since its size was taken cannot shift the archive.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let n = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..n])?;
        if got == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("contents end {} bytes early", self.left)));
        }
        self.left -= got as u64;
        Ok(got)
    }
}
