//! Live-mode boot cases: the `live` image (Kiln's own root as a squashfs, with a
//! persistence label) and the OCI layout fixture in live mode, each in the four cells;
//! persistence across a reboot and without its partition; and kiln-boot's failure
//! paths (no medium with the label, a damaged squashfs), which end in its rescue shell.

use super::cases::{boot, cmd, machine, never, power_off, wait_for, Case};
use super::oci;
use crate::artifacts::{self, Artifacts};
use crate::ctx::Ctx;
use anyhow::{bail, Context, Result};
use kiln_image::{RootMode, RunMode};
use kiln_vm::{Accel, Boot, Firmware, Step};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The image spec of the live cases.
pub const IMAGE: &str = "live";

/// What kiln-boot prints when it hands over to the image's init.
pub const SWITCHING: &str = "kiln-boot: switching root";
/// What it says when the persistence partition is not there.
pub const NO_PERSIST: &str = "changes stay in RAM";

/// The live images: `live`, and the OCI layout fixture in live mode.
pub struct Built {
    pub live: Artifacts,
    pub oci: Artifacts,
    /// The live ISO with its squashfs's superblock damaged.
    pub corrupt_iso: PathBuf,
}

/// The four cells: firmware × medium (the disk is the ISO as written to a USB stick,
/// on QEMU's IDE controller).
pub const CELLS: [&str; 4] = ["seabios-cd", "seabios-disk", "ovmf-cd", "ovmf-disk"];
/// The live image also boots from a real USB stick (xHCI + mass storage), the path of
/// the live kernel's USB drivers.
pub const USB_CELLS: [&str; 2] = ["seabios-usb", "ovmf-usb"];

/// The firmware and medium of a cell name ending in `seabios-cd`, `ovmf-usb`, ...
pub(super) fn cell(name: &str, iso: &Path) -> (Firmware, Boot) {
    let iso = iso.to_owned();
    let fw = if name.contains("ovmf") { Firmware::Ovmf } else { Firmware::SeaBios };
    let boot = if name.ends_with("-cd") {
        Boot::Cdrom(iso)
    } else if name.ends_with("-usb") {
        Boot::Usb(iso)
    } else {
        Boot::Disk(iso)
    };
    (fw, boot)
}

/// The checks made without a boot: building the live images again rewrites nothing,
/// and an image that half follows the container-native ISO contract (an
/// `initramfs.img` without a `vmlinuz`) fails naming what is missing.
pub const BUILD_CHECKS: [&str; 2] = ["live-noop-rebuild", "live-contract-no-vmlinuz"];

/// The case names, for `--only`.
pub fn names() -> Vec<String> {
    let mut n: Vec<String> = CELLS.iter().flat_map(|c| [format!("live-{c}"), format!("live-oci-{c}")]).collect();
    n.extend(USB_CELLS.iter().map(|c| format!("live-{c}")));
    n.extend(BUILD_CHECKS.map(String::from));
    n.extend(["live-ram", "live-persist-write", "live-persist-kept", "live-persist-gone", "live-no-medium", "live-corrupt-squashfs"].map(String::from));
    n
}

/// Whether `--only` selects a live case (the live images are built only then).
pub fn wanted(only: &[String]) -> bool {
    only.is_empty() || names().iter().any(|n| only.iter().any(|o| n.contains(o.as_str())))
}

/// Builds the live images: `images/live.toml`, and the OCI layout fixture (written by
/// the OCI cases) in live mode over the same spec.
pub fn build(ctx: &Ctx, oci_built: &[oci::Built]) -> Result<Built> {
    let live = artifacts::build(ctx, IMAGE, true)?;
    let layout = oci_built.iter().find(|b| b.format == "layout").context("the OCI layout fixture was not built")?;
    let mut spec = live.spec.clone();
    spec.name = "live-oci-layout".into();
    spec.rootfs.oci = layout.artifacts.spec.rootfs.oci.clone();
    spec.rootfs.run = RunMode::Console;
    spec.rootfs.mode = RootMode::Live;
    let oci = artifacts::build_spec(ctx, spec, true).context("building the OCI layout fixture in live mode")?;
    let iso = live.iso.clone().context("built with an ISO")?;
    let corrupt_iso = ctx.out.join("test-boot/live-corrupt.iso");
    corrupt_squashfs(&iso, &corrupt_iso)?;
    Ok(Built { live, oci, corrupt_iso })
}

