//! dracut's live-boot words on the kernel command line (`/proc/cmdline`).
//! Words kiln-boot does not know are ignored (they are the kernel's, or the
//! next init's); known words with a value it cannot use are reported.

use crate::prelude::*;
use kiln_init::cmdline::kernel_words;

pub const DEFAULT_DIR: &str = "LiveOS";
pub const DEFAULT_SQUASHIMG: &str = "squashfs.img";
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
pub const DEFAULT_PERSIST_PATH: &str = "/kiln-overlay";

/// Which block device holds something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `CDLABEL=X`, `LABEL=X` or `/dev/disk/by-label/X`: the file system label.
    Label(String),
    /// `/dev/NAME`.
    Path(String),
}

impl Source {
    /// `a medium labelled X` / `block device /dev/X`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Source::Label(l) => format!("labelled {l}"),
            Source::Path(p) => format!("at {p}"),
        }
    }
}

/// `rd.live.overlay=LABEL=X[:PATH]`: a writable file system for the overlay's
/// upper and work directories (`PATH/upper`, `PATH/work`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persist {
    pub label: String,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveArgs {
    /// `root=live:...` (or `root=CDLABEL=...` with `rd.live.image`).
    pub root: Option<Source>,
    /// `rd.live.dir=`, without leading or trailing slashes.
    pub dir: String,
    /// `rd.live.squashimg=`.
    pub squashimg: String,
    /// `rd.live.ram`: copy the image into RAM, then release the medium.
    pub ram: bool,
    pub overlay: Option<Persist>,
    /// `rd.live.overlay.size=MIB`: the tmpfs overlay's cap (default half the RAM).
    pub overlay_size_mib: Option<u64>,
    /// `rd.timeout=SECONDS`: how long to wait for the medium.
    pub timeout_secs: u64,
    /// `init=PATH`.
    pub init: Option<String>,
    /// `rd.break`: a shell just before switching root.
    pub brk: bool,
    /// Known words with values that cannot be used, to report once.
    pub warnings: Vec<String>,
}

impl Default for LiveArgs {
    fn default() -> Self {
        LiveArgs {
            root: None,
            dir: DEFAULT_DIR.to_string(),
            squashimg: DEFAULT_SQUASHIMG.to_string(),
            ram: false,
            overlay: None,
            overlay_size_mib: None,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            init: None,
            brk: false,
            warnings: Vec::new(),
        }
    }
}

/// `true` for a flag word given bare or as `=1`/`=yes`/`=on`... dracut's
/// `getargbool`: only `0`, `no` and `off` turn it off.
fn flag(value: Option<&str>) -> bool {
    !matches!(value, Some("0" | "no" | "off"))
}

