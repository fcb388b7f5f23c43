//! The container-native ISO contract v0.1 (bootc image-builder's `bootc-generic-iso`):
//! a container image that ships its own kernel and initramfs boots from them, with its
//! merged tree as `/LiveOS/squashfs.img` (dracut's `dmsquash-live`), instead of Kiln's
//! kernel and kiln-init.
//!
//! - The kernel is `/usr/lib/modules/KVER/vmlinuz` (the contract's text says
//!   `/usr/lib/module/`; Fedora/bootc images, image-builder and this code use `modules`).
//!   Symlinks are followed inside the image (`/lib -> usr/lib`, a `vmlinuz` that is a
//!   link). Kernel directories without a `vmlinuz` (modules only) are ignored, as
//!   image-builder does; two with one are an error (the contract leaves it unspecified).
//! - The initramfs is `initramfs.img` beside it.
//! - The menu comes from `iso.yaml` ([`crate::iso_yaml`]), or is one entry with
//!   `root=live:CDLABEL=<label> rd.live.image`.
//!
//! [`detect`] says whether an image is in contract mode; [`Contract::menu`] makes the
//! GRUB menu as plain data (for `kiln_iso::Menu`).

use crate::iso_yaml::{self, IsoYaml, MenuDefault};
use crate::oci_rootfs::{read_text, resolve};
use crate::{Error, Result};
use kiln_initramfs::{Data, Kind, Tree};

/// Where the kernels are (no leading `/`, as in a [`Tree`]).
pub const MODULES: &str = "usr/lib/modules";
/// Where `iso.yaml` is looked for, in order (image-builder's order: the second is the
/// older place, which it still reads with a deprecation warning).
pub const ISO_YAML_PATHS: [&str; 2] = ["usr/lib/image-builder/bootc/iso.yaml", "usr/lib/bootc-image-builder/iso.yaml"];

/// A container image in contract mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    /// The kernel directory's name, e.g. `6.1.0-50-amd64`.
    pub kver: String,
    /// `/usr/lib/modules/KVER/vmlinuz`'s contents (goes to `/images/pxeboot/vmlinuz`).
    pub vmlinuz: Data,
    /// `initramfs.img`'s contents (goes to `/images/pxeboot/initrd.img`).
    pub initramfs: Data,
    /// The checked `iso.yaml`, if the image has one.
    pub iso: Option<IsoYaml>,
    /// Where it was, e.g. `/usr/lib/bootc-image-builder/iso.yaml`.
    pub iso_yaml_path: Option<String>,
    /// What the build should print (a setting that has no effect, a file that was not read).
    pub warnings: Vec<String>,
}

/// What the menu uses where the image's `iso.yaml` says nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuDefaults {
    /// The ISO's volume id (image-builder makes one from `/etc/os-release`).
    pub label: String,
    /// Seconds (image-builder's ISOs wait 60).
    pub timeout: u32,
    /// The name of the one entry made when `iso.yaml` has none.
    pub name: String,
}

/// The GRUB menu: entries are `(name, kernel arguments after /images/pxeboot/vmlinuz)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveMenu {
    pub label: String,
    pub timeout: u32,
    pub default: usize,
    pub entries: Vec<(String, String)>,
}

fn err(message: String) -> Error {
    Error::Contract { message }
}

/// The regular file at `path` (symlinks followed inside the tree): `Ok(None)` when
/// nothing is there, an error when something is but it is not a file.
fn file(tree: &Tree, path: &str) -> Result<Option<Data>> {
    match resolve(tree, path).map(|e| &e.kind) {
        Some(Kind::File(d)) => Ok(Some(d.clone())),
        Some(Kind::HardLink(target)) => match resolve(tree, target).map(|e| &e.kind) {
            Some(Kind::File(d)) => Ok(Some(d.clone())),
            _ => Err(err(format!("/{path} is a hard link to /{target}, which is not a regular file of the image"))),
        },
        Some(_) => Err(err(format!("/{path} is not a regular file; the contract needs the file itself there"))),
        None => {
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
            let parent = resolve(tree, dir).map(|e| e.path.clone()).unwrap_or_else(|| dir.to_string());
            match tree.get(&format!("{parent}/{name}")).map(|e| &e.kind) {
                Some(Kind::Symlink(t)) => Err(err(format!("/{path} is a symbolic link to {t}, which is not in the image (or loops); copy the file there instead"))),
                _ => Ok(None),
            }
        }
    }
}

/// The names in the directory at `path` (symlinks followed), sorted.
fn children(tree: &Tree, path: &str) -> Vec<String> {
    let Some(dir) = resolve(tree, path).filter(|e| e.is_dir()) else { return Vec::new() };
    let prefix = format!("{}/", dir.path);
    let mut names: Vec<String> = tree.iter().filter_map(|e| e.path.strip_prefix(&prefix)).filter(|r| !r.contains('/')).map(String::from).collect();
    names.sort();
    names
}