/// [`BUILD_CHECKS`]: (name, passed, lines to show).
pub fn build_checks(ctx: &Ctx, oci_built: &[oci::Built], b: &Built) -> Result<Vec<(&'static str, bool, Vec<String>)>> {
    let outputs: Vec<PathBuf> = [&b.live, &b.oci]
        .iter()
        .flat_map(|a| [a.initrd.clone(), a.iso.clone().unwrap_or_default(), a.live.as_ref().map(|l| l.squashfs.clone()).unwrap_or_default()])
        .collect();
    let changed = super::rewritten(&outputs, || build(ctx, oci_built).map(drop))?;
    let noop = (BUILD_CHECKS[0], changed.is_empty(), changed);

    // /usr/lib/modules/KVER/initramfs.img and no vmlinuz: a build error, not a guess.
    let layer = kiln_oci::fixtures::RawTar::new().file("usr/lib/modules/6.1.0-kiln/initramfs.img", 0o644, b"not really an initramfs").finish();
    let image = kiln_oci::fixtures::FixtureImage::with_layers(vec![layer], kiln_oci::Compression::None);
    let dir = ctx.out.join("test-boot/live-no-vmlinuz");
    let _ = std::fs::remove_dir_all(&dir);
    kiln_oci::fixtures::write_dir(&dir, &kiln_oci::fixtures::oci_layout_files(&image, "kiln/no-vmlinuz:1"))?;
    let mut spec = b.live.spec.clone();
    spec.name = "live-no-vmlinuz".into();
    spec.rootfs.oci = Some(kiln_image::containers::ImageRef::Path(dir));
    let missing = match artifacts::build_spec(ctx, spec, true) {
        Ok(_) => (BUILD_CHECKS[1], false, vec!["an initramfs.img without vmlinuz was built".to_string()]),
        Err(e) => {
            let e = format!("{e:#}");
            let ok = ["contract mode", "usr/lib/modules/6.1.0-kiln/initramfs.img", "vmlinuz"].iter().all(|w| e.contains(w));
            (BUILD_CHECKS[1], ok, vec![e])
        }
    };
    Ok(vec![noop, missing])
}

/// Copies `iso` to `out` with the squashfs superblock's magic (`hsqs`, at the start of
/// a 2 KiB ISO block) overwritten: the kernel then refuses to mount it.
fn corrupt_squashfs(iso: &Path, out: &Path) -> Result<()> {
    let mut bytes = std::fs::read(iso).with_context(|| format!("reading {}", iso.display()))?;
    let at = (0..bytes.len()).step_by(2048).find(|&o| bytes[o..].starts_with(b"hsqs")).with_context(|| format!("no squashfs in {}", iso.display()))?;
    bytes[at..at + 4].copy_from_slice(b"XXXX");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    kiln_util::write_atomic(out, &bytes)
}

/// A fresh persistence disk: an ext4 file system labelled as the spec says.
fn fresh_data_disk(path: &Path, label: &str) -> Result<()> {
    let _ = std::fs::remove_file(path);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::File::create(path)?.set_len(32 << 20)?;
    let out = duct::cmd("mkfs.ext4", ["-q", "-F", "-L", label, &path.display().to_string()]).stderr_to_stdout().stdout_capture().unchecked().run()?;
    if !out.status.success() {
        bail!("mkfs.ext4 failed: {}", String::from_utf8_lossy(&out.stdout));
    }
    Ok(())
}

/// Checks every live boot makes: the root is an overlay on the read-only squashfs.
/// Applets by `busybox NAME`: a container image may have no links for them.
fn live_checks() -> Vec<Step> {
    vec![
        cmd("busybox awk '$2 == \"/\" { print \"root=\" $3 }' /proc/mounts", &["root=overlay"]),
        cmd("busybox awk '$3 == \"squashfs\" { print \"lower=\" $2, substr($4, 1, 2) }' /proc/mounts", &["lower=/run/rootfsbase ro"]),
        // The overlay is writable although its lower layer is not.
        cmd("echo $((6*7)) > /etc/written && echo wrote=$(busybox cat /etc/written)", &["wrote=42"]),
    ]
}

