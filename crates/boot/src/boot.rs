//! The boot sequence, from the first mounts to the exec of the live image's
//! init. Every step goes through [`Sys`]; the first failure ends it with the
//! message the console shows before the rescue shell.

use crate::cmdline::{LiveArgs, Persist, Source};
use crate::devices::{describe_all, wait_for, Device, Scanner};
use crate::prelude::*;
use crate::probe::FsKind;
use crate::switch::{choose_init, switch_root, NEW_ROOT};
use crate::sys::{failed, Kind, Sys, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY};
use core::convert::Infallible;
use rustix::io::Errno;

/// The medium, read-only.
pub const LIVE_MNT: &str = "/run/initramfs/live";
/// The image's copy with `rd.live.ram`.
pub const RAM_IMAGE: &str = "/run/initramfs/squashfs.img";
/// The squashfs: the overlay's lower layer.
pub const ROOTFS_BASE: &str = "/run/rootfsbase";
/// The tmpfs holding the overlay's upper and work directories.
pub const TMPFS_OVERLAY: &str = "/run/overlayfs";
/// The persistence file system (`rd.live.overlay`), read-write.
pub const PERSIST_MNT: &str = "/run/initramfs/overlayfs";
/// How long to look for the persistence device once the medium is there, when a USB
/// device is present (see [`late_devices_possible`]).
pub const PERSIST_WAIT_MS: u64 = 5000;
/// Where the kernel lists USB devices (root hubs included).
pub const USB_DEVICES: &str = "/sys/bus/usb/devices";

/// Whether a disk may still appear after init started. The kernel finishes probing its
/// built-in ATA, SCSI and virtio disks (async probes included) before it runs init, so
/// those are all listed already; USB storage is enumerated later (hub work, then
/// usb-storage's settle delay). No USB device (QEMU's default PC has no USB controller):
/// nothing more can come, and looking again only costs the boot 5 s.
pub fn late_devices_possible(sys: &mut impl Sys) -> bool {
    sys.read_dir(USB_DEVICES).is_ok_and(|e| !e.is_empty())
}

