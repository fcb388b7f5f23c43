//! Block devices and their labels: the scan of `/sys/class/block`, the choice
//! of the device a `root=live:` names, and the list for failure messages.

use crate::cmdline::Source;
use crate::prelude::*;
use crate::probe::{probe, Fs, PROBE_BYTES};
use crate::sys::{errno_text, Sys};
use rustix::io::Errno;

pub const SYS_BLOCK: &str = "/sys/class/block";
/// How often the scan runs while waiting.
pub const POLL_MS: u64 = 100;

/// What a device's first bytes showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Fs(Fs),
    /// Readable, no file system kiln-boot knows.
    Unknown,
    /// Size 0 or ENOMEDIUM: a drive without a medium.
    Empty,
    Unreadable(Errno),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// `sr0`, `vda1`.
    pub name: String,
    pub partition: bool,
    pub seen: Seen,
}

impl Device {
    pub fn path(&self) -> String {
        format!("/dev/{}", self.name)
    }

    pub fn fs(&self) -> Option<&Fs> {
        match &self.seen {
            Seen::Fs(fs) => Some(fs),
            _ => None,
        }
    }

    pub fn label(&self) -> Option<&str> {
        self.fs()?.label.as_deref()
    }

    /// `sr0 (iso9660 "KILN_LIVE")`, `vda (no label)`.
    pub fn describe(&self) -> String {
        let what = match &self.seen {
            Seen::Fs(Fs { kind, label: Some(l) }) => format!("{} \"{l}\"", kind.mount_type()),
            Seen::Fs(Fs { kind, label: None }) => format!("{}, no label", kind.mount_type()),
            Seen::Unknown => "no label".to_string(),
            Seen::Empty => "no medium".to_string(),
            Seen::Unreadable(e) => format!("unreadable: {}", errno_text(*e)),
        };
        format!("{} ({what})", self.name)
    }
}

/// `sr0 (iso9660 "OTHER"), vda (no label)`, or `no block devices`.
pub fn describe_all(devices: &[Device]) -> String {
    if devices.is_empty() {
        return "no block devices".to_string();
    }
    devices.iter().map(Device::describe).collect::<Vec<_>>().join(", ")
}

/// The device `want` names. Among several with the label, a whole disk wins
/// over partitions (a hybrid ISO on a stick shows its label on both), then the
/// first name in byte order; the result does not depend on the scan's order.
pub fn choose<'a>(devices: &'a [Device], want: &Source) -> Option<&'a Device> {
    let mut hits: Vec<&Device> = devices
        .iter()
        .filter(|d| match want {
            Source::Label(l) => d.label() == Some(l.as_str()),
            Source::Path(p) => p.strip_prefix("/dev/") == Some(d.name.as_str()) && d.fs().is_some(),
        })
        .collect();
    hits.sort_unstable_by(|a, b| (a.partition, &a.name).cmp(&(b.partition, &b.name)));
    hits.first().copied()
}

/// `/sys/class/block/NAME/dev` (`11:0`) as (major, minor).
pub fn parse_dev_numbers(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.trim().split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Loop and RAM disks with nothing in them are not worth listing.
fn unused(name: &str, size: Option<u64>) -> bool {
    size == Some(0) && (name.starts_with("loop") || name.starts_with("ram"))
}

/// Scans `/sys/class/block` again and again; a device whose file system was
/// found is not read again.
#[derive(Default)]
pub struct Scanner {
    known: Vec<Device>,
}

impl Scanner {
    /// Every block device now, sorted by name, each with what its first bytes show.
    pub fn scan(&mut self, sys: &mut impl Sys) -> Vec<Device> {
        let mut names: Vec<String> = match sys.read_dir(SYS_BLOCK) {
            Ok(entries) => entries.into_iter().map(|e| e.name).collect(),
            Err(_) => Vec::new(),
        };
        names.sort_unstable();
        let mut out = Vec::new();
        for name in names {
            if let Some(d) = self.known.iter().find(|d| d.name == name) {
                out.push(d.clone());
                continue;
            }
            let dir = format!("{SYS_BLOCK}/{name}");
            let size = sys
                .read_file(&format!("{dir}/size"))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok());
            if unused(&name, size) {
                continue;
            }
            let partition = sys.stat(&format!("{dir}/partition")).is_ok();
            let seen = if size == Some(0) {
                Seen::Empty
            } else {
                read_label(sys, &name, &dir)
            };
            let d = Device { name, partition, seen };
            if d.fs().is_some() {
                self.known.push(d.clone());
            }
            out.push(d);
        }
        out
    }
}