/// Whether `tree` (a container image's merged root) follows the contract: `Ok(None)`
/// when it ships no kernel or initramfs there (Kiln's own kernel and kiln-init then),
/// `Ok(Some(_))` with its kernel, initramfs and checked `iso.yaml`, or an error naming
/// what was found and how to fix it when it half follows it.
pub fn detect(tree: &Tree) -> Result<Option<Contract>> {
    let mut kernels = Vec::new();
    let mut initramfs_only = Vec::new();
    for kver in children(tree, MODULES) {
        let dir = format!("{MODULES}/{kver}");
        let vmlinuz = file(tree, &format!("{dir}/vmlinuz"))?;
        let initramfs = file(tree, &format!("{dir}/initramfs.img"))?;
        match (vmlinuz, initramfs) {
            (Some(v), i) => kernels.push((kver, v, i)),
            (None, Some(_)) => initramfs_only.push(format!("/{dir}/initramfs.img")),
            (None, None) => {}
        }
    }
    let mut iso_files = Vec::new();
    for p in ISO_YAML_PATHS {
        if file(tree, p)?.is_some() {
            iso_files.push(p);
        }
    }
    let (kver, vmlinuz, initramfs) = match kernels.len() {
        0 => {
            let found: Vec<String> = initramfs_only.into_iter().chain(iso_files.iter().map(|p| format!("/{p}"))).collect();
            if found.is_empty() {
                return Ok(None);
            }
            return Err(err(format!(
                "the image has {} but no /{MODULES}/*/vmlinuz; put the kernel beside its initramfs.img (e.g. `cp /boot/vmlinuz-$KVER /{MODULES}/$KVER/vmlinuz` in the Containerfile), or remove them to boot the image with Kiln's kernel",
                found.join(", ")
            )));
        }
        1 => kernels.pop().expect("one"),
        _ => {
            let paths: Vec<String> = kernels.iter().map(|(k, ..)| format!("/{MODULES}/{k}/vmlinuz")).collect();
            return Err(err(format!(
                "several kernels: {}; the contract does not say which to boot; keep one (remove the other kernels' vmlinuz in the image)",
                paths.join(", ")
            )));
        }
    };
    let Some(initramfs) = initramfs else {
        return Err(err(format!(
            "/{MODULES}/{kver}/vmlinuz has no initramfs.img beside it; make one in the image, e.g. `dracut --no-hostonly --add dmsquash-live --kver {kver} /{MODULES}/{kver}/initramfs.img`"
        )));
    };
    let mut warnings = Vec::new();
    let (iso, iso_yaml_path) = match iso_files.first() {
        None => (None, None),
        Some(p) => {
            let shown = format!("/{p}");
            if let Some(other) = iso_files.get(1) {
                warnings.push(format!("{shown} is read; /{other} is not (image-builder reads the first too)"));
            }
            let text = read_text(tree, p).ok_or_else(|| err(format!("{shown}: cannot read it as UTF-8 text of at most 1 MiB")))?;
            let iso = iso_yaml::parse(&text, &shown).map_err(err)?;
            if !iso.entries.is_empty() && !iso.kernel_args.is_empty() {
                warnings.push(format!(
                    "{shown}: kernel_args has no effect: grub2.entries are given, and each entry's linux line is its whole command line (as in image-builder)"
                ));
            }
            (Some(iso), Some(shown))
        }
    };
    Ok(Some(Contract { kver, vmlinuz, initramfs, iso, iso_yaml_path, warnings }))
}

impl Contract {
    /// The GRUB menu, as image-builder makes it:
    ///
    /// - label: `iso.yaml`'s, else `defaults.label`; timeout likewise.
    /// - `grub2.entries` given: exactly those, their `linux` lines verbatim (image-builder
    ///   then drops its own entries, and `kernel_args` with them).
    /// - none: one entry named `defaults.name` whose command line is `kernel_args`
    ///   joined by spaces if given (they replace the default, as in image-builder), else
    ///   `root=live:CDLABEL=<label> rd.live.image`. (image-builder adds `quiet rhgb
    ///   enforcing=0`, which are Fedora's; Kiln leaves them out and its serial console
    ///   needs `console=ttyS0` from the image.)
    /// - default: the index, or the entry with that name.
    ///
    /// An entry whose `root=live:CDLABEL=X` names another label than the ISO's is an
    /// error: dracut would wait for a medium that does not exist.
    pub fn menu(&self, defaults: &MenuDefaults) -> Result<LiveMenu> {
        let file = self.iso_yaml_path.as_deref().unwrap_or("the menu");
        let iso = self.iso.clone().unwrap_or(IsoYaml { label: None, kernel_args: Vec::new(), default: None, timeout: None, entries: Vec::new() });
        let label = match iso.label {
            Some(l) => l,
            None => {
                iso_yaml::check_label(&defaults.label).map_err(|m| err(format!("the default {m}")))?;
                defaults.label.clone()
            }
        };
        let entries: Vec<(String, String)> = if iso.entries.is_empty() {
            let args = if iso.kernel_args.is_empty() { format!("root=live:CDLABEL={label} rd.live.image") } else { iso.kernel_args.join(" ") };
            vec![(defaults.name.clone(), args)]
        } else {
            iso.entries.iter().map(|e| (e.name.clone(), e.args.clone())).collect()
        };
        for (name, args) in &entries {
            for cd in args.split_whitespace().filter_map(|w| w.strip_prefix("root=live:CDLABEL=")) {
                if cd != label {
                    return Err(err(format!(
                        "{file}: entry {name:?} boots root=live:CDLABEL={cd}, but the ISO's label is {label:?}: dracut would wait for a medium that is not there; write root=live:CDLABEL={label}"
                    )));
                }
            }
        }
        let default = match &iso.default {
            None => 0,
            Some(MenuDefault::Index(i)) if *i < entries.len() => *i,
            Some(MenuDefault::Name(n)) if entries.iter().any(|(name, _)| name == n) => entries.iter().position(|(name, _)| name == n).expect("found"),
            Some(d) => {
                let d = match d {
                    MenuDefault::Index(i) => i.to_string(),
                    MenuDefault::Name(n) => format!("{n:?}"),
                };
                return Err(err(format!(
                    "{file}: grub2.default {d} names no entry: without grub2.entries the menu has one, {:?} (index 0)",
                    defaults.name
                )))
            }
        };
        Ok(LiveMenu { label, timeout: iso.timeout.unwrap_or(defaults.timeout), default, entries })
    }
}

#[cfg(test)]
#[path = "contract_tests.rs"]
mod tests;
