//! `images/NAME.toml`. Unknown keys are errors; every error names the file, and
//! syntax/type errors also the line and key.

use crate::{Error, Result};
use kiln_init::config::Config;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub kernel: KernelSpec,
    pub busybox: BusyboxSpec,
    #[serde(default)]
    pub init: InitSpec,
    #[serde(default)]
    pub iso: IsoSpec,
    #[serde(default)]
    pub rootfs: RootfsSpec,
    /// `[[containers]]`: the containers the image runs, in start order (see
    /// [`crate::containers`]).
    #[serde(default)]
    pub containers: Vec<crate::containers::ContainerSpec>,
    /// `[network]`: the guest's interfaces configured at boot (see [`crate::network`]).
    #[serde(default)]
    pub network: crate::network::NetworkSpec,
    /// The file this spec was read from.
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelSpec {
    /// Fragment names: `kernel/NAME.config`, merged in this order.
    pub fragments: Vec<String>,
    /// Arguments every boot gets (menu entries add their console arguments).
    #[serde(default)]
    pub cmdline: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusyboxSpec {
    /// The configuration the fragments are applied over.
    #[serde(default)]
    pub base: BusyboxBase,
    /// Fragment names: `busybox/NAME.config`, applied over `base` in this order.
    pub fragments: Vec<String>,
}

/// `busybox.base`: start from nothing and list the applets (small), or from
/// BusyBox's own default selection (about 400 applets, 3x the size).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BusyboxBase {
    #[default]
    Allnoconfig,
    Defconfig,
}

impl BusyboxBase {
    /// The `make` target that writes the base `.config`.
    pub fn make_target(self) -> &'static str {
        match self {
            BusyboxBase::Allnoconfig => "allnoconfig",
            BusyboxBase::Defconfig => "defconfig",
        }
    }
}

/// `[rootfs]`: where the root file system comes from. Without `oci`, Kiln's own
/// (BusyBox, kiln-init, `/etc/kiln/init.conf`); with it, a container image's tree
/// plus kiln-init, `init.conf` and the device nodes (see `oci_rootfs.rs`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RootfsSpec {
    /// An OCI layout directory, an `oci-archive` or a `docker save` tarball (relative
    /// to the spec's directory, `load` makes it absolute, or absolute), or a registry
    /// reference (`docker://...`, pulled by the build tool, pinned in `NAME.lock`).
    #[serde(default, deserialize_with = "de_rootfs_image")]
    pub oci: Option<crate::containers::ImageRef>,
    /// The platform to take from a multi-platform image (`os/arch[/variant]`).
    #[serde(default = "default_platform", deserialize_with = "de_platform")]
    pub platform: kiln_oci::Platform,
    /// Add Kiln's static BusyBox under `/kiln/bin` (and to the end of `PATH`).
    #[serde(default)]
    pub busybox: bool,
    /// What to do with the image's `Entrypoint` + `Cmd`.
    #[serde(default)]
    pub run: RunMode,
    /// The largest initramfs (uncompressed bytes: file contents plus 512 per entry)
    /// the build accepts: the kernel holds all of it in RAM.
    #[serde(default = "default_max_initramfs")]
    pub max_initramfs_bytes: u64,
    /// How the root reaches the kernel.
    #[serde(default)]
    pub mode: RootMode,
    /// Live mode: the file system label of a persistence partition. The menu entries
    /// get `rd.live.overlay=LABEL=<persist>`: with such a partition the overlay's upper
    /// layer lives there and changes survive a reboot; without, they stay in RAM.
    #[serde(default)]
    pub persist: Option<String>,
}

/// `rootfs.mode`: where the root file system lives at run time.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RootMode {
    /// The whole root in the initramfs, unpacked into RAM by the kernel.
    #[default]
    Initramfs,
    /// The root as `/LiveOS/squashfs.img` on the ISO; the initramfs holds only
    /// kiln-boot (and BusyBox for a rescue shell), which mounts it read-only under a
    /// writable overlay and switches to it. Adds the kernel fragments [`LIVE_FRAGMENT`]
    /// and [`PERSIST_FRAGMENT`].
    Live,
}

/// The kernel fragment live mode needs (block devices, loop, ISO 9660, squashfs,
/// overlayfs, storage drivers); added to `kernel.fragments` when missing.
pub const LIVE_FRAGMENT: &str = "60-live";
/// The kernel fragment of a persistence partition (ext4).
pub const PERSIST_FRAGMENT: &str = "65-persist";

/// `rootfs.run`: how the image's program runs.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    /// As the console shell (restarted when it exits), like `docker run -it`.
    #[default]
    Console,
    /// As the supervised service `app` (restart on failure, output in
    /// `/var/log/app.log`), beside a console shell.
    Service,
    /// Not at all: only the console shell.
    None,
}

