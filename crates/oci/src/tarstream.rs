//! Reading tar streams with the `tar` crate as a parser only.
//!
//! The crate's own handling of GNU long names and PAX headers reads them
//! whole into memory, however big they claim to be, and lets a PAX `size`
//! silently override the header's. Here the stream is read raw and the
//! extension headers are combined by hand, with caps on their size, and
//! every disagreement between them is an error: a tar stream that two
//! parsers could read differently (CVE-2026-33055) is rejected, not guessed.

use std::io::{self, Read};

use tar::{EntryType, PaxExtensions};

/// Caps on a tar stream's extension headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderCaps {
    /// Largest GNU long name or long link (`L`/`K`) member.
    pub long_name: u64,
    /// Largest PAX extended header (`x` or `g`).
    pub pax: u64,
}

/// One member of a tar stream, with its extension headers applied.
#[derive(Debug, Clone, Default)]
pub(crate) struct Member {
    /// Path: the PAX `path`, else the GNU long name, else the header's.
    pub path: Vec<u8>,
    /// Link target, likewise (`linkpath`, GNU long link, header).
    pub link: Option<Vec<u8>>,
    /// The header's type flag.
    pub kind: u8,
    /// Permission bits and more, as the header has them.
    pub mode: u32,
    /// Owner (PAX `uid` over the header's).
    pub uid: u64,
    /// Group (PAX `gid` over the header's).
    pub gid: u64,
    /// Size of the member's data.
    pub size: u64,
    /// Device numbers (character and block devices).
    pub dev: (u32, u32),
    /// `SCHILY.xattr.NAME` records.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl Member {
    /// The path for messages.
    pub fn display_path(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// Why a stream could not be read.
#[derive(Debug)]
pub(crate) enum TarError<E> {
    /// The stream is malformed or could not be read.
    Io { after: String, source: io::Error },
    /// A member (named) is hostile or unsupported.
    Entry { entry: String, reason: String },
    /// The callback failed.
    Callback(E),
}

#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

/// Reads every member of the tar stream `reader` and calls `f` with the
/// member, a reader of its data, and the offset of that data in the stream.
/// Global PAX headers are read and ignored (as containerd does).
pub(crate) fn walk<R: Read, E>(
    reader: R,
    caps: HeaderCaps,
    mut f: impl FnMut(&Member, &mut dyn Read, u64) -> Result<(), E>,
) -> Result<(), TarError<E>> {
    let mut archive = tar::Archive::new(reader);
    let mut after = String::new();
    let io_err = |after: &str| {
        let after = after.to_owned();
        move |source| TarError::Io { after, source }
    };
    let entries = archive.entries().map_err(io_err(&after))?.raw(true);
    let mut pending = Pending::default();
    for entry in entries {
        let mut entry = entry.map_err(io_err(&after))?;
        let header = entry.header().clone();
        let kind = header.entry_type();
        let header_path = header.path_bytes().into_owned();
        let size = header.entry_size().map_err(io_err(&after))?;
        let reject = |reason: String| TarError::Entry {
            entry: String::from_utf8_lossy(&header_path).into_owned(),
            reason,
        };
        let read_ext =
            |entry: &mut dyn Read, cap: u64, what: &str| -> Result<Vec<u8>, TarError<E>> {
                if size > cap {
                    return Err(reject(format!(
                        "oversize {what} header ({size} bytes, limit {cap})"
                    )));
                }
                let mut data = Vec::with_capacity(size as usize);
                entry
                    .take(cap)
                    .read_to_end(&mut data)
                    .map_err(io_err(&after))?;
                Ok(data)
            };
        match kind {
            EntryType::GNULongName | EntryType::GNULongLink => {
                let what = if kind == EntryType::GNULongName {
                    "GNU long name"
                } else {
                    "GNU long link"
                };
                let data = read_ext(&mut entry, caps.long_name, what)?;
                let slot = if kind == EntryType::GNULongName {
                    &mut pending.long_name
                } else {
                    &mut pending.long_link
                };
                if slot.is_some() {
                    return Err(reject(format!("two {what} headers for one member")));
                }
                let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
                *slot = Some(data[..end].to_vec());
                continue;
            }
            EntryType::XHeader => {
                let data = read_ext(&mut entry, caps.pax, "PAX")?;
                if pending.pax.is_some() {
                    return Err(reject("two PAX headers for one member".to_owned()));
                }
                check_pax(&data).map_err(reject)?;
                pending.pax = Some(data);
                continue;
            }
            EntryType::XGlobalHeader => {
                let data = read_ext(&mut entry, caps.pax, "PAX global")?;
                check_pax(&data).map_err(reject)?;
                continue;
            }
            _ => {}
        }
        let ext = std::mem::take(&mut pending);
        let member = member(&header, header_path.clone(), size, ext).map_err(reject)?;
        after = member.display_path();
        let offset = entry.raw_file_position();
        f(&member, &mut entry, offset).map_err(TarError::Callback)?;
    }
    if pending.long_name.is_some() || pending.long_link.is_some() || pending.pax.is_some() {
        return Err(TarError::Entry {
            entry: after,
            reason: "the stream ends with extension headers that describe no member".to_owned(),
        });
    }
    Ok(())
}

fn check_pax(data: &[u8]) -> Result<(), String> {
    for record in PaxExtensions::new(data) {
        let record = record.map_err(|e| format!("malformed PAX header: {e}"))?;
        if record.key().is_err() {
            return Err("malformed PAX header: a key is not UTF-8".to_owned());
        }
    }
    Ok(())
}

fn pax_number(value: &[u8], key: &str) -> Result<u64, String> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            format!(
                "PAX {key} {:?} is not a number",
                String::from_utf8_lossy(value)
            )
        })
}

