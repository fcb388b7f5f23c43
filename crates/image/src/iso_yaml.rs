//! `iso.yaml`: the optional boot menu of a container image under the container-native
//! ISO contract v0.1 (`/usr/lib/image-builder/bootc/iso.yaml`, else the older
//! `/usr/lib/bootc-image-builder/iso.yaml`), read as bootc image-builder reads it
//! (osbuild/images `pkg/bib/osinfo`):
//!
//! ```yaml
//! label: "Fedora-bootc-Installer"      # the ISO 9660 volume id
//! kernel_args: ["root=live:CDLABEL=Fedora-bootc-Installer", "rd.live.image"]
//! grub2:
//!   default: 0                         # an entry's index (image-builder), or its name
//!   timeout: 10                        # seconds; "10" is accepted too (the spec says string)
//!   entries:                           # all three keys required
//!     - name: "Live"
//!       linux: "/images/pxeboot/vmlinuz root=live:CDLABEL=Fedora-bootc-Installer rd.live.image"
//!       initrd: "/images/pxeboot/initrd.img"
//! ```
//!
//! Every key is optional; an unknown key is an error (image-builder ignores it, but a
//! typo would silently drop a setting). `kernel_args` is a list of strings, as in
//! image-builder (a plain string is rejected there too). What is checked here needs only
//! the file: the paths of contract v0.1, the label's characters, `default` against the
//! entries, no control characters (a newline in a name or a command line would end up as
//! a line of `grub.cfg`). How the menu is made from it is in `contract::Contract::menu`.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::fmt;

/// The only kernel path of contract v0.1 (where the ISO holds the image's vmlinuz).
pub const KERNEL: &str = "/images/pxeboot/vmlinuz";
/// The only initramfs path of contract v0.1.
pub const INITRD: &str = "/images/pxeboot/initrd.img";
/// Longest ISO 9660 volume id (xorriso: "-volid: Text too long (33 > 32)").
pub const MAX_LABEL: usize = 32;

/// The file, checked. Absent keys are `None`/empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoYaml {
    pub label: Option<String>,
    pub kernel_args: Vec<String>,
    pub default: Option<MenuDefault>,
    pub timeout: Option<u32>,
    pub entries: Vec<Grub2Entry>,
}

/// `grub2.default`: image-builder reads an index (a Go `*int`); the contract's text
/// says string, which GRUB's `set default=` takes as an entry's title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuDefault {
    Index(usize),
    Name(String),
}

/// One `grub2.entries[]` item; `args` is `linux` after the kernel path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grub2Entry {
    pub name: String,
    pub args: String,
    /// The entry's line in the file, for messages.
    pub line: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    label: Option<Spanned<String>>,
    #[serde(default)]
    kernel_args: Vec<Spanned<String>>,
    grub2: Option<RawGrub2>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrub2 {
    default: Option<Spanned<MenuDefault>>,
    timeout: Option<Spanned<Seconds>>,
    #[serde(default)]
    entries: Vec<Spanned<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: String,
    linux: String,
    initrd: String,
}

