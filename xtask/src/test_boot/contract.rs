//! The contract-mode fixture: a real distribution initramfs nobody here wrote. Debian 12
//! minbase with its kernel, dracut and dracut's live modules, laid out as the
//! container-native ISO contract v0.1 wants (`/usr/lib/modules/KVER/vmlinuz` and
//! `initramfs.img` beside it, made by Debian's dracut with `dmsquash-live` and
//! `overlayfs`), with an `iso.yaml` of two entries, packed as an OCI layout. Made once
//! into the cache (debootstrap, apt and dracut take minutes), like the Debian case.
//!
//! Measured 2026-11-30 (2 cores, the Debian mirror over the network): the root in 153 s
//! (622 MB, of which the initramfs is 40 MB), the layout in 11 s (217 MB); its xz
//! squashfs is 180 MB (2.5 min of mksquashfs), and the live boot reaches `login:` in
//! 52-61 s under TCG.
//!
//! Its live boot needs `rd.live.overlay.overlayfs=1`: without it Debian's dracut waits
//! for a device-mapper snapshot and drops to its emergency shell. root has no password
//! (a test fixture): the serial getty's `login:` is the sign the root is up.
//!
//! The squashfs must keep the (empty) `/proc`: Debian's `dmsquash-live-root` takes a
//! squashfs with `/proc` for the root itself, else it looks for `LiveOS/rootfs.img` in
//! it and stops with "Failed to find a root filesystem". Kiln's contract mode puts the
//! image's tree into the squashfs unchanged, so it is there.
//!
//! The cases (`--slow`, `contract-*`) build the ISO the way users do, `--from-oci
//! LAYOUT --live` over the default spec, and boot it in the four cells to `login:`.

use super::cases::{machine, Case};
use super::debian::{self, once, run_logged, MIRROR, SUITE};
use crate::artifacts::{self, Artifacts};
use crate::ctx::Ctx;
use anyhow::{bail, Context, Result};
use kiln_vm::{Accel, Step};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The cache entries' name (`CACHE/debian/NAME`, `NAME-oci`); a new version when the
/// recipe changes.
pub const NAME: &str = "bookworm-dracut-v1";
/// The ISO's volume id, which the entries' `root=live:CDLABEL=` names.
pub const LABEL: &str = "KILN_DRACUT";
/// The tag of the image in the OCI layout.
pub const TAG: &str = "bookworm-dracut";
/// Where `iso.yaml` goes (the older of image-builder's two places, as most images have it).
pub const ISO_YAML: &str = "usr/lib/bootc-image-builder/iso.yaml";
/// The menu's entries: the first boots to the serial console, the second differs only
/// in name and verbosity, so a test can see that the menu shows both.
pub const ENTRIES: [(&str, &str); 2] = [("Debian live (serial console)", ""), ("Debian live (verbose)", " rd.info systemd.show_status=1")];
/// Packages beyond minbase. debootstrap cannot take the kernel here: it resolves
/// `linux-image`'s `initramfs-tools | linux-initramfs-tool` by the first alternative,
/// which conflicts with dracut; apt, in the root, picks dracut (already installed).
const INCLUDE: &str = "dracut,dracut-live,systemd-sysv,udev";

/// The kernel command line of the live entries (after `/images/pxeboot/vmlinuz`).
pub fn cmdline() -> String {
    format!("root=live:CDLABEL={LABEL} rd.live.image rd.live.overlay.overlayfs=1 console=ttyS0")
}

/// The fixture's `iso.yaml`: the label, a 1 s timeout, the two entries.
pub fn iso_yaml() -> String {
    let mut s = format!("label: {LABEL}\ngrub2:\n  default: 0\n  timeout: 1\n  entries:\n");
    for (name, extra) in ENTRIES {
        s += &format!("    - name: \"{name}\"\n      linux: \"/images/pxeboot/vmlinuz {}{extra}\"\n      initrd: \"/images/pxeboot/initrd.img\"\n", cmdline());
    }
    s
}

/// /proc, /sys and /dev of the host mounted in a root for `chroot`; unmounted (in
/// reverse, lazily if busy) when dropped, so also on every error path.
struct Mounts {
    done: Vec<PathBuf>,
}