/// 256 MiB: with the compressed copy and the kernel's own needs, about 384 MiB of RAM.
pub const DEFAULT_MAX_INITRAMFS_BYTES: u64 = 256 << 20;

fn default_max_initramfs() -> u64 {
    DEFAULT_MAX_INITRAMFS_BYTES
}

fn default_platform() -> kiln_oci::Platform {
    kiln_oci::Platform::default()
}

/// `rootfs.oci`: a path or a registry reference (the built-in images are containers').
fn de_rootfs_image<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<crate::containers::ImageRef>, D::Error> {
    use crate::containers::ImageRef;
    let s = String::deserialize(d)?;
    if s.starts_with("kiln:") {
        return Err(serde::de::Error::custom("rootfs.oci takes a path or a docker:// reference (kiln: images are for [[containers]])"));
    }
    s.parse::<ImageRef>().map(Some).map_err(serde::de::Error::custom)
}

pub(crate) fn de_platform<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<kiln_oci::Platform, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(|e| serde::de::Error::custom(format!("platform {s:?}: {e}")))
}

impl Default for RootfsSpec {
    fn default() -> Self {
        RootfsSpec {
            oci: None,
            platform: default_platform(),
            busybox: false,
            run: RunMode::default(),
            max_initramfs_bytes: DEFAULT_MAX_INITRAMFS_BYTES,
            mode: RootMode::default(),
            persist: None,
        }
    }
}

/// `[init]`: kiln-init's own configuration type, read straight from the spec
/// (kiln-init's `serde` feature) and checked by kiln-init's rules as it is
/// read, so a bad value is reported with its line and key here, at build time.
/// See `crates/init/README.md` for the keys.
pub type InitSpec = Config;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum IsoLayout {
    /// One small hybrid image (BIOS + UEFI, CD + USB): GRUB core images with just the
    /// modules used, the EFI one in an appended FAT partition.
    #[default]
    Slim,
    /// GRUB's stock `grub-mkrescue` image (about 20 MiB of boot machinery).
    Mkrescue,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsoSpec {
    #[serde(default = "default_label")]
    pub label: String,
    /// Seconds the boot menu waits.
    #[serde(default = "default_timeout")]
    pub timeout: u32,
    #[serde(default)]
    pub layout: IsoLayout,
    /// Index into `entries` of the entry booted when the timeout runs out.
    #[serde(default)]
    pub default: usize,
    #[serde(default = "default_entries", rename = "entry")]
    pub entries: Vec<MenuEntry>,
    /// Size limits `cargo xtask test-boot` holds the ISO to (none when absent).
    #[serde(default)]
    pub budget: Budget,
}

/// `[iso.budget]`: the most bytes the whole ISO, and the boot machinery in it
/// (everything but kernel and initramfs), may take.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub total_bytes: Option<u64>,
    pub boot_machinery_bytes: Option<u64>,
}