/// (source, target, fstype, flags, data), mounted first, in order.
pub const EARLY_MOUNTS: [(&str, &str, &str, u64, Option<&str>); 4] = [
    ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None),
    ("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, None),
    ("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, Some("mode=0755")),
    ("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, Some("mode=0755")),
];

/// overlayfs options: the squashfs below, `BASE/upper` and `BASE/work` above.
pub fn overlay_options(base: &str) -> String {
    format!("lowerdir={ROOTFS_BASE},upperdir={base}/upper,workdir={base}/work")
}

/// `512 KiB`, `700 MiB`.
pub fn size_text(bytes: u64) -> String {
    match bytes {
        0..0x10_0000 => format!("{} KiB", bytes.div_ceil(1024)),
        _ => format!("{} MiB", bytes >> 20),
    }
}

/// Runs the boot. Returns only if it failed, with the message saying why.
pub fn boot(sys: &mut impl Sys) -> String {
    match run(sys) {
        Ok(never) => match never {},
        Err(msg) => msg,
    }
}

fn run(sys: &mut impl Sys) -> Result<Infallible, String> {
    for (source, target, fstype, flags, data) in EARLY_MOUNTS {
        let _ = sys.mkdir_p(target);
        match sys.mount(source, target, fstype, flags, data) {
            Ok(()) | Err(Errno::BUSY) => {}
            Err(e) => return Err(failed(&format!("cannot mount {fstype} on {target}"), e)),
        }
    }
    let text = sys.read_file("/proc/cmdline").map_err(|e| failed("cannot read /proc/cmdline", e))?;
    let args = LiveArgs::parse(&text);
    for w in &args.warnings {
        sys.log(w);
    }
    let Some(root) = args.root.clone() else {
        return Err("nothing to do: no root=live:CDLABEL=LABEL (or live:LABEL=, live:/dev/NAME) \
                    on the kernel command line"
            .to_string());
    };

    let mut scanner = Scanner::default();
    let medium = find_medium(sys, &mut scanner, &root, args.timeout_secs)?;
    let image = mount_medium(sys, &medium, &args)?;

    let loop_dev = sys
        .attach_loop(&image)
        .map_err(|e| failed(&format!("cannot attach {image} to a loop device"), e))?;
    sys.log(&format!("{image} on {loop_dev}"));
    let _ = sys.mkdir_p(ROOTFS_BASE);
    sys.mount(&loop_dev, ROOTFS_BASE, "squashfs", MS_RDONLY, None).map_err(|e| {
        failed(&format!("cannot mount {image} ({loop_dev}) as squashfs on {ROOTFS_BASE}"), e)
    })?;

    let base = overlay_upper(sys, &mut scanner, &args)?;
    let _ = sys.mkdir_p(NEW_ROOT);
    let options = overlay_options(&base);
    sys.mount("overlay", NEW_ROOT, "overlay", 0, Some(&options))
        .map_err(|e| failed(&format!("cannot mount overlay on {NEW_ROOT} ({options})"), e))?;

    let init = choose_init(sys, NEW_ROOT, args.init.as_deref())?;
    if args.brk {
        sys.shell("rd.break: shell before switching root to /sysroot; exit it to go on");
    }
    sys.log(&format!("switching root to {NEW_ROOT}"));
    switch_root(sys, NEW_ROOT)?;
    let at = kiln_init::format_secs(sys.now_ms());
    sys.log(&format!("exec {init} ({at} s after boot)"));
    let e = sys.exec(&init);
    Err(failed(&format!("cannot run {init}"), e))
}

/// Waits for the medium, saying so if it is not there at once.
fn find_medium(sys: &mut impl Sys, scanner: &mut Scanner, root: &Source, secs: u64) -> Result<Device, String> {
    let seen = match wait_for(sys, scanner, root, 0) {
        Ok(d) => return Ok(d),
        Err(seen) => seen,
    };
    let seen = if secs > 0 {
        sys.log(&format!("waiting up to {secs} s for a medium {}", root.describe()));
        match wait_for(sys, scanner, root, secs * 1000) {
            Ok(d) => return Ok(d),
            Err(seen) => seen,
        }
    } else {
        seen
    };
    Err(format!(
        "no medium {} after {secs} s; saw: {}",
        root.describe(),
        describe_all(&seen)
    ))
}

/// Mounts the medium read-only and finds the image on it (copied into RAM
/// with `rd.live.ram`, and the medium released). The image's path.
fn mount_medium(sys: &mut impl Sys, medium: &Device, args: &LiveArgs) -> Result<String, String> {
    sys.log(&format!("found medium {}", medium.describe()));
    let fstype = medium.fs().map_or("iso9660", |fs| fs.kind.mount_type());
    let dev = medium.path();
    let _ = sys.mkdir_p(LIVE_MNT);
    sys.mount(&dev, LIVE_MNT, fstype, MS_RDONLY, None)
        .map_err(|e| failed(&format!("cannot mount {dev} ({fstype}) read-only on {LIVE_MNT}"), e))?;
    let image = format!("{LIVE_MNT}/{}", args.image_path());
    match sys.stat(&image) {
        Ok(st) if st.kind == Kind::File => {}
        Ok(_) => return Err(format!("{} on {dev} is not a file", args.image_path())),
        Err(e) => return Err(failed(&format!("no {} on {dev}", args.image_path()), e)),
    }
    if !args.ram {
        return Ok(image);
    }
    sys.log(&format!("rd.live.ram: copying {} into RAM", args.image_path()));
    let bytes = sys
        .copy_file(&image, RAM_IMAGE)
        .map_err(|e| failed(&format!("cannot copy {image} to {RAM_IMAGE}"), e))?;
    sys.log(&format!("copied {}; releasing {dev}", size_text(bytes)));
    if let Err(e) = sys.unmount(LIVE_MNT, false) {
        sys.log(&failed(&format!("cannot unmount {LIVE_MNT}"), e));
    }
    Ok(RAM_IMAGE.to_string())
}

/// The directory holding the overlay's `upper` and `work`: on the
/// persistence device if `rd.live.overlay` names one that is there, else on
/// a tmpfs.
fn overlay_upper(sys: &mut impl Sys, scanner: &mut Scanner, args: &LiveArgs) -> Result<String, String> {
    if let Some(p) = &args.overlay {
        let want = Source::Label(p.label.clone());
        let wait = if late_devices_possible(sys) { PERSIST_WAIT_MS } else { 0 };
        match wait_for(sys, scanner, &want, wait) {
            Ok(dev) => match persistent(sys, &dev, p) {
                Ok(base) => {
                    sys.log(&format!("overlay: persistent, {base} on {}", dev.describe()));
                    return Ok(base);
                }
                Err(msg) => sys.log(&format!("{msg}; changes stay in RAM")),
            },
            Err(_) => sys.log(&format!(
                "no device labelled {} for rd.live.overlay; changes stay in RAM",
                p.label
            )),
        }
    }
    let options = args.tmpfs_overlay_options();
    let _ = sys.mkdir_p(TMPFS_OVERLAY);
    sys.mount("tmpfs", TMPFS_OVERLAY, "tmpfs", 0, Some(&options))
        .map_err(|e| failed(&format!("cannot mount tmpfs on {TMPFS_OVERLAY} ({options})"), e))?;
    for d in ["upper", "work"] {
        let path = format!("{TMPFS_OVERLAY}/{d}");
        sys.mkdir_p(&path).map_err(|e| failed(&format!("cannot create {path}"), e))?;
    }
    sys.log(&format!("overlay: tmpfs ({options}), changes stay in RAM"));
    Ok(TMPFS_OVERLAY.to_string())
}

/// Mounts the persistence device read-write and makes `PATH/upper` and `PATH/work`.
fn persistent(sys: &mut impl Sys, dev: &Device, p: &Persist) -> Result<String, String> {
    let path = dev.path();
    match dev.fs().map(|f| f.kind) {
        Some(FsKind::Ext) => {}
        other => {
            let kind = other.map_or("unknown", FsKind::mount_type);
            return Err(format!(
                "{path} ({}) for rd.live.overlay is {kind}; the overlay needs ext2/3/4",
                p.label
            ));
        }
    }
    let _ = sys.mkdir_p(PERSIST_MNT);
    sys.mount(&path, PERSIST_MNT, "ext4", 0, None)
        .map_err(|e| failed(&format!("cannot mount {path} (ext4) on {PERSIST_MNT}"), e))?;
    let base = format!("{PERSIST_MNT}{}", p.path);
    for d in ["upper", "work"] {
        let dir = format!("{base}/{d}");
        if let Err(e) = sys.mkdir_p(&dir) {
            let _ = sys.unmount(PERSIST_MNT, false);
            return Err(failed(&format!("cannot create {dir}"), e));
        }
    }
    Ok(base)
}
