//! Builds slim ISOs around dummy kernel and initramfs files and checks their structure
//! with xorriso and mtools. Skipped (with a note) where the tools are missing, except
//! under CI, where a missing tool fails the test.

use kiln_iso::{build_iso, size_report, Entry, IsoInputs, Layout, Menu};
use std::path::{Path, PathBuf};

fn tools_present() -> bool {
    kiln_util::host::require(
        &["xorriso", "grub-mkimage", "grub-mkrescue", "mformat", "xz"],
        &["/usr/lib/grub/i386-pc/boot_hybrid.img", "/usr/lib/grub/x86_64-efi/moddep.lst"],
        "cargo xtask deps: xorriso, grub-pc-bin, grub-efi-amd64-bin, mtools, xz-utils",
    )
}

/// Deterministic filler that does not compress away.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn build(dir: &Path, name: &str) -> PathBuf {
    build_layout(dir, name, Layout::Slim)
}

fn build_layout(dir: &Path, name: &str, layout: Layout) -> PathBuf {
    let kernel = dir.join("vmlinuz");
    let initrd = dir.join("initrd.img");
    std::fs::write(&kernel, noise(300_001, 7)).unwrap();
    std::fs::write(&initrd, noise(120_000, 9)).unwrap();
    // A mapped file (the live squashfs) whose mode differs between the two builds of
    // `assert_reproducible`, as under umask 022 and 077.
    // Its directory too: xorriso gives the directories it makes for a mapped file the
    // mode of the file's directory on disk.
    let (file_mode, dir_mode) = if name == "k.iso" { (0o644, 0o755) } else { (0o600, 0o700) };
    let live_dir = dir.join("LiveOS");
    std::fs::create_dir_all(&live_dir).unwrap();
    let squashfs = live_dir.join("squashfs.img");
    std::fs::write(&squashfs, noise(50_000, 3)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&squashfs, std::fs::Permissions::from_mode(file_mode)).unwrap();
    std::fs::set_permissions(&live_dir, std::fs::Permissions::from_mode(dir_mode)).unwrap();
    let menu = Menu {
        entries: vec![
            Entry { name: "Kiln (serial console)".into(), cmdline: "console=tty0 console=ttyS0".into() },
            Entry { name: "Kiln (VGA console)".into(), cmdline: "console=ttyS0 console=tty0".into() },
        ],
        default: 1,
        timeout: 4,
    };
    let out = dir.join(name);
    let inputs = IsoInputs {
        kernel: &kernel,
        initrd: &initrd,
        menu: &menu,
        grub_template: include_str!("../../../boot/grub.cfg"),
        label: "KILNTEST",
        extra: &[("LiveOS/squashfs.img", &squashfs)],
        epoch: 1_735_689_600,
        log_dir: &dir.join("logs"),
    };
    build_iso(layout, &inputs, &out).unwrap();
    out
}

fn xorriso(iso: &Path, args: &[&str]) -> String {
    let mut all = vec!["-indev".to_string(), iso.display().to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    duct::cmd("xorriso", all).stderr_null().read().unwrap()
}

/// The value columns of a `-report_*` line such as `GPT type GUID : 2 28732a…`.
fn field<'a>(report: &'a str, key: &str, n: &str) -> Option<Vec<&'a str>> {
    report.lines().find_map(|l| {
        let (k, v) = l.split_once(" : ")?;
        let v: Vec<&str> = v.split_whitespace().collect();
        (k.trim() == key && v.first() == Some(&n)).then(|| v[1..].to_vec())
    })
}