impl Mounts {
    fn new(root: &Path, log: &Path) -> Result<Mounts> {
        let mut m = Mounts { done: Vec::new() };
        for (what, args) in [("proc", &["-t", "proc", "proc"][..]), ("sys", &["--bind", "/sys"]), ("dev", &["--bind", "/dev"])] {
            let at = root.join(what);
            let mut a = args.to_vec();
            let s = at.to_string_lossy().into_owned();
            a.push(&s);
            run_logged("mount", &a, log)?;
            m.done.push(at);
        }
        Ok(m)
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        for at in self.done.iter().rev() {
            let ok = duct::cmd!("umount", at).stderr_null().unchecked().run().map(|o| o.status.success()).unwrap_or(false);
            if !ok {
                let _ = duct::cmd!("umount", "-l", at).stderr_null().unchecked().run();
            }
        }
    }
}

/// `chroot ROOT env DEBIAN_FRONTEND=noninteractive args...`, its output in `log`.
fn chroot(root: &Path, args: &[&str], log: &Path) -> Result<()> {
    let mut a = vec![root.to_str().context("root path is not UTF-8")?, "env", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C"];
    a.extend_from_slice(args);
    run_logged("chroot", &a, log)
}

/// The one kernel version under `root/usr/lib/modules`.
fn kernel_version(root: &Path) -> Result<String> {
    let dir = root.join("usr/lib/modules");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_>>()?;
    match names.len() {
        1 => Ok(names.pop().expect("one")),
        _ => bail!("expected one kernel in {}, found {names:?}", dir.display()),
    }
}

/// Removes Debian's own copies of the kernel and initramfs in /boot (the contract's are
/// in /usr/lib/modules; the root is packed twice, as a layer and a squashfs) and the
/// `/vmlinuz`, `/initrd.img` (and `.old`) links to them, which would dangle.
fn drop_boot_copies(root: &Path) -> Result<()> {
    let ours = |name: &str| name.starts_with("vmlinuz") || name.starts_with("initrd.img");
    for e in std::fs::read_dir(root.join("boot"))?.chain(std::fs::read_dir(root)?) {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let t = e.file_type()?;
        let in_boot = e.path().parent() == Some(&root.join("boot"));
        if ours(&name) && ((in_boot && t.is_file()) || (!in_boot && t.is_symlink())) {
            std::fs::remove_file(e.path()).with_context(|| format!("removing {}", e.path().display()))?;
        }
    }
    Ok(())
}

/// Fills `root` (inside `once`'s temporary directory): debootstrap, then in the root the
/// kernel (apt), the contract's kernel and initramfs (dracut), no root password and
/// `iso.yaml`.
fn make_root(root: &Path, log: &Path) -> Result<()> {
    let include = format!("--include={INCLUDE}");
    run_logged("debootstrap", &["--variant=minbase", &include, SUITE, &root.to_string_lossy(), MIRROR], log)?;
    let kver = {
        let _mounts = Mounts::new(root, log)?;
        chroot(root, &["INITRD=No", "apt-get", "install", "-y", "--no-install-recommends", "linux-image-amd64"], log)?;
        let kver = kernel_version(root)?;
        let modules = format!("/usr/lib/modules/{kver}");
        std::fs::copy(root.join(format!("boot/vmlinuz-{kver}")), root.join(&modules[1..]).join("vmlinuz")).context("copying the kernel")?;
        let initramfs = format!("{modules}/initramfs.img");
        chroot(root, &["dracut", "--no-hostonly", "--add", "dmsquash-live overlayfs", "--kver", &kver, "--force", &initramfs], log)?;
        chroot(root, &["passwd", "-d", "root"], log)?;
        kver
    };
    let yaml = root.join(ISO_YAML);
    std::fs::create_dir_all(yaml.parent().expect("has a parent"))?;
    std::fs::write(&yaml, iso_yaml())?;
    drop_boot_copies(root)?;
    debian::trim(root)?;
    eprintln!("  contract fixture: kernel {kver}, {}", du(root));
    Ok(())
}

/// `du -sh`'s answer for `path`, for the log line.
fn du(path: &Path) -> String {
    duct::cmd!("du", "-sh", path).read().ok().and_then(|s| s.split_whitespace().next().map(String::from)).unwrap_or_else(|| "? bytes".into())
}

/// `CACHE/debian/bookworm-dracut-v1/root`: the contract-mode Debian root (made once).
pub fn dracut_root(ctx: &Ctx) -> Result<PathBuf> {
    let dir = ctx.cache.join("debian").join(NAME);
    std::fs::create_dir_all(ctx.out.join("logs"))?;
    let log = ctx.out.join("logs/contract-fixture.log");
    once(&dir, "the contract-mode Debian root (debootstrap, kernel, dracut)", |tmp| make_root(&tmp.join("root"), &log)).map(|d| d.join("root"))
}

/// `CACHE/debian/bookworm-dracut-v1-oci/layout`: that root as a one-layer OCI layout,
/// tag `bookworm-dracut` (made once). For the live boot cases: `--from-oci LAYOUT --live`.
pub fn dracut_layout(ctx: &Ctx) -> Result<PathBuf> {
    let root = dracut_root(ctx)?;
    let layout = debian::pack(ctx, &root, &ctx.cache.join("debian").join(format!("{NAME}-oci")), TAG)?;
    eprintln!("  contract fixture layout: {} ({})", layout.display(), du(&layout));
    Ok(layout)
}

/// The contract-mode cases: the fixture's ISO in the four cells.
pub const CELLS: [&str; 4] = ["contract-seabios-cd", "contract-seabios-disk", "contract-ovmf-cd", "contract-ovmf-disk"];
/// Debian's kernel, its 40 MB initramfs and systemd want more than QEMU's default.
pub const MEMORY_MIB: u32 = 1024;

/// Whether `--only` selects a contract case (only asked with `--slow`).
pub fn wanted(only: &[String]) -> bool {
    only.is_empty() || CELLS.iter().any(|n| only.iter().any(|o| n.contains(o.as_str())))
}

/// The fixture's ISO by the build path users take (`iso --from-oci LAYOUT --live` over
/// the default spec): contract mode, so Debian's kernel, dracut's initramfs and the
/// menu of its `iso.yaml`.
pub fn build(ctx: &Ctx, minimal: &Artifacts) -> Result<Artifacts> {
    let layout = dracut_layout(ctx)?;
    let mut spec = minimal.spec.clone();
    spec.name = "debian-dracut".into();
    spec.rootfs.oci = Some(kiln_image::containers::ImageRef::Path(layout));
    spec.rootfs.mode = kiln_image::RootMode::Live;
    let started = std::time::Instant::now();
    let a = artifacts::build_spec(ctx, spec, true).context("building the contract fixture's ISO")?;
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    eprintln!("  contract: {:.1}s for the layout → squashfs → ISO; ISO {} B", started.elapsed().as_secs_f64(), a.iso.as_deref().map_or(0, size));
    Ok(a)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// GRUB shows both of `iso.yaml`'s entries under its label's ISO; Debian's own
/// initramfs finds the medium and switches to the squashfs under an overlay; systemd
/// brings up the serial getty; root logs in (no password in the fixture), and the
/// system is Debian, from the overlay, and powers off. Computed in the guest.
pub fn steps() -> Vec<Step> {
    let cmd = |c: &str, expect: &[&str]| Step::Command { cmd: c.into(), expect: expect.iter().map(|s| s.to_string()).collect(), timeout: secs(120) };
    let wait = |text: &str, s: u64| Step::Type { text: String::new(), expect: text.into(), timeout: secs(s) };
    vec![
        wait(ENTRIES[1].0, 120),
        // Not a `Boot` step: that reads the marker's line to its end, and a login prompt
        // has none.
        wait("login:", 900),
        Step::Type { text: "root\n".into(), expect: "root@".into(), timeout: secs(120) },
        Step::Shell { timeout: secs(60) },
        cmd("cat /etc/debian_version /proc/cmdline", &["12.", &format!("root=live:CDLABEL={LABEL}")]),
        cmd("awk '$2 == \"/\" { print \"root=\" $3 }' /proc/mounts; echo n=$((6*7))", &["root=overlay", "n=42"]),
        cmd("echo init=$(cat /proc/1/comm) kernel=$(uname -r | grep -c amd64)", &["init=systemd", "kernel=1"]),
        Step::Exit { cmd: "systemctl poweroff".into(), status: 0, expect: vec!["reboot: Power down".into()], timeout: secs(180) },
        Step::Never("Kernel panic".into()),
        Step::Never("emergency mode".into()),
        Step::Never("kiln-init".into()),
    ]
}

pub fn cases(built: &Artifacts, accel: Accel) -> Vec<Case> {
    let iso = built.iso.clone().expect("built with an ISO");
    CELLS
        .iter()
        .map(|name| {
            let (fw, boot) = super::live::cell(name, &iso);
            let mut m = machine(fw, boot, accel);
            m.memory_mib = Some(MEMORY_MIB);
            Case { name: name.to_string(), machine: m, steps: steps(), host: None }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_image::contract::{detect, MenuDefaults};
    use kiln_initramfs::{Data, Tree};

    #[test]
    fn expected_text_is_never_the_typed_text_and_the_case_ends_the_machine() {
        let s = steps();
        super::super::cases::assert_expects_no_typed_text("contract", &s);
        assert!(super::super::cases::ends_the_machine(&s));
        assert!(wanted(&["contract-ovmf".into()]) && !wanted(&["debian".into()]));
    }

    #[test]
    fn the_fixtures_iso_yaml_is_a_contract_menu_of_two_entries() {
        let mut t = Tree::new();
        t.symlink("lib", "usr/lib").unwrap();
        t.file("usr/lib/modules/6.1.0-50-amd64/vmlinuz", 0o644, Data::Bytes(b"k".to_vec())).unwrap();
        t.file("usr/lib/modules/6.1.0-50-amd64/initramfs.img", 0o644, Data::Bytes(b"i".to_vec())).unwrap();
        t.file(ISO_YAML, 0o644, Data::Bytes(iso_yaml().into_bytes())).unwrap();
        let c = detect(&t).unwrap().expect("contract mode");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let m = c.menu(&MenuDefaults { label: "UNUSED".into(), timeout: 9, name: "unused".into() }).unwrap();
        assert_eq!((m.label.as_str(), m.timeout, m.default), (LABEL, 1, 0));
        let names: Vec<&str> = m.entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ENTRIES.map(|(n, _)| n));
        assert_eq!(m.entries[0].1, cmdline());
        assert!(m.entries[1].1.starts_with(&cmdline()) && m.entries[1].1 != m.entries[0].1);
        assert!(cmdline().contains("rd.live.overlay.overlayfs=1") && cmdline().ends_with("console=ttyS0"));
    }

    #[test]
    fn boot_copies_go_and_the_rest_stays() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("boot")).unwrap();
        for f in ["vmlinuz-6.1.0-50-amd64", "initrd.img-6.1.0-50-amd64", "config-6.1.0-50-amd64", "System.map-6.1.0-50-amd64"] {
            std::fs::write(t.path().join("boot").join(f), b"x").unwrap();
        }
        std::os::unix::fs::symlink("boot/vmlinuz-6.1.0-50-amd64", t.path().join("vmlinuz")).unwrap();
        std::os::unix::fs::symlink("boot/vmlinuz-6.1.0-50-amd64", t.path().join("vmlinuz.old")).unwrap();
        std::fs::create_dir(t.path().join("initrd.img.d")).unwrap();
        drop_boot_copies(t.path()).unwrap();
        let names = |d: &Path| {
            let mut v: Vec<String> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
            v.sort();
            v
        };
        assert_eq!(names(&t.path().join("boot")), ["System.map-6.1.0-50-amd64", "config-6.1.0-50-amd64"]);
        assert_eq!(names(t.path()), ["boot", "initrd.img.d"], "the links go, a directory of that name stays");
    }

    #[test]
    fn one_kernel_version_or_an_error() {
        let t = tempfile::tempdir().unwrap();
        assert!(kernel_version(t.path()).is_err());
        std::fs::create_dir_all(t.path().join("usr/lib/modules/6.1.0-50-amd64")).unwrap();
        assert_eq!(kernel_version(t.path()).unwrap(), "6.1.0-50-amd64");
        std::fs::create_dir_all(t.path().join("usr/lib/modules/6.1.0-49-amd64")).unwrap();
        assert!(kernel_version(t.path()).unwrap_err().to_string().contains("expected one kernel"));
    }
}
