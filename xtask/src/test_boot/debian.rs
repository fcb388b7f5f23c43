//! The slow case (`cargo xtask test-boot --slow`): a real distribution root. Debian 12
//! `debootstrap --variant=minbase` (made once, kept in the Kiln cache), packed as an OCI
//! layout with umoci (kept too), built into an ISO by the same code as `--from-oci` over
//! the default image's kernel and booted: Debian's own `/bin/sh` (dash) is the console
//! shell, and `cat /etc/debian_version` and `dpkg -l` must work.
//!
//! The root is about 113 MB unpacked and lives in RAM (initramfs mode), so the machine
//! gets 1 GiB. The same root in live mode (`debian-live-*`: the squashfs on the medium,
//! kiln-boot, an overlay) boots in all four cells with QEMU's default 128 MiB.

use super::cases::{boot, machine, never, Case};
use crate::artifacts::{self, Artifacts};
use crate::ctx::Ctx;
use anyhow::{bail, Context, Result};
use kiln_image::RunMode;
use kiln_vm::{Accel, Boot, Firmware, Step};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const SUITE: &str = "bookworm";
pub const MIRROR: &str = "http://deb.debian.org/debian";
/// The tag of the image in the OCI layout.
pub const TAG: &str = "bookworm";
/// Guest RAM: the compressed and the unpacked initramfs are both in memory during boot.
pub const MEMORY_MIB: u32 = 1024;
/// The root is bigger than the default 256 MiB limit's comfort zone: allow 512 MiB.
pub const MAX_INITRAMFS_BYTES: u64 = 512 << 20;
/// The cells: one per firmware, both from CD.
pub const CELLS: [(&str, Firmware); 2] = [("debian-seabios-cd", Firmware::SeaBios), ("debian-ovmf-cd", Firmware::Ovmf)];

/// The same root in live mode, in all four cells, with QEMU's default memory (128 MiB):
/// the root stays on the medium.
pub const LIVE_CELLS: [&str; 4] = ["debian-live-seabios-cd", "debian-live-seabios-disk", "debian-live-ovmf-cd", "debian-live-ovmf-disk"];

/// Whether `--only` selects a Debian case (only asked with `--slow`).
pub fn wanted(only: &[String]) -> bool {
    let mut names = CELLS.iter().map(|(n, _)| *n).chain(LIVE_CELLS);
    only.is_empty() || names.any(|n| only.iter().any(|o| n.contains(o.as_str())))
}

/// Runs `program args`, its output in `log`; an error names the log.
pub(super) fn run_logged(program: &str, args: &[&str], log: &Path) -> Result<()> {
    let out = duct::cmd(program, args).stderr_to_stdout().stdout_path(log).unchecked().run().with_context(|| format!("cannot run {program} (run `cargo xtask deps`)"))?;
    if !out.status.success() {
        bail!("`{program} {}` failed ({}); output in {}", args.join(" "), out.status, log.display());
    }
    Ok(())
}

/// Makes `dir` once: `make` fills a fresh temporary directory beside it, which gets a
/// `kiln-done` marker and is renamed into place; a `dir` without the marker is made again.
pub(super) fn once(dir: &Path, what: &str, make: impl FnOnce(&Path) -> Result<()>) -> Result<PathBuf> {
    if dir.join("kiln-done").is_file() {
        return Ok(dir.to_owned());
    }
    let parent = dir.parent().context("no parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let name = dir.file_name().context("no name")?.to_string_lossy();
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    eprintln!("  making {what} in {} (once; kept in the cache)", dir.display());
    let started = Instant::now();
    if let Err(e) = make(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e.context(format!("making {what}")));
    }
    std::fs::write(tmp.join("kiln-done"), b"")?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&tmp, dir).with_context(|| format!("renaming {} to {}", tmp.display(), dir.display()))?;
    eprintln!("  {what}: {:.0}s", started.elapsed().as_secs_f64());
    Ok(dir.to_owned())
}

/// `CACHE/debian/bookworm-minbase-v2/root`: `debootstrap --variant=minbase` (as root),
/// without the downloaded packages and apt's lists, as Docker's `debian:bookworm` (80 of
/// the 193 MB, nearly incompressible: they doubled the initramfs).
pub fn minbase(ctx: &Ctx) -> Result<PathBuf> {
    let dir = ctx.cache.join("debian").join(format!("{SUITE}-minbase-v2"));
    let log = ctx.out.join("logs/debootstrap.log");
    std::fs::create_dir_all(ctx.out.join("logs"))?;
    once(&dir, "the Debian minbase root (debootstrap)", |tmp| {
        let root = tmp.join("root");
        run_logged("debootstrap", &["--variant=minbase", SUITE, &root.to_string_lossy(), MIRROR], &log)?;
        trim(&root)
    })
    .map(|d| d.join("root"))
}