/// Undoes udev's `\x20` escapes in labels (`root=live:CDLABEL=My\x20Disk`).
pub fn unescape_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\\x") {
        out.push_str(&rest[..i]);
        match rest.get(i + 2..i + 4).and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) if b.is_ascii() => {
                out.push(char::from(b));
                rest = &rest[i + 4..];
            }
            _ => {
                out.push_str("\\x");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `CDLABEL=X`, `LABEL=X`, `/dev/disk/by-label/X` or `/dev/NAME`.
fn parse_source(spec: &str) -> Option<Source> {
    let label = spec
        .strip_prefix("CDLABEL=")
        .or_else(|| spec.strip_prefix("LABEL="))
        .or_else(|| spec.strip_prefix("/dev/disk/by-label/"));
    match label {
        Some(l) if !l.is_empty() => Some(Source::Label(unescape_label(l))),
        Some(_) => None,
        None if spec.len() > 5 && spec.starts_with("/dev/") && !spec.contains("/../") => {
            Some(Source::Path(spec.to_string()))
        }
        None => None,
    }
}

/// `LABEL=X[:PATH]`.
fn parse_persist(spec: &str) -> Option<Persist> {
    let rest = spec
        .strip_prefix("LABEL=")
        .or_else(|| spec.strip_prefix("CDLABEL="))?;
    let (label, path) = match rest.split_once(':') {
        Some((l, p)) => (l, p),
        None => (rest, DEFAULT_PERSIST_PATH),
    };
    let path = format!("/{}", path.trim_matches('/'));
    if label.is_empty() || path == "/" || path.split('/').any(|c| c == "..") {
        return None;
    }
    Some(Persist {
        label: unescape_label(label),
        path,
    })
}

/// A file name without `/` (`rd.live.squashimg=`) or a relative directory
/// (`rd.live.dir=`), not escaping the medium.
fn relative(value: &str, dir: bool) -> Option<String> {
    let v = value.trim_matches('/');
    let bad = v.is_empty() || v.split('/').any(|c| c.is_empty() || c == "..") || (!dir && v.contains('/'));
    (!bad).then(|| v.to_string())
}

impl LiveArgs {
    pub fn parse(text: &str) -> LiveArgs {
        let mut a = LiveArgs::default();
        let mut live_image = false;
        let mut plain_root = None;
        for word in kernel_words(text) {
            let (key, value) = match word.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (word.as_str(), None),
            };
            match (key, value) {
                ("root", Some(v)) => match v.strip_prefix("live:") {
                    Some(spec) => match parse_source(spec) {
                        Some(s) => a.root = Some(s),
                        None => a.warn(&word, "expected live:CDLABEL=X, live:LABEL=X or live:/dev/NAME"),
                    },
                    None => plain_root = parse_source(v),
                },
                ("rd.live.image", v) => live_image = flag(v),
                ("rd.live.dir", Some(v)) => match relative(v, true) {
                    Some(d) => a.dir = d,
                    None => a.warn(&word, "expected a directory on the medium"),
                },
                ("rd.live.squashimg", Some(v)) => match relative(v, false) {
                    Some(f) => a.squashimg = f,
                    None => a.warn(&word, "expected a file name"),
                },
                ("rd.live.ram", v) => a.ram = flag(v),
                ("rd.live.overlay", Some(v)) => match parse_persist(v) {
                    Some(p) => a.overlay = Some(p),
                    None => a.warn(&word, "expected LABEL=X or LABEL=X:PATH"),
                },
                ("rd.live.overlay.size", Some(v)) => match v.parse::<u64>() {
                    Ok(n) if n > 0 => a.overlay_size_mib = Some(n),
                    _ => a.warn(&word, "expected a size in MiB"),
                },
                ("rd.timeout", Some(v)) => match v.parse::<u64>() {
                    Ok(n) if n <= 86_400 => a.timeout_secs = n,
                    _ => a.warn(&word, "expected seconds (0-86400)"),
                },
                ("init", Some(v)) => match v.starts_with('/') {
                    true => a.init = Some(v.to_string()),
                    false => a.warn(&word, "expected an absolute path"),
                },
                ("rd.break", _) => a.brk = true,
                _ => {}
            }
        }
        // dracut: `root=CDLABEL=X rd.live.image` means the same as `root=live:CDLABEL=X`.
        if a.root.is_none() && live_image {
            a.root = plain_root;
        }
        a
    }

    fn warn(&mut self, word: &str, why: &str) {
        let msg = format!("ignoring '{word}': {why}");
        if !self.warnings.contains(&msg) {
            self.warnings.push(msg);
        }
    }

    /// The image's path on the medium, `LiveOS/squashfs.img`.
    pub fn image_path(&self) -> String {
        format!("{}/{}", self.dir, self.squashimg)
    }

    /// tmpfs options of the RAM overlay: `size=50%` (half the RAM) unless
    /// `rd.live.overlay.size` caps it.
    pub fn tmpfs_overlay_options(&self) -> String {
        match self.overlay_size_mib {
            Some(mib) => format!("mode=0755,size={mib}m"),
            None => "mode=0755,size=50%".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dracut_defaults() {
        let a = LiveArgs::parse("console=ttyS0 root=live:CDLABEL=KILN_LIVE rd.live.image quiet\n");
        assert_eq!(a.root, Some(Source::Label("KILN_LIVE".into())));
        assert_eq!(a.image_path(), "LiveOS/squashfs.img");
        assert_eq!(a.timeout_secs, 30);
        assert!(!a.ram && !a.brk && a.overlay.is_none() && a.init.is_none());
        assert_eq!(a.tmpfs_overlay_options(), "mode=0755,size=50%");
        assert!(a.warnings.is_empty());
    }

    #[test]
    fn every_word() {
        let a = LiveArgs::parse(
            "root=live:LABEL=My\\x20Disk rd.live.dir=/boot/live/ rd.live.squashimg=root.sq \
             rd.live.ram=1 rd.live.overlay=LABEL=KILN_DATA:/persist/ rd.live.overlay.size=256 \
             rd.timeout=5 init=/sbin/init rd.break=pre-pivot",
        );
        assert_eq!(a.root, Some(Source::Label("My Disk".into())));
        assert_eq!(a.image_path(), "boot/live/root.sq");
        assert!(a.ram && a.brk);
        assert_eq!(
            a.overlay,
            Some(Persist { label: "KILN_DATA".into(), path: "/persist".into() })
        );
        assert_eq!(a.tmpfs_overlay_options(), "mode=0755,size=256m");
        assert_eq!(a.timeout_secs, 5);
        assert_eq!(a.init.as_deref(), Some("/sbin/init"));
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    }

    #[test]
    fn root_forms() {
        let root = |t: &str| LiveArgs::parse(t).root;
        assert_eq!(root("root=live:/dev/sr0"), Some(Source::Path("/dev/sr0".into())));
        assert_eq!(
            root("root=live:/dev/disk/by-label/KILN"),
            Some(Source::Label("KILN".into()))
        );
        // Without `live:` only with rd.live.image, as in dracut.
        assert_eq!(root("root=CDLABEL=X"), None);
        assert_eq!(root("root=CDLABEL=X rd.live.image"), Some(Source::Label("X".into())));
        assert_eq!(root("rd.live.image=0 root=CDLABEL=X"), None);
        assert_eq!(root("root=/dev/vda1 rd.live.image"), Some(Source::Path("/dev/vda1".into())));
        assert_eq!(root("root=/dev/vda1"), None);
        assert_eq!(root(""), None);
        // The last root= wins, like the kernel's own.
        assert_eq!(root("root=live:LABEL=A root=live:LABEL=B"), Some(Source::Label("B".into())));
    }

    #[test]
    fn persistence_default_path() {
        let a = LiveArgs::parse("rd.live.overlay=LABEL=KILN_DATA");
        assert_eq!(a.overlay.unwrap().path, "/kiln-overlay");
        let a = LiveArgs::parse("rd.live.overlay=CDLABEL=D:data");
        assert_eq!(a.overlay.unwrap().path, "/data");
    }

    #[test]
    fn bad_values_are_reported_and_ignored() {
        let a = LiveArgs::parse(
            "root=live:UUID=1234 rd.live.dir=../x rd.live.squashimg=a/b rd.live.overlay=/dev/sdb1 \
             rd.live.overlay=LABEL=X:/.. rd.live.overlay.size=0 rd.timeout=soon init=sbin/init \
             rd.timeout=soon root=live:LABEL=",
        );
        assert_eq!(a.root, None);
        assert_eq!(a.dir, "LiveOS");
        assert_eq!(a.squashimg, "squashfs.img");
        assert_eq!(a.overlay, None);
        assert_eq!(a.timeout_secs, 30);
        assert_eq!(
            a.warnings,
            [
                "ignoring 'root=live:UUID=1234': expected live:CDLABEL=X, live:LABEL=X or live:/dev/NAME",
                "ignoring 'rd.live.dir=../x': expected a directory on the medium",
                "ignoring 'rd.live.squashimg=a/b': expected a file name",
                "ignoring 'rd.live.overlay=/dev/sdb1': expected LABEL=X or LABEL=X:PATH",
                "ignoring 'rd.live.overlay=LABEL=X:/..': expected LABEL=X or LABEL=X:PATH",
                "ignoring 'rd.live.overlay.size=0': expected a size in MiB",
                "ignoring 'rd.timeout=soon': expected seconds (0-86400)",
                "ignoring 'init=sbin/init': expected an absolute path",
                "ignoring 'root=live:LABEL=': expected live:CDLABEL=X, live:LABEL=X or live:/dev/NAME",
            ]
        );
    }

    #[test]
    fn unknown_words_ignored() {
        let a = LiveArgs::parse("rd.live.check rd.lvm=0 kiln.rescue root=live:LABEL=A");
        assert!(a.warnings.is_empty());
        assert_eq!(a.root, Some(Source::Label("A".into())));
    }

    #[test]
    fn label_escapes() {
        assert_eq!(unescape_label("A\\x20B"), "A B");
        assert_eq!(unescape_label("A\\xZZ\\x"), "A\\xZZ\\x");
        assert_eq!(unescape_label("\\x41\\x2f"), "A/");
    }
}