impl Budget {
    /// One line per limit: `Ok` within it, `Err` over it; empty without limits.
    pub fn check(&self, total: u64, boot_machinery: u64) -> Vec<std::result::Result<String, String>> {
        [("ISO", total, self.total_bytes), ("boot machinery", boot_machinery, self.boot_machinery_bytes)]
            .into_iter()
            .filter_map(|(what, have, max)| {
                let max = max?;
                let line = format!("{what} {have} bytes ({:.2} MiB), limit {max} ({:.2} MiB)", mib(have), mib(max));
                Some(if have <= max { Ok(line) } else { Err(format!("{line}: over by {} bytes", have - max)) })
            })
            .collect()
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MenuEntry {
    pub name: String,
    /// Added after `kernel.cmdline`.
    #[serde(default)]
    pub args: String,
}

fn default_label() -> String {
    "KILN".into()
}

/// No menu wait by default (a boot to shell is a few seconds; the wait was 2 of them).
fn default_timeout() -> u32 {
    0
}

/// Serial first: `-nographic` users (and tests) get the serial console as /dev/console.
/// The last `console=` is the one /dev/console points to; both get kernel messages.
/// `earlyprintk=serial,ttyS0` (`CONFIG_EARLY_PRINTK`, `kernel/30-console.config`): what
/// the kernel says before its console driver starts reaches the serial port too, so a
/// machine with too little RAM says why it stopped ("Kernel panic ... Failed to
/// allocate ...") instead of stopping silently after the boot loader.
fn default_entries() -> Vec<MenuEntry> {
    vec![
        MenuEntry { name: "Kiln (serial console)".into(), args: format!("console=tty0 console=ttyS0 {EARLY_SERIAL}") },
        MenuEntry { name: "Kiln (VGA console)".into(), args: format!("console=ttyS0 console=tty0 {EARLY_SERIAL}") },
    ]
}

/// The early console of the default entries (see [`default_entries`]).
pub const EARLY_SERIAL: &str = "earlyprintk=serial,ttyS0";

impl Default for IsoSpec {
    fn default() -> Self {
        IsoSpec { label: default_label(), timeout: default_timeout(), layout: IsoLayout::default(), default: 0, entries: default_entries(), budget: Budget::default() }
    }
}

impl ImageSpec {
    /// Loads `images/NAME.toml` under `root` and checks that what it names exists.
    ///
    /// `name` must be a [`valid_name`] (it also names files under `out/`), and the
    /// spec's `name` key must be the same.
    pub fn load(root: &Path, name: &str) -> Result<ImageSpec> {
        if !valid_name(name) {
            return Err(Error::InvalidName { name: name.into(), available: available(root).join(", ") });
        }
        let rel = format!("images/{name}.toml");
        let path = root.join(&rel);
        let text = std::fs::read_to_string(&path).map_err(|_| Error::NotFound {
            name: name.into(),
            path: rel.clone(),
            available: available(root).join(", "),
        })?;
        let spec = ImageSpec::parse(&rel, &text)?;
        check_name_key(&rel, &text, &spec.name, name)?;
        spec.check_files(root, &rel)?;
        let mut spec = ImageSpec { path, ..spec };
        if let Some(crate::containers::ImageRef::Path(oci)) = &spec.rootfs.oci {
            let dir = spec.path.parent().unwrap_or(root);
            let full = dir.join(oci);
            if !full.exists() {
                return Err(Error::Spec { path: rel, message: format!("rootfs.oci: no file or directory {}", full.display()) });
            }
            spec.rootfs.oci = Some(crate::containers::ImageRef::Path(full));
        }
        let dir = spec.path.parent().unwrap_or(root).to_owned();
        for c in &mut spec.containers {
            if let crate::containers::ImageRef::Path(p) = &c.image {
                let full = dir.join(p);
                if !full.exists() {
                    return Err(Error::Spec {
                        path: rel,
                        message: format!("containers.image of {:?}: no file or directory {}", c.name, full.display()),
                    });
                }
                c.image = crate::containers::ImageRef::Path(full);
            }
        }
        Ok(spec)
    }

    /// Parses spec text; `shown` is the file name used in messages.
    pub fn parse(shown: &str, text: &str) -> Result<ImageSpec> {
        let err = |message: String| Error::Spec { path: shown.into(), message };
        let spec: ImageSpec = toml::from_str(text).map_err(|e| err(e.to_string().trim_end().to_string()))?;
        if spec.rootfs.max_initramfs_bytes == 0 {
            return Err(err("rootfs.max_initramfs_bytes: must be more than 0".into()));
        }
        if spec.iso.entries.is_empty() {
            return Err(err("iso.entry: at least one menu entry is needed".into()));
        }
        if spec.iso.default >= spec.iso.entries.len() {
            return Err(err(format!("iso.default: {} but there are {} entries (counting from 0)", spec.iso.default, spec.iso.entries.len())));
        }
        let label_ok = !spec.iso.label.is_empty()
            && spec.iso.label.len() <= 32
            && spec.iso.label.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !label_ok {
            return Err(err(format!("iso.label: {:?} must be 1-32 characters of A-Z, 0-9 and _", spec.iso.label)));
        }
        if let Some(label) = &spec.rootfs.persist {
            if spec.rootfs.mode != RootMode::Live {
                return Err(err("rootfs.persist: a persistence partition needs mode = \"live\"".into()));
            }
            if !valid_fs_label(label) {
                return Err(err(format!("rootfs.persist: {label:?} must be 1-16 characters of A-Z, a-z, 0-9, _ and - (an ext4 label)")));
            }
        }
        crate::containers::check(&spec.containers, text).map_err(err)?;
        spec.network.check(spec.rootfs.oci.is_none(), &spec.init.services).map_err(err)?;
        // Every value was checked while it was read; this also proves that the
        // init.conf written from it reads back the same.
        spec.init.check().map_err(|e| err(format!("init: {e}")))?;
        Ok(spec)
    }

    fn check_files(&self, root: &Path, shown: &str) -> Result<()> {
        for (key, dir, names) in [("kernel.fragments", "kernel", &self.kernel.fragments), ("busybox.fragments", "busybox", &self.busybox.fragments)] {
            for n in names {
                if !root.join(dir).join(format!("{n}.config")).is_file() {
                    return Err(Error::Spec { path: shown.into(), message: format!("{key}: no file {dir}/{n}.config") });
                }
            }
        }
        Ok(())
    }

    /// The kernel fragments in order: the spec's, then what its root mode needs and
    /// the spec does not list.
    pub fn kernel_fragment_names(&self) -> Vec<String> {
        let mut names = self.kernel.fragments.clone();
        // Persistence is a boot-time choice (`rd.live.overlay=` can be typed at the boot
        // menu), so every live kernel can mount the partition; and all live images share
        // one kernel build.
        if self.rootfs.mode == RootMode::Live {
            for name in [LIVE_FRAGMENT, PERSIST_FRAGMENT] {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_string());
                }
            }
        }
        names
    }