/// Removes what `apt-get clean` and `rm -rf /var/lib/apt/lists/*` would: files only,
/// the directories (`partial/`) stay.
pub(super) fn trim(root: &Path) -> Result<()> {
    for dir in ["var/cache/apt/archives", "var/cache/apt", "var/lib/apt/lists"] {
        for e in std::fs::read_dir(root.join(dir)).with_context(|| format!("reading /{dir} of the Debian root"))? {
            let e = e?;
            if e.file_type()?.is_file() && e.file_name() != "lock" {
                std::fs::remove_file(e.path()).with_context(|| format!("removing {}", e.path().display()))?;
            }
        }
    }
    Ok(())
}

/// `CACHE/debian/bookworm-minbase-v2-oci/layout`: the root as a one-layer OCI layout,
/// as Docker's `debian:bookworm`.
pub fn layout(ctx: &Ctx, root: &Path) -> Result<PathBuf> {
    pack(ctx, root, &ctx.cache.join("debian").join(format!("{SUITE}-minbase-v2-oci")), TAG)
}

/// `DIR/layout`: `root` as a one-layer OCI layout (`umoci insert`) tagged `tag`, with
/// `Cmd ["/bin/bash"]` and Debian's `PATH`. Made once: umoci stamps the config with the
/// time, so packing again would give other digests (and rebuild what uses them).
pub(super) fn pack(ctx: &Ctx, root: &Path, dir: &Path, tag: &str) -> Result<PathBuf> {
    let log = ctx.out.join("logs/umoci.log");
    once(dir, "the OCI layout (umoci)", |tmp| {
        let layout = tmp.join("layout");
        let image = format!("{}:{tag}", layout.display());
        run_logged("umoci", &["init", "--layout", &layout.to_string_lossy()], &log)?;
        run_logged("umoci", &["new", "--image", &image], &log)?;
        run_logged("umoci", &["insert", "--image", &image, &root.to_string_lossy(), "/"], &log)?;
        let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        run_logged("umoci", &["config", "--image", &image, "--config.env", path, "--config.cmd", "/bin/bash"], &log)?;
        run_logged("umoci", &["gc", "--layout", &layout.to_string_lossy()], &log)
    })
    .map(|d| d.join("layout"))
}

/// The Debian root's ISO over `minimal`'s spec: Debian's shell only (`run = "none"`), no
/// BusyBox, a 512 MiB limit. Prints how long each part took.
pub fn build(ctx: &Ctx, minimal: &Artifacts) -> Result<Artifacts> {
    let root = minbase(ctx)?;
    let layout = layout(ctx, &root)?;
    let mut spec = minimal.spec.clone();
    spec.name = format!("debian-{SUITE}");
    spec.rootfs.oci = Some(kiln_image::containers::ImageRef::Path(layout));
    spec.rootfs.run = RunMode::None;
    spec.rootfs.busybox = false;
    spec.rootfs.max_initramfs_bytes = MAX_INITRAMFS_BYTES;
    let started = Instant::now();
    let a = artifacts::build_spec(ctx, spec, true).context("building the Debian root's ISO")?;
    let iso = a.iso.as_ref().context("built with an ISO")?;
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "  debian: {:.1}s for the OCI layout → initramfs → ISO (under a second when cached); initramfs {} B, ISO {} B; peak memory so far {}",
        started.elapsed().as_secs_f64(),
        size(&a.initrd),
        size(iso),
        peak_memory().unwrap_or_else(|| "unknown".into())
    );
    Ok(a)
}

/// The Debian root in live mode over `minimal`'s spec: the squashfs on the ISO,
/// kiln-boot, then kiln-init and Debian's shell.
pub fn build_live(ctx: &Ctx, minimal: &Artifacts) -> Result<Artifacts> {
    let layout = layout(ctx, &minbase(ctx)?)?;
    let mut spec = minimal.spec.clone();
    spec.name = format!("debian-{SUITE}-live");
    spec.iso.label = "KILN_DEBIAN".into();
    spec.rootfs.oci = Some(kiln_image::containers::ImageRef::Path(layout));
    spec.rootfs.run = RunMode::None;
    spec.rootfs.busybox = false;
    spec.rootfs.mode = kiln_image::RootMode::Live;
    let started = Instant::now();
    let a = artifacts::build_spec(ctx, spec, true).context("building the Debian root's live ISO")?;
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let squashfs = a.live.as_ref().map_or(0, |l| size(&l.squashfs));
    eprintln!(
        "  debian live: {:.1}s for the OCI layout → squashfs → ISO; squashfs {squashfs} B, initramfs {} B, ISO {} B",
        started.elapsed().as_secs_f64(),
        size(&a.initrd),
        a.iso.as_deref().map_or(0, size)
    );
    Ok(a)
}

/// This process's peak resident memory (`VmHWM` in `/proc/self/status`).
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    Some(status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().to_string())
}

fn cmd(cmd: &str, expect: &[&str]) -> Step {
    Step::Command { cmd: cmd.into(), expect: expect.iter().map(|s| s.to_string()).collect(), timeout: Duration::from_secs(120) }
}