fn live_steps() -> Vec<Step> {
    let mut s = vec![wait_for(NO_PERSIST), wait_for(SWITCHING)];
    s.extend(boot());
    s.extend(live_checks());
    s.push(power_off("poweroff"));
    s.extend(never());
    s
}

/// The OCI fixture's own checks, with the live checks after the boot.
fn live_oci_steps() -> Vec<Step> {
    let mut s = oci::steps(RunMode::Console, "as 0:0");
    let at = s.iter().position(|s| matches!(s, Step::Shell { .. })).map_or(0, |i| i + 1);
    for (i, step) in live_checks().into_iter().enumerate() {
        s.insert(at + i, step);
    }
    s
}

/// Persistence: the first boot writes a computed value, the second finds it; a boot
/// without the partition finds nothing and says changes stay in RAM.
fn persist_write_steps() -> Vec<Step> {
    let mut s = vec![Step::Never(NO_PERSIST.into())];
    s.extend(boot());
    s.push(cmd("awk '$2 == \"/\" { print $4 }' /proc/mounts", &["upperdir=/run/initramfs/overlayfs/"]));
    s.push(cmd("echo $((6*7)) > /root/kept; echo stored=$(cat /root/kept)", &["stored=42"]));
    s.push(power_off("poweroff"));
    s.extend(never());
    s
}

fn persist_kept_steps() -> Vec<Step> {
    let mut s = vec![Step::Never(NO_PERSIST.into())];
    s.extend(boot());
    s.push(cmd("echo kept=$(cat /root/kept)", &["kept=42"]));
    s.push(power_off("poweroff"));
    s.extend(never());
    s
}

fn persist_gone_steps() -> Vec<Step> {
    let mut s = vec![wait_for(NO_PERSIST)];
    s.extend(boot());
    s.push(cmd("[ -e /root/kept ] || echo clean=$((1+1))", &["clean=2"]));
    s.push(power_off("poweroff"));
    s.extend(never());
    s
}

/// `rd.live.ram`: the squashfs is copied into RAM and the medium let go; the loop
/// device then reads the copy.
fn ram_steps() -> Vec<Step> {
    let mut s = vec![wait_for("kiln-boot: rd.live.ram: copying")];
    s.extend(boot());
    s.push(cmd("echo backing=$(busybox cat /sys/block/loop0/loop/backing_file)", &["backing=/run/initramfs/squashfs.img"]));
    s.push(cmd("echo medium-mounts=$(busybox grep -c ' /run/initramfs/live ' /proc/mounts)", &["medium-mounts=0"]));
    s.push(power_off("poweroff"));
    s.extend(never());
    s
}

/// A failure kiln-boot reports (`message`), then its rescue shell, which powers the
/// machine off when left. The kernel must not panic, and kiln-init never starts.
fn rescue_steps(message: &str) -> Vec<Step> {
    let mut s = vec![wait_for(message), wait_for("kiln-boot: rescue shell"), Step::Shell { timeout: Duration::from_secs(60) }];
    s.push(cmd("echo rescue-sh=$(( $$ > 1 )):$((6*7))", &["rescue-sh=1:42"]));
    s.push(Step::Exit { cmd: "exit".into(), status: 0, expect: vec!["reboot: Power down".into()], timeout: Duration::from_secs(60) });
    s.push(Step::Never(super::cases::MARKER.into()));
    s.extend(never());
    s
}

