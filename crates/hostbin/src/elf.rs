//! What the walker needs from an ELF file, read as the kernel and `ld.so` read it:
//! from the program headers (`PT_INTERP`, `PT_DYNAMIC`, `PT_LOAD`), never the section
//! headers, so stripped files (`sstrip`) read the same.

use object::elf::{FileHeader64, DT_NEEDED, DT_NULL, DT_RPATH, DT_RUNPATH, DT_STRSZ, DT_STRTAB, ELFCLASS64, PT_LOAD};
use object::read::elf::{Dyn as _, FileHeader as _, ProgramHeader as _};
use object::Endianness;

/// The dynamic-linking facts of one ELF file.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Info {
    /// `e_machine`: a library must match its user's.
    pub machine: u16,
    /// `PT_INTERP`: the program interpreter (absent in static and static-pie files and
    /// in shared libraries).
    pub interp: Option<String>,
    /// `DT_NEEDED`, in order.
    pub needed: Vec<String>,
    /// `DT_RPATH`, unsplit.
    pub rpath: Option<String>,
    /// `DT_RUNPATH`, unsplit.
    pub runpath: Option<String>,
}

/// Whether `head` (the first bytes of a file) starts a 64-bit ELF file, and its machine.
pub(crate) fn machine_of(head: &[u8]) -> Option<u16> {
    if head.len() < 20 || &head[..4] != b"\x7fELF" || head[4] != ELFCLASS64.0 {
        return None;
    }
    let bytes = [head[18], head[19]];
    Some(match head[5] {
        b if b == object::elf::ELFDATA2LSB.0 => u16::from_le_bytes(bytes),
        b if b == object::elf::ELFDATA2MSB.0 => u16::from_be_bytes(bytes),
        _ => return None,
    })
}

/// Reads `data` (a whole file). Errors are messages; the caller names the file.
pub(crate) fn parse(data: &[u8]) -> Result<Info, String> {
    if data.len() < 5 || &data[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    if data[4] != ELFCLASS64.0 {
        return Err("a 32-bit ELF file: only 64-bit files are supported".into());
    }
    let header = FileHeader64::<Endianness>::parse(data).map_err(|e| format!("bad ELF header: {e}"))?;
    let endian = header.endian().map_err(|e| format!("bad ELF header: {e}"))?;
    let phdrs = header.program_headers(endian, data).map_err(|e| format!("bad program headers: {e}"))?;
    let mut info = Info { machine: header.e_machine(endian).0, ..Info::default() };
    let mut dynamic = None;
    for ph in phdrs {
        if let Some(interp) = ph.interpreter(endian, data).map_err(|e| format!("bad PT_INTERP: {e}"))? {
            info.interp = Some(utf8(interp, "PT_INTERP")?);
        }
        if let Some(d) = ph.dynamic(endian, data).map_err(|e| format!("bad PT_DYNAMIC: {e}"))? {
            dynamic = Some(d);
        }
    }
    let Some(dynamic) = dynamic else { return Ok(info) };

    // The string table is found by its address, mapped to a file offset through the
    // PT_LOAD segments, as ld.so finds it in memory.
    let mut strtab = None;
    let mut strsz = None;
    for d in dynamic {
        match d.d_tag(endian) {
            DT_NULL => break,
            DT_STRTAB => strtab = Some(d.d_val(endian)),
            DT_STRSZ => strsz = Some(d.d_val(endian)),
            _ => {}
        }
    }
    let (Some(addr), Some(size)) = (strtab, strsz) else {
        return Ok(info); // no strings, so no names (a static-pie loader, say)
    };
    let offset = phdrs
        .iter()
        .filter(|ph| ph.p_type(endian) == PT_LOAD)
        .find_map(|ph| {
            let (vaddr, filesz) = (ph.p_vaddr(endian), ph.p_filesz(endian));
            (addr >= vaddr && addr - vaddr < filesz).then(|| addr - vaddr + ph.p_offset(endian))
        })
        .ok_or_else(|| format!("DT_STRTAB {addr:#x} is in no PT_LOAD segment"))?;
    let table = usize::try_from(offset)
        .ok()
        .zip(usize::try_from(size).ok())
        .and_then(|(o, s)| data.get(o..o.checked_add(s)?))
        .ok_or_else(|| "the dynamic string table is outside the file".to_string())?;
    let string = |d: &object::elf::Dyn64<Endianness>, what: &str| -> Result<String, String> {
        let at = usize::try_from(d.d_val(endian)).map_err(|_| format!("{what}: bad string offset"))?;
        let rest = table.get(at..).ok_or_else(|| format!("{what}: string offset {at} beyond the table"))?;
        let end = rest.iter().position(|&b| b == 0).ok_or_else(|| format!("{what}: unterminated string"))?;
        utf8(&rest[..end], what)
    };
    for d in dynamic {
        match d.d_tag(endian) {
            DT_NULL => break,
            DT_NEEDED => info.needed.push(string(d, "DT_NEEDED")?),
            DT_RPATH => info.rpath = Some(string(d, "DT_RPATH")?),
            DT_RUNPATH => info.runpath = Some(string(d, "DT_RUNPATH")?),
            _ => {}
        }
    }
    Ok(info)
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, String> {
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
}