    pub fn kernel_fragments(&self, root: &Path) -> Vec<PathBuf> {
        self.kernel_fragment_names().iter().map(|n| root.join("kernel").join(format!("{n}.config"))).collect()
    }

    pub fn busybox_fragments(&self, root: &Path) -> Vec<PathBuf> {
        self.busybox.fragments.iter().map(|n| root.join("busybox").join(format!("{n}.config"))).collect()
    }

    /// The full kernel command line of a menu entry: in live mode first what kiln-boot
    /// (or dracut) needs to find the root, then the spec's and the entry's arguments.
    pub fn cmdline(&self, entry: &MenuEntry) -> String {
        let live = self.live_args();
        [live.as_str(), self.kernel.cmdline.trim(), entry.args.trim()].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" ")
    }

    /// Live mode's command line words (dracut's names): the medium by its ISO 9660
    /// label and, with `persist`, the persistence partition. Empty in initramfs mode.
    pub fn live_args(&self) -> String {
        if self.rootfs.mode != RootMode::Live {
            return String::new();
        }
        let mut args = format!("root=live:CDLABEL={} rd.live.image", self.iso.label);
        if let Some(label) = &self.rootfs.persist {
            args += &format!(" rd.live.overlay=LABEL={label}");
        }
        args
    }

    /// The init configuration, as kiln-init reads it from `/etc/kiln/init.conf`.
    /// With `[network] dhcp`, kiln-init also supervises a DHCP client per interface
    /// (before the spec's own services). With `[[containers]]`, it also supervises
    /// `kiln-ctr daemon` (service [`CTR_SERVICE`]), giving it time to stop every
    /// container in turn at shutdown.
    pub fn init_config(&self) -> Config {
        let mut config = self.init.clone();
        config.services.splice(0..0, self.network.services());
        if !self.containers.is_empty() {
            let stops: u32 = self.containers.iter().map(|c| c.stop_timeout).sum();
            config.services.push(kiln_init::config::Service {
                name: CTR_SERVICE.into(),
                restart: kiln_init::policy::Restart::Always,
                argv: vec![CTR_BINARY.into(), "daemon".into()],
                stop_timeout_secs: stops + CTR_STOP_MARGIN_SECS,
                user: None,
            });
        }
        config
    }
}

/// The kiln-init service that runs kiln-ctr (its log: `/var/log/kiln-ctr.log`).
pub const CTR_SERVICE: &str = "kiln-ctr";
/// Where kiln-ctr is in the guest.
pub const CTR_BINARY: &str = "/usr/bin/kiln-ctr";
/// kiln-init waits this long beyond the containers' stop timeouts before it kills
/// kiln-ctr at shutdown.
pub const CTR_STOP_MARGIN_SECS: u32 = 10;

/// Whether `label` can be an ext4 file system label that kiln-boot and dracut find:
/// 1-16 bytes of letters, digits, `_` and `-`.
pub fn valid_fs_label(label: &str) -> bool {
    (1..=16).contains(&label.len()) && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether `name` may name an image (`--image NAME`, `images/NAME.toml`, `out/NAME/`):
/// 1-64 characters of `a-z`, `0-9`, `-` and `_`, the first a letter or digit. No
/// `/`, `.` or upper case, so it stays one path component on every file system.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=64).contains(&b.len()) && ok(&b[0]) && b.iter().all(|c| ok(c) || *c == b'-' || *c == b'_')
}

/// The spec's `name` key must be the file's name, so `--image`, the file and the
/// outputs agree; the error names the file, the line and the key.
fn check_name_key(shown: &str, text: &str, key: &str, file_name: &str) -> Result<()> {
    if key == file_name {
        return Ok(());
    }
    #[derive(Deserialize)]
    struct NameKey {
        name: toml::Spanned<String>,
    }
    let line = toml::from_str::<NameKey>(text).map(|k| text[..k.name.span().start].matches('\n').count() + 1).unwrap_or(1);
    let rename = if valid_name(key) { format!(" (or rename the file to images/{key}.toml)") } else { String::new() };
    Err(Error::Spec {
        path: shown.into(),
        message: format!("line {line}, key `name`: {key:?} is not the file's name; set name = {file_name:?}{rename}"),
    })
}

/// Names of the images under `root/images`.
pub fn available(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("images"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".toml")).map(String::from))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