/// The checks: Debian's release, dpkg's database, dash as the shell, kiln-init as PID 1;
/// then power-off through kiln-init's signal (Debian's minbase has no `poweroff`).
/// Every expected text is computed in the guest.
pub fn steps() -> Vec<Step> {
    let mut s = boot();
    // Unpacking ~45 MB of xz under TCG takes a while: a longer boot deadline.
    if let Some(Step::Boot { timeout, .. }) = s.first_mut() {
        *timeout = Duration::from_secs(600);
    }
    s.extend([
        cmd("cat /etc/debian_version", &["12."]),
        cmd("[ $(dpkg -l | grep -c '^ii') -gt 50 ] && echo pkgs-ok=$((6*7))", &["pkgs-ok=42"]),
        cmd("dpkg -s dash | sed -n 's/^Status: //p'", &["install ok installed"]),
        cmd("echo pid1=$(cat /proc/1/comm) sh=$(readlink -f /bin/sh) kiln=$([ -e /kiln ] && echo yes || echo no)", &["pid1=init", "sh=/usr/bin/dash", "kiln=no"]),
        Step::Exit {
            cmd: "kill -USR2 1".into(),
            status: 0,
            expect: vec!["kiln-init: powering off".into(), "reboot: Power down".into()],
            timeout: Duration::from_secs(120),
        },
    ]);
    s.extend(never());
    s
}

/// The live checks, then the same as [`steps`]: the root is an overlay on the squashfs.
pub fn live_steps() -> Vec<Step> {
    let mut s = steps();
    let at = s.iter().position(|s| matches!(s, Step::Shell { .. })).map_or(0, |i| i + 1);
    s.insert(at, cmd("awk '$2 == \"/\" { print \"root=\" $3 } $3 == \"squashfs\" { print \"lower=\" $2 }' /proc/mounts", &["root=overlay", "lower=/run/rootfsbase"]));
    s
}

pub fn cases(built: &Artifacts, live: &Artifacts, accel: Accel) -> Vec<Case> {
    let iso = built.iso.clone().expect("built with an ISO");
    let mut out: Vec<Case> = CELLS
        .iter()
        .map(|(name, fw)| {
            let mut m = machine(*fw, Boot::Cdrom(iso.clone()), accel);
            m.memory_mib = Some(MEMORY_MIB);
            Case { name: name.to_string(), machine: m, steps: steps(), host: None }
        })
        .collect();
    let live_iso = live.iso.clone().expect("built with an ISO");
    for name in LIVE_CELLS {
        let (fw, boot) = super::live::cell(name, &live_iso);
        out.push(Case { name: name.to_string(), machine: machine(fw, boot, accel), steps: live_steps(), host: None });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_text_is_never_the_typed_text_and_the_case_ends_the_machine() {
        for s in [steps(), live_steps()] {
            assert!(s.contains(&Step::Never("Kernel panic".into())));
            assert!(super::super::cases::ends_the_machine(&s));
            super::super::cases::assert_expects_no_typed_text("debian", &s);
        }
    }

    #[test]
    fn only_selects_the_debian_cells() {
        assert!(wanted(&[]) && wanted(&["debian".into()]) && wanted(&["debian-ovmf".into()]) && wanted(&["debian-live".into()]));
        assert!(!wanted(&["oci-layout".into()]) && !wanted(&["direct-kernel".into()]));
    }

    #[test]
    fn once_makes_the_directory_only_once_and_never_half() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("a/thing");
        assert!(once(&dir, "a failing thing", |_| bail!("no")).is_err());
        assert!(!dir.exists(), "a failed make leaves nothing in place");
        let mut made = 0;
        once(&dir, "a thing", |tmp| {
            made += 1;
            Ok(std::fs::write(tmp.join("f"), b"x")?)
        })
        .unwrap();
        once(&dir, "a thing", |_| bail!("made twice")).unwrap();
        assert_eq!((made, std::fs::read(dir.join("f")).unwrap()), (1, b"x".to_vec()));
    }

    #[test]
    fn trim_removes_package_files_and_lists_but_not_directories() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for d in ["var/cache/apt/archives/partial", "var/lib/apt/lists/partial"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        for f in ["var/cache/apt/archives/dash.deb", "var/cache/apt/archives/lock", "var/cache/apt/pkgcache.bin", "var/lib/apt/lists/x_Packages"] {
            std::fs::write(r.join(f), b"x").unwrap();
        }
        trim(r).unwrap();
        let left: Vec<_> = walkdir::WalkDir::new(r).sort_by_file_name().into_iter().flatten().filter(|e| e.file_type().is_file()).map(|e| e.path().strip_prefix(r).unwrap().to_owned()).collect();
        assert_eq!(left, [std::path::PathBuf::from("var/cache/apt/archives/lock")]);
        assert!(r.join("var/cache/apt/archives/partial").is_dir() && r.join("var/lib/apt/lists/partial").is_dir());
        assert!(trim(&r.join("nothing")).is_err());
    }
}
