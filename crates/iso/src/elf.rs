//! Just enough ELF for GRUB modules (`*.mod`, relocatable objects): reading their symbol
//! tables, and writing a stub module whose functions all return 0.

use anyhow::{bail, ensure, Context, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// i386-pc modules.
    Elf32,
    /// x86_64-efi modules.
    Elf64,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Symbols {
    /// Global symbols the module needs from the kernel or other modules.
    pub undefined: Vec<String>,
    /// Global symbols the module exports.
    pub defined: Vec<String>,
}

const SHT_SYMTAB: u32 = 2;
const SHT_STRTAB: u32 = 3;
const SHT_PROGBITS: u32 = 1;
const SHF_ALLOC: u64 = 2;
const SHF_EXECINSTR: u64 = 4;

fn read(b: &[u8], at: usize, n: usize) -> Result<u64> {
    let s = b.get(at..at + n).context("truncated ELF file")?;
    Ok(s.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
}

fn cstr(b: &[u8], at: usize) -> Result<String> {
    let rest = b.get(at..).context("string outside the ELF file")?;
    let end = rest.iter().position(|&c| c == 0).context("unterminated ELF string")?;
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// The global symbols of a little-endian relocatable ELF object.
pub fn symbols(b: &[u8]) -> Result<Symbols> {
    ensure!(b.len() > 52 && b[..4] == *b"\x7fELF" && b[5] == 1, "not a little-endian ELF file");
    let (w, shoff, shentsize, shnum) = match b[4] {
        1 => (4usize, read(b, 32, 4)?, read(b, 46, 2)?, read(b, 48, 2)?),
        2 => (8usize, read(b, 40, 8)?, read(b, 58, 2)?, read(b, 60, 2)?),
        c => bail!("unknown ELF class {c}"),
    };
    // Section header fields: (type, offset, size, link) at their class's offsets.
    let section = |i: u64| -> Result<(u32, usize, usize, u64)> {
        let h = (shoff + i * shentsize) as usize;
        let (off, size, link) = if w == 4 { (16, 20, 24) } else { (24, 32, 40) };
        Ok((read(b, h + 4, 4)? as u32, read(b, h + off, w)? as usize, read(b, h + size, w)? as usize, read(b, h + link, 4)?))
    };
    let mut out = Symbols::default();
    for i in 0..shnum {
        let (kind, off, size, link) = section(i)?;
        if kind != SHT_SYMTAB {
            continue;
        }
        let (_, stroff, _, _) = section(link)?;
        let entsize = if w == 4 { 16 } else { 24 };
        for s in (off..off + size).step_by(entsize).skip(1) {
            let name = read(b, s, 4)? as usize;
            let (info, shndx) = if w == 4 { (read(b, s + 12, 1)?, read(b, s + 14, 2)?) } else { (read(b, s + 4, 1)?, read(b, s + 6, 2)?) };
            if info >> 4 == 0 || name == 0 {
                continue; // local
            }
            let name = cstr(b, stroff + name)?;
            if shndx == 0 { out.undefined.push(name) } else { out.defined.push(name) }
        }
    }
    Ok(out)
}

/// A section header's values and data: (type, flags, data, link, info, entsize).
type Section<'a> = (u32, u64, &'a [u8], u64, u64, u64);

/// A GRUB module named `name` exporting `functions`, each of which returns 0
/// (`GRUB_ERR_NONE`). GRUB's loader needs `.modname`, a GPL `.module_license` and a
/// symbol table; no relocations, no init function.
pub fn stub_module(class: Class, name: &str, functions: &[&str]) -> Vec<u8> {
    const RET0: [u8; 4] = [0x31, 0xc0, 0xc3, 0x90]; // xor eax,eax; ret; nop
    let wide = class == Class::Elf64;
    let text: Vec<u8> = functions.iter().flat_map(|_| RET0).collect();
    let modname = format!("{name}\0").into_bytes();
    let license = b"LICENSE=GPLv3+\0".to_vec();
    let mut strtab = vec![0u8];
    let mut syms = vec![0u8; if wide { 24 } else { 16 }];
    for (i, f) in functions.iter().enumerate() {
        let name = strtab.len() as u32;
        strtab.extend_from_slice(f.as_bytes());
        strtab.push(0);
        let value = (i * RET0.len()) as u64;
        let mut sym = name.to_le_bytes().to_vec();
        if wide {
            sym.extend([0x12, 0]); // STB_GLOBAL, STT_FUNC; st_other
            sym.extend(1u16.to_le_bytes()); // .text
            sym.extend(value.to_le_bytes());
            sym.extend(3u64.to_le_bytes());
        } else {
            sym.extend((value as u32).to_le_bytes());
            sym.extend(3u32.to_le_bytes());
            sym.extend([0x12, 0]);
            sym.extend(1u16.to_le_bytes());
        }
        syms.extend(sym);
    }
    let names = ["", ".text", ".modname", ".module_license", ".symtab", ".strtab", ".shstrtab"];
    let mut shstrtab = Vec::new();
    let mut name_at = Vec::new();
    for n in names {
        name_at.push(shstrtab.len() as u64);
        shstrtab.extend_from_slice(n.as_bytes());
        shstrtab.push(0);
    }
    // In the order of `names`.
    let entsize = if wide { 24 } else { 16 };
    let sections: [Section; 6] = [
        (SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, &text, 0, 0, 0),
        (SHT_PROGBITS, SHF_ALLOC, &modname, 0, 0, 0),
        (SHT_PROGBITS, SHF_ALLOC, &license, 0, 0, 0),
        (SHT_SYMTAB, 0, &syms, 5, 1, entsize),
        (SHT_STRTAB, 0, &strtab, 0, 0, 0),
        (SHT_STRTAB, 0, &shstrtab, 0, 0, 0),
    ];
    let ehsize = if wide { 64 } else { 52 };
    let mut body = Vec::new();
    let mut offsets = Vec::new();
    for s in &sections {
        while (ehsize + body.len()) % 8 != 0 {
            body.push(0);
        }
        offsets.push((ehsize + body.len()) as u64);
        body.extend_from_slice(s.2);
    }
    while (ehsize + body.len()) % 8 != 0 {
        body.push(0);
    }
    let shoff = (ehsize + body.len()) as u64;
    // A field of the class's width.
    let word = |v: u64| if wide { v.to_le_bytes().to_vec() } else { (v as u32).to_le_bytes().to_vec() };
    let mut out = b"\x7fELF".to_vec();
    out.extend([if wide { 2 } else { 1 }, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend(1u16.to_le_bytes()); // ET_REL
    out.extend((if wide { 62u16 } else { 3u16 }).to_le_bytes()); // EM_X86_64 / EM_386
    out.extend(1u32.to_le_bytes());
    out.extend(word(0)); // entry
    out.extend(word(0)); // phoff
    out.extend(word(shoff));
    out.extend(0u32.to_le_bytes()); // flags
    out.extend((ehsize as u16).to_le_bytes());
    out.extend(0u16.to_le_bytes()); // phentsize
    out.extend(0u16.to_le_bytes()); // phnum
    out.extend((if wide { 64u16 } else { 40u16 }).to_le_bytes());
    out.extend(7u16.to_le_bytes()); // shnum
    out.extend(6u16.to_le_bytes()); // shstrndx
    out.extend(body);
    out.extend(vec![0u8; if wide { 64 } else { 40 }]); // the null section
    for (i, (kind, flags, data, link, info, entsize)) in sections.iter().enumerate() {
        out.extend((name_at[i + 1] as u32).to_le_bytes());
        out.extend(kind.to_le_bytes());
        out.extend(word(*flags));
        out.extend(word(0)); // addr
        out.extend(word(offsets[i]));
        out.extend(word(data.len() as u64));
        out.extend((*link as u32).to_le_bytes());
        out.extend((*info as u32).to_le_bytes());
        out.extend(word(match i { 0 => 16, 3 => 8, _ => 1 })); // addralign
        out.extend(word(*entsize));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stubs_read_back_in_both_classes() {
        for class in [Class::Elf32, Class::Elf64] {
            let m = stub_module(class, "net", &["grub_net_search_config_file", "grub_other"]);
            let s = symbols(&m).unwrap();
            assert_eq!(s.defined, ["grub_net_search_config_file", "grub_other"], "{class:?}");
            assert!(s.undefined.is_empty());
            assert!(m.windows(4).any(|w| w == b"net\0"));
        }
    }

    #[test]
    fn reads_grubs_own_modules() {
        for (dir, class) in [("/usr/lib/grub/i386-pc", "32"), ("/usr/lib/grub/x86_64-efi", "64")] {
            let Ok(b) = std::fs::read(format!("{dir}/normal.mod")) else { continue };
            let s = symbols(&b).unwrap();
            assert!(s.undefined.iter().any(|n| n == "grub_net_search_config_file"), "ELF{class}");
            assert!(s.defined.iter().any(|n| n == "grub_normal_execute"), "ELF{class}");
        }
    }
}