#[test]
fn slim_iso_is_hybrid_bios_and_uefi() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let iso = build(dir.path(), "k.iso");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 5, "only inputs, logs and the ISO remain: {leftovers:?}");
    let report = xorriso(&iso, &["-report_el_torito", "plain", "-report_system_area", "plain"]);

    // Two El Torito images: the BIOS core (a file, patched for GRUB) and the EFI partition.
    let bios = field(&report, "El Torito boot img", "1").expect(&report);
    assert_eq!((bios[0], bios[2]), ("BIOS", "none"), "{report}");
    assert_eq!(field(&report, "El Torito img path", "1").unwrap(), ["/boot/grub/bios.img"]);
    assert!(report.contains("grub2-boot-info"), "{report}");
    let efi = field(&report, "El Torito boot img", "2").expect(&report);
    assert_eq!((efi[0], efi[2]), ("UEFI", "none"), "{report}");

    // The disk view: GRUB's hybrid MBR, a GPT whose partition 2 is the EFI system partition.
    assert!(report.contains("grub2-mbr") && report.contains("GPT"), "{report}");
    // A protective MBR for the GPT, and (xorriso's --mbr-force-bootable) an active entry.
    assert_eq!(field(&report, "MBR partition", "1").unwrap()[1], "0xee", "{report}");
    assert!(report.lines().any(|l| l.starts_with("MBR partition ") && l.contains(" 0x80 ")), "{report}");
    let esp_guid = "28732ac11ff8d211ba4b00a0c93ec93b"; // C12A7328-F81F-11D2-BA4B-00A0C93EC93B
    assert_eq!(field(&report, "GPT type GUID", "2").unwrap(), [esp_guid], "{report}");
    let part = field(&report, "GPT start and size", "2").unwrap();
    let (start, sectors): (u64, u64) = (part[0].parse().unwrap(), part[1].parse().unwrap());
    let len = std::fs::metadata(&iso).unwrap().len();
    assert!((start + sectors) * 512 <= len, "the partition lies inside the image");
    // The El Torito UEFI image is that partition.
    let efi_lba: u64 = efi[6].parse().unwrap();
    assert_eq!(efi_lba * 4, start, "{report}");

    // The partition holds BOOTX64.EFI (mtools reads it in place, at its offset).
    let img = format!("{}@@{}", iso.display(), start * 512);
    let listing = duct::cmd!("mdir", "-b", "-i", &img, "::/EFI/BOOT").env("MTOOLS_SKIP_CHECK", "1").read().unwrap();
    assert!(listing.contains("BOOTX64.EFI"), "{listing}");

    // Kernel and initramfs once, byte for byte; the menu; the EFI side's modules.
    let x = dir.path().join("x");
    let cfg = extract_payload(&iso, &x);
    assert!(cfg.contains("set timeout=4") && cfg.contains("set default=1") && cfg.contains("menuentry 'Kiln (VGA console)'"), "{cfg}");
    let normal = std::fs::read(x.join("boot/grub/x86_64-efi/normal.mod")).unwrap();
    assert_eq!(&normal[..6], b"\xfd7zXZ\0", "modules on the ISO are xz-compressed");
    let files = xorriso(&iso, &["-find", "/", "-type", "f"]);
    assert_eq!(files.matches("vmlinuz").count(), 1, "{files}");

    // The goal: boot machinery under half a MiB over kernel + initramfs.
    let size = size_report(&iso).unwrap();
    assert_eq!((size.kernel, size.initrd, size.squashfs), (300_001, 120_000, 50_000));
    assert!(size.overhead() <= 512 * 1024, "{size}");
    assert!(size.bios_core > 0 && size.efi_image > 0 && size.grub_files > 0, "{size}");
}

/// Builds `layout` in `a` and, a second later, in `b` under another name: no wall-clock
/// time or path may leak in. Returns the first ISO.
fn assert_reproducible(layout: Layout, a: &Path, b: &Path) -> PathBuf {
    let first = build_layout(a, "k.iso", layout);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = build_layout(b, "other.iso", layout);
    assert!(std::fs::read(&first).unwrap() == std::fs::read(second).unwrap(), "two {layout:?} builds differ");
    first
}

/// Extracts the ISO to `x`; checks kernel and initramfs byte for byte; returns the menu.
fn extract_payload(iso: &Path, x: &Path) -> String {
    xorriso(iso, &["-osirrox", "on", "-extract", "/", x.to_str().unwrap()]);
    assert_eq!(std::fs::read(x.join("images/pxeboot/vmlinuz")).unwrap(), noise(300_001, 7));
    assert_eq!(std::fs::read(x.join("images/pxeboot/initrd.img")).unwrap(), noise(120_000, 9));
    assert_eq!(std::fs::read(x.join("LiveOS/squashfs.img")).unwrap(), noise(50_000, 3));
    std::fs::read_to_string(x.join("boot/grub/grub.cfg")).unwrap()
}

#[test]
fn slim_iso_is_reproducible() {
    if !tools_present() {
        return;
    }
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    assert_reproducible(Layout::Slim, a.path(), b.path());
}

#[test]
fn mkrescue_iso_is_hybrid_and_reproducible() {
    if !tools_present() {
        return;
    }
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let iso = assert_reproducible(Layout::Mkrescue, a.path(), b.path());
    let report = xorriso(&iso, &["-report_el_torito", "plain", "-report_system_area", "plain"]);
    let bios = field(&report, "El Torito boot img", "1").expect(&report);
    let efi = field(&report, "El Torito boot img", "2").expect(&report);
    assert_eq!((bios[0], efi[0]), ("BIOS", "UEFI"), "{report}");
    assert!(report.contains("grub2-mbr") && report.contains("GPT"), "{report}");
    let leftovers: Vec<_> = std::fs::read_dir(a.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 5, "inputs, logs and the ISO only: {leftovers:?}");
    let cfg = extract_payload(&iso, &a.path().join("x"));
    assert!(cfg.contains("menuentry 'Kiln (VGA console)'"), "{cfg}");
}

#[test]
fn a_failing_layout_leaves_no_iso_and_no_temp_files() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k.iso");
    let missing = dir.path().join("no-such-kernel");
    let menu = Menu { entries: vec![Entry { name: "x".into(), cmdline: String::new() }], default: 0, timeout: 1 };
    let inputs = IsoInputs {
        kernel: &missing,
        initrd: &missing,
        menu: &menu,
        grub_template: include_str!("../../../boot/grub.cfg"),
        label: "KILNTEST",
        extra: &[],
        epoch: 1_735_689_600,
        log_dir: &dir.path().join("logs"),
    };
    let err = build_iso(Layout::Slim, &inputs, &out).unwrap_err();
    assert!(format!("{err:#}").contains("no-such-kernel"), "{err:#}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing left behind");
}