/// Probes `/dev/NAME`, making the node from `DIR/dev` if devtmpfs lacks it.
fn read_label(sys: &mut impl Sys, name: &str, dir: &str) -> Seen {
    let path = format!("/dev/{name}");
    if sys.stat(&path).is_err() {
        let numbers = sys.read_file(&format!("{dir}/dev")).ok();
        if let Some((major, minor)) = numbers.as_deref().and_then(parse_dev_numbers) {
            let _ = sys.mknod_block(&path, major, minor);
        }
    }
    let mut buf = vec![0u8; PROBE_BYTES];
    match sys.read_at(&path, 0, &mut buf) {
        Ok(n) => probe(&buf[..n]).map_or(Seen::Unknown, Seen::Fs),
        // A CD drive without a disc reports a size, but cannot be opened.
        Err(Errno::NOMEDIUM) => Seen::Empty,
        Err(e) => Seen::Unreadable(e),
    }
}

/// Scans every [`POLL_MS`] until a device `want` names shows up or
/// `timeout_ms` has passed; then `Err` with every device seen last.
pub fn wait_for(
    sys: &mut impl Sys,
    scanner: &mut Scanner,
    want: &Source,
    timeout_ms: u64,
) -> Result<Device, Vec<Device>> {
    let deadline = sys.now_ms().saturating_add(timeout_ms);
    loop {
        let devices = scanner.scan(sys);
        if let Some(d) = choose(&devices, want) {
            return Ok(d.clone());
        }
        let now = sys.now_ms();
        if now >= deadline {
            return Err(devices);
        }
        sys.sleep_ms(POLL_MS.min(deadline - now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::FsKind;

    fn dev(name: &str, partition: bool, label: Option<&str>) -> Device {
        let seen = match label {
            Some(l) => Seen::Fs(Fs { kind: FsKind::Iso9660, label: Some(l.into()) }),
            None => Seen::Unknown,
        };
        Device { name: name.into(), partition, seen }
    }

    #[test]
    fn whole_disk_wins_then_name() {
        let want = Source::Label("KILN_LIVE".into());
        let devs = [
            dev("sdb1", true, Some("KILN_LIVE")),
            dev("sdb", false, Some("KILN_LIVE")),
            dev("sda", false, None),
            dev("sr0", false, Some("OTHER")),
        ];
        assert_eq!(choose(&devs, &want).unwrap().name, "sdb");
        // The order of the scan does not matter.
        let mut rev = devs.clone();
        rev.reverse();
        assert_eq!(choose(&rev, &want).unwrap().name, "sdb");
        // Two whole disks: the first name.
        let two = [dev("vdb", false, Some("KILN_LIVE")), dev("sr0", false, Some("KILN_LIVE"))];
        assert_eq!(choose(&two, &want).unwrap().name, "sr0");
        // Only partitions: the first one.
        let parts = [dev("vda2", true, Some("KILN_LIVE")), dev("vda1", true, Some("KILN_LIVE"))];
        assert_eq!(choose(&parts, &want).unwrap().name, "vda1");
        assert_eq!(choose(&devs, &Source::Label("NOPE".into())), None);
        assert_eq!(choose(&devs, &Source::Label("kiln_live".into())), None);
    }

    #[test]
    fn by_path_needs_a_file_system() {
        let devs = [dev("sr0", false, Some("X")), dev("vda", false, None)];
        assert_eq!(choose(&devs, &Source::Path("/dev/sr0".into())).unwrap().name, "sr0");
        assert_eq!(choose(&devs, &Source::Path("/dev/vda".into())), None);
        assert_eq!(choose(&devs, &Source::Path("/dev/sr1".into())), None);
    }

    #[test]
    fn descriptions() {
        let devs = [
            dev("sr0", false, Some("OTHER")),
            dev("vda", false, None),
            Device {
                name: "vdb".into(),
                partition: false,
                seen: Seen::Fs(Fs { kind: FsKind::Ext, label: None }),
            },
            Device { name: "sr1".into(), partition: false, seen: Seen::Empty },
            Device { name: "sdc".into(), partition: false, seen: Seen::Unreadable(Errno::IO) },
        ];
        assert_eq!(
            describe_all(&devs),
            "sr0 (iso9660 \"OTHER\"), vda (no label), vdb (ext4, no label), sr1 (no medium), \
             sdc (unreadable: input/output error)"
        );
        assert_eq!(describe_all(&[]), "no block devices");
    }

    #[test]
    fn dev_numbers() {
        assert_eq!(parse_dev_numbers("11:0\n"), Some((11, 0)));
        assert_eq!(parse_dev_numbers("259:12"), Some((259, 12)));
        assert_eq!(parse_dev_numbers("11"), None);
        assert_eq!(parse_dev_numbers("a:b"), None);
    }
}