pub fn cases(ctx: &Ctx, b: &Built, accel: Accel) -> Result<Vec<Case>> {
    let mut out = Vec::new();
    let live_iso = b.live.iso.clone().context("built with an ISO")?;
    let oci_iso = b.oci.iso.clone().context("built with an ISO")?;
    for c in CELLS {
        let (fw, boot) = cell(c, &live_iso);
        out.push(Case { name: format!("live-{c}"), machine: machine(fw, boot, accel), steps: live_steps(), host: None });
        let (fw, boot) = cell(c, &oci_iso);
        out.push(Case { name: format!("live-oci-{c}"), machine: machine(fw, boot, accel), steps: live_oci_steps(), host: None });
    }
    for c in USB_CELLS {
        let (fw, boot) = cell(c, &live_iso);
        out.push(Case { name: format!("live-{c}"), machine: machine(fw, boot, accel), steps: live_steps(), host: None });
    }
    let label = b.live.spec.rootfs.persist.clone().context("images/live.toml names a persistence label")?;
    let disk = ctx.out.join("test-boot/live-persist.img");
    fresh_data_disk(&disk, &label)?;
    let with_disk = |steps| {
        let mut m = machine(Firmware::SeaBios, Boot::Cdrom(live_iso.clone()), accel);
        m.data_disk = Some(disk.clone());
        (m, steps)
    };
    for (name, (machine, steps)) in [("live-persist-write", with_disk(persist_write_steps())), ("live-persist-kept", with_disk(persist_kept_steps()))] {
        out.push(Case { name: name.into(), machine, steps, host: None });
    }
    out.push(Case { name: "live-persist-gone".into(), machine: machine(Firmware::SeaBios, Boot::Cdrom(live_iso.clone()), accel), steps: persist_gone_steps(), host: None });
    // rd.live.ram, asked for on the command line: the kernel and the live initramfs
    // booted directly, the ISO (a copy: this disk is writable) as the medium.
    let ram_disk = ctx.out.join("test-boot/live-ram.iso");
    std::fs::copy(&live_iso, &ram_disk).with_context(|| format!("copying {} to {}", live_iso.display(), ram_disk.display()))?;
    let append = format!("console=ttyS0 root=live:CDLABEL={} rd.live.image rd.live.ram", b.live.spec.iso.label);
    let mut m = machine(Firmware::SeaBios, Boot::Kernel { kernel: b.live.kernel.clone(), initrd: b.live.initrd.clone(), append }, accel);
    m.data_disk = Some(ram_disk);
    out.push(Case { name: "live-ram".into(), machine: m, steps: ram_steps(), host: None });
    // No medium at all: the kernel and kiln-boot's initramfs, booted directly.
    let append = "console=ttyS0 root=live:CDLABEL=KILN_NOWHERE rd.live.image rd.timeout=3".to_string();
    let direct = Boot::Kernel { kernel: b.live.kernel.clone(), initrd: b.live.initrd.clone(), append };
    out.push(Case { name: "live-no-medium".into(), machine: machine(Firmware::SeaBios, direct, accel), steps: rescue_steps("no medium labelled KILN_NOWHERE"), host: None });
    out.push(Case {
        name: "live-corrupt-squashfs".into(),
        machine: machine(Firmware::SeaBios, Boot::Cdrom(b.corrupt_iso.clone()), accel),
        steps: rescue_steps("squashfs"),
        host: None,
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_text_is_never_the_typed_text_and_every_case_ends_the_machine() {
        let all = [live_steps(), live_oci_steps(), persist_write_steps(), persist_kept_steps(), persist_gone_steps(), ram_steps(), rescue_steps("x")];
        for s in &all {
            super::super::cases::assert_expects_no_typed_text("live", s);
            assert!(super::super::cases::ends_the_machine(s));
            assert!(s.contains(&Step::Never("Kernel panic".into())));
        }
    }

    #[test]
    fn cell_names_give_firmware_and_medium() {
        let iso = Path::new("x.iso");
        assert_eq!(cell("live-seabios-cd", iso), (Firmware::SeaBios, Boot::Cdrom(iso.into())));
        assert_eq!(cell("debian-live-ovmf-disk", iso), (Firmware::Ovmf, Boot::Disk(iso.into())));
        assert_eq!(cell("live-ovmf-usb", iso), (Firmware::Ovmf, Boot::Usb(iso.into())));
    }

    #[test]
    fn the_damaged_copy_differs_only_in_the_magic() {
        let dir = tempfile::tempdir().unwrap();
        let mut iso = vec![0u8; 8192];
        iso[4096..4100].copy_from_slice(b"hsqs");
        let (src, dst) = (dir.path().join("a.iso"), dir.path().join("b.iso"));
        std::fs::write(&src, &iso).unwrap();
        corrupt_squashfs(&src, &dst).unwrap();
        let out = std::fs::read(&dst).unwrap();
        assert_eq!(&out[4096..4100], b"XXXX");
        assert_eq!((&out[..4096], &out[4100..]), (&iso[..4096], &iso[4100..]));
        std::fs::write(&src, vec![0u8; 4096]).unwrap();
        assert!(corrupt_squashfs(&src, &dst).is_err());
    }
}