fn member(
    header: &tar::Header,
    header_path: Vec<u8>,
    size: u64,
    ext: Pending,
) -> Result<Member, String> {
    let kind = header.entry_type();
    let bad = |what: &'static str| move |e: io::Error| format!("bad {what} field: {e}");
    let mut m = Member {
        path: header_path,
        link: header.link_name_bytes().map(|l| l.into_owned()),
        kind: kind.as_byte(),
        mode: header.mode().map_err(bad("mode"))?,
        uid: header.uid().map_err(bad("uid"))?,
        gid: header.gid().map_err(bad("gid"))?,
        size,
        dev: (0, 0),
        xattrs: Vec::new(),
    };
    if matches!(kind, EntryType::Char | EntryType::Block) {
        let major = header
            .device_major()
            .map_err(bad("device major"))?
            .unwrap_or(0);
        let minor = header
            .device_minor()
            .map_err(bad("device minor"))?
            .unwrap_or(0);
        m.dev = (major, minor);
    }
    if kind == EntryType::GNUSparse {
        return Err("sparse files are not supported".to_owned());
    }
    let (mut pax_path, mut pax_link) = (None, None);
    if let Some(pax) = &ext.pax {
        for record in PaxExtensions::new(pax) {
            let record = record.map_err(|e| format!("malformed PAX header: {e}"))?;
            let key = record
                .key()
                .map_err(|_| "malformed PAX header".to_owned())?;
            let value = record.value_bytes();
            match key {
                "path" => pax_path = Some(value.to_vec()),
                "linkpath" => pax_link = Some(value.to_vec()),
                "size" => {
                    let pax_size = pax_number(value, "size")?;
                    if pax_size != size {
                        return Err(format!(
                            "PAX size {pax_size} disagrees with the header's size {size}"
                        ));
                    }
                }
                "uid" => m.uid = pax_number(value, "uid")?,
                "gid" => m.gid = pax_number(value, "gid")?,
                k if k.starts_with("GNU.sparse.") => {
                    return Err("sparse files are not supported".to_owned())
                }
                k if k.starts_with("SCHILY.xattr.") => {
                    m.xattrs
                        .push((k["SCHILY.xattr.".len()..].to_owned(), value.to_vec()));
                }
                _ => {}
            }
        }
    }
    m.path = pick("path", pax_path, ext.long_name, m.path)?;
    m.link = match (pax_link, ext.long_link, m.link) {
        (None, None, header) => header,
        (pax, gnu, header) => Some(pick("link", pax, gnu, header.unwrap_or_default())?),
    };
    Ok(m)
}

/// The PAX value, else the GNU one, else the header's; PAX and GNU must
/// agree when both are there.
fn pick(
    what: &str,
    pax: Option<Vec<u8>>,
    gnu: Option<Vec<u8>>,
    header: Vec<u8>,
) -> Result<Vec<u8>, String> {
    match (pax, gnu) {
        (Some(p), Some(g)) if p != g => Err(format!(
            "PAX and GNU headers disagree on the {what}: {:?} and {:?}",
            String::from_utf8_lossy(&p),
            String::from_utf8_lossy(&g)
        )),
        (Some(p), _) => Ok(p),
        (None, Some(g)) => Ok(g),
        (None, None) => Ok(header),
    }
}