struct Seconds(u32);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of seconds (0 or more), e.g. 5 or \"5\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seconds, E> {
                u32::try_from(v).map(Seconds).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
                u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self)).and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Seconds, E> {
                v.trim().parse::<u32>().map(Seconds).map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for MenuDefault {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = MenuDefault;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an entry's index (0 is the first) or its name")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MenuDefault, E> {
                usize::try_from(v).map(MenuDefault::Index).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MenuDefault, E> {
                u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self)).and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MenuDefault, E> {
                Ok(match v.trim().parse::<usize>() {
                    Ok(i) => MenuDefault::Index(i),
                    Err(_) => MenuDefault::Name(v.to_string()),
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Checks an ISO 9660 volume id for `root=live:CDLABEL=`: 1-32 of A-Z a-z 0-9 `_ - .`.
/// xorriso takes any 32 bytes, but udev escapes others in `/dev/disk/by-label/`
/// (a space becomes `\x20`), where dracut looks for the label.
pub fn check_label(label: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if label.is_empty() || label.len() > MAX_LABEL || !label.chars().all(ok) {
        return Err(format!(
            "label {label:?} is not a usable ISO 9660 volume id: use 1-{MAX_LABEL} characters of A-Z a-z 0-9 _ - . (e.g. {:?})",
            suggest_label(label)
        ));
    }
    Ok(())
}

/// `label` with unusable characters replaced by `_`, cut to 32 characters.
pub fn suggest_label(label: &str) -> String {
    let s: String = label.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '.') { c } else { '_' }).take(MAX_LABEL).collect();
    if s.is_empty() {
        "LIVE".into()
    } else {
        s
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Parses and checks `text`; an error says where (`line N`), which key, and what to
/// write instead. `path` is the file's path in the image, for messages.
pub fn parse(text: &str, path: &str) -> Result<IsoYaml, String> {
    const KEYS: &str = "label, kernel_args, grub2 (default, timeout, entries: name, linux, initrd)";
    let raw: Raw = serde_saphyr::from_str(text).map_err(|e| {
        let e = e.without_snippet().to_string().replace(", set DuplicateKeyPolicy in Options if acceptable", "");
        let hint = if e.contains("unknown field") {
            format!("; contract v0.1 knows {KEYS}: remove or rename the key")
        } else if e.contains("expected sequence") {
            "; kernel_args and grub2.entries are lists, e.g. kernel_args: [\"quiet\"]".to_string()
        } else {
            String::new()
        };
        format!("{path}: {e}{hint}")
    })?;
    let at = |line: u64, key: &str, msg: String| format!("{path}: line {line}, key `{key}`: {msg}");
    let label = match raw.label {
        Some(l) => {
            check_label(&l.value).map_err(|m| at(l.referenced.line(), "label", m))?;
            Some(l.value)
        }
        None => None,
    };
    for a in &raw.kernel_args {
        if has_control(&a.value) || a.value.trim().is_empty() {
            return Err(at(a.referenced.line(), "kernel_args", format!("{:?} is not a kernel argument: no empty items or control characters (newlines)", a.value)));
        }
    }
    let kernel_args = raw.kernel_args.into_iter().map(|a| a.value).collect();
    let Some(g) = raw.grub2 else {
        return Ok(IsoYaml { label, kernel_args, default: None, timeout: None, entries: Vec::new() });
    };
    let mut entries = Vec::new();
    for (i, e) in g.entries.into_iter().enumerate() {
        let line = e.referenced.line();
        let key = |k: &str| format!("grub2.entries[{i}].{k}");
        let e = e.value;
        if e.name.trim().is_empty() || has_control(&e.name) {
            return Err(at(line, &key("name"), format!("{:?}: a menu entry needs a name on one line", e.name)));
        }
        let linux = e.linux.trim();
        let args = match linux.strip_prefix(KERNEL) {
            Some(rest) if rest.is_empty() || rest.starts_with([' ', '\t']) => rest.trim(),
            _ => {
                return Err(at(
                    line,
                    &key("linux"),
                    format!("{linux:?} must start with {KERNEL}, the only kernel path of contract v0.1 (the ISO puts the image's vmlinuz there): write \"{KERNEL} ARGS\""),
                ))
            }
        };
        if has_control(args) {
            return Err(at(line, &key("linux"), "the command line has a control character (a newline?): keep it on one line".into()));
        }
        if e.initrd.trim() != INITRD {
            return Err(at(line, &key("initrd"), format!("{:?} must be {INITRD}, the only initramfs path of contract v0.1", e.initrd)));
        }
        entries.push(Grub2Entry { name: e.name, args: args.to_string(), line });
    }
    let default = match g.default {
        Some(d) => {
            let line = d.referenced.line();
            let names = || entries.iter().map(|e| format!("{:?}", e.name)).collect::<Vec<_>>().join(", ");
            match &d.value {
                MenuDefault::Index(i) if !entries.is_empty() && *i >= entries.len() => {
                    return Err(at(line, "grub2.default", format!("{i} is past the last entry: there are {} (0 is the first)", entries.len())))
                }
                MenuDefault::Name(n) if !entries.is_empty() && !entries.iter().any(|e| &e.name == n) => {
                    return Err(at(line, "grub2.default", format!("no entry is named {n:?}; the entries are {}", names())))
                }
                _ => {}
            }
            Some(d.value)
        }
        None => None,
    };
    Ok(IsoYaml { label, kernel_args, default, timeout: g.timeout.map(|t| t.value.0), entries })
}

#[cfg(test)]
#[path = "iso_yaml_tests.rs"]
mod tests;
