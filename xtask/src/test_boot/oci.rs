//! Boot cases for container images as the root: kiln-oci's BusyBox fixture (built
//! from Kiln's own static BusyBox) written in each input format under
//! `out/test-boot/oci/`, each built into an ISO over the default image's kernel and
//! booted. Every format boots in one cell, and the OCI layout in all four (SeaBIOS and
//! OVMF, CD and disk), to keep CI time down.

use super::cases::{boot, cmd, machine, never, power_off, wait_for, Case};
use crate::artifacts::{self, Artifacts};
use crate::ctx::Ctx;
use anyhow::{Context, Result};
use kiln_image::RunMode;
use kiln_oci::fixtures::{self, FixtureImage};
use kiln_vm::{Accel, Boot, Firmware, Step};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The input formats: OCI layout directory, oci-archive, `docker save` (Docker 25+,
/// with an OCI layout) and legacy `docker save`.
pub const FORMATS: [&str; 4] = ["layout", "archive", "docker-save", "docker-legacy"];

/// What the fixture's program prints: computed from its `Env` in its `WorkingDir`.
const PROGRAM_SAYS: &str = "fixture-env=42 in /opt/app";

/// An image built over one fixture file.
pub struct Built {
    pub format: &'static str,
    pub run: RunMode,
    pub artifacts: Artifacts,
}

/// The fixture: kiln-oci's BusyBox layers (marker file, whiteout of `/etc/motd`, opaque
/// `/opt/app`), running a shell that prints something computed from `Env` and
/// `WorkingDir`, then stays as the console shell.
fn fixture(busybox: &[u8], user: &str) -> FixtureImage {
    let mut f = FixtureImage::busybox(busybox);
    f.run = json!({
        "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "KILN_FIXTURE_N=7"],
        "WorkingDir": "/opt/app",
        "User": user,
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo fixture-env=$((KILN_FIXTURE_N * 6)) in $(pwd) as $(busybox id -u):$(busybox id -g); exec /bin/sh"]
    });
    f
}

/// The `User` of the fixture in `format`: the service-mode one (`oci-archive`) runs as
/// the image's `app` user, resolved from its /etc/passwd; the others as root.
fn fixture_user(format: &str) -> &'static str {
    if format == "archive" {
        "app"
    } else {
        "root"
    }
}

/// What `id -u`:`id -g` print for the fixture's program in `format`.
fn program_ids(format: &str) -> &'static str {
    if format == "archive" {
        "as 1000:1000"
    } else {
        "as 0:0"
    }
}

/// Writes the fixture in `format` under `dir`, leaving files that already hold the same
/// bytes untouched (so the cached initramfs and ISO are reused); returns its path.
fn write_fixture(dir: &Path, format: &str, image: &FixtureImage) -> Result<PathBuf> {
    let tag = "kiln/fixture:1";
    let (files, as_dir) = match format {
        "layout" => (fixtures::oci_layout_files(image, tag), true),
        "archive" => (fixtures::oci_layout_files(image, tag), false),
        "docker-save" => (fixtures::docker_save_files(image, tag), false),
        "docker-legacy" => (fixtures::docker_save_legacy_files(image, tag), false),
        other => anyhow::bail!("unknown fixture format {other}"),
    };
    std::fs::create_dir_all(dir)?;
    if as_dir {
        let path = dir.join(format);
        let fresh = dir.join(format!(".{format}.new"));
        let _ = std::fs::remove_dir_all(&fresh);
        fixtures::write_dir(&fresh, &files)?;
        if same_tree(&fresh, &path) {
            std::fs::remove_dir_all(&fresh)?;
        } else {
            let _ = std::fs::remove_dir_all(&path);
            std::fs::rename(&fresh, &path)?;
        }
        Ok(path)
    } else {
        let path = dir.join(format!("{format}.tar"));
        let fresh = dir.join(format!(".{format}.tar.new"));
        fixtures::write_tar(&fresh, &files)?;
        if std::fs::read(&fresh).ok() == std::fs::read(&path).ok() {
            std::fs::remove_file(&fresh)?;
        } else {
            std::fs::rename(&fresh, &path)?;
        }
        Ok(path)
    }
}

fn same_tree(a: &Path, b: &Path) -> bool {
    let files = |root: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        walkdir::WalkDir::new(root)
            .sort_by_file_name()
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .map(|e| (e.path().strip_prefix(root).unwrap_or(e.path()).to_owned(), std::fs::read(e.path()).unwrap_or_default()))
            .collect()
    };
    b.is_dir() && files(a) == files(b)
}

/// Builds the fixture in every format into an ISO over `minimal`'s spec: the
/// `oci-archive` one runs the program as a service with Kiln's BusyBox added, the
/// others as the console shell with nothing added.
pub fn build(ctx: &Ctx, minimal: &Artifacts) -> Result<Vec<Built>> {
    let busybox = std::fs::read(&minimal.busybox_binary).with_context(|| format!("reading {}", minimal.busybox_binary.display()))?;
    let dir = ctx.out.join("test-boot/oci");
    let mut out = Vec::new();
    for format in FORMATS {
        let path = write_fixture(&dir, format, &fixture(&busybox, fixture_user(format)))?;
        let mut spec = minimal.spec.clone();
        spec.name = format!("oci-{format}");
        spec.rootfs.oci = Some(kiln_image::containers::ImageRef::Path(path));
        if format == "archive" {
            spec.rootfs.run = RunMode::Service;
            spec.rootfs.busybox = true;
        }
        let run = spec.rootfs.run;
        let artifacts = artifacts::build_spec(ctx, spec, true).with_context(|| format!("building the {format} fixture's ISO"))?;
        out.push(Built { format, run, artifacts });
    }
    Ok(out)
}

/// Checks without a boot, one result line each: building the fixtures again rewrites
/// nothing (`oci-noop-rebuild`), and a limit below the fixture's size fails naming the
/// size, the RAM needed and the live mode (`oci-too-big`).
pub fn build_checks(ctx: &Ctx, minimal: &Artifacts, built: &[Built]) -> Result<Vec<(&'static str, bool, Vec<String>)>> {
    let outputs: Vec<PathBuf> = built.iter().flat_map(|b| [b.artifacts.initrd.clone(), b.artifacts.iso.clone().unwrap_or_default()]).collect();
    let changed = super::rewritten(&outputs, || build(ctx, minimal).map(drop))?;
    let noop = (BUILD_CHECKS[0], changed.is_empty(), changed);

    let layout = built.iter().find(|b| b.format == "layout").context("no layout fixture")?;
    let mut spec = layout.artifacts.spec.clone();
    spec.name = "oci-too-big".into();
    spec.rootfs.max_initramfs_bytes = 100_000;
    let too_big = match artifacts::build_spec(ctx, spec, false) {
        Ok(_) => ("oci-too-big", false, vec!["a 100000-byte limit did not stop the fixture".to_string()]),
        Err(e) => {
            let e = format!("{e:#}");
            let ok = ["rootfs.max_initramfs_bytes = 100000", "the machine would need about", "--live"].iter().all(|w| e.contains(w));
            ("oci-too-big", ok, vec![e])
        }
    };
    Ok(vec![noop, too_big])
}

/// The checks of a booted fixture. Every expected text is computed in the guest.
/// `ids` is what the program prints for its `id -u`:`id -g` (see [`program_ids`]).
pub fn steps(run: RunMode, ids: &str) -> Vec<Step> {
    let says = format!("{PROGRAM_SAYS} {ids}");
    let mut s = boot();
    match run {
        // The program printed it on the console before it became the shell.
        RunMode::Console => s.insert(1, wait_for(&says)),
        // The service runs beside the shell (as the image's User), which stays root:
        // give the service a few seconds to write its log.
        _ => {
            s.push(cmd("for i in 1 2 3 4 5 6 7 8 9 10; do [ -s /var/log/app.log ] && break; sleep 1; done; cat /var/log/app.log", &[&says]));
            s.push(cmd("echo shell-uid=$(busybox id -u)", &["shell-uid=0"]));
        }
    }
    s.extend([
        cmd("cat /etc/kiln-marker", &[fixtures::MARKER.trim_end()]),
        // The top layer's whiteout removed /etc/motd; its opaque /opt/app hides the lower
        // layer's contents and keeps its own.
        cmd("[ -e /etc/motd ] || echo gone=$((1+1))", &["gone=2"]),
        cmd("[ -e /opt/app/old ] || [ -e /opt/app/sub ] || echo opaque=$((2+2)) new=$(cat /opt/app/new)", &["opaque=4 new=added with the opaque directory"]),
        // The image's Env reaches the console shell too; PID 1 is kiln-init.
        cmd("echo env=$((KILN_FIXTURE_N + 1)) pid1=$(cat /proc/1/comm)", &["env=8 pid1=init"]),
        // The shells start in the image's WorkingDir (kiln-init's workdir).
        cmd("echo cwd=$(pwd)", &["cwd=/opt/app"]),
    ]);
    match run {
        RunMode::Service => {
            s.push(cmd("echo path=${PATH##*:} bb=$(readlink /kiln/bin/poweroff)", &["path=/kiln/bin bb=busybox"]));
            s.push(power_off("poweroff"));
        }
        _ => {
            // Nothing of Kiln's is added unless asked: no /kiln, no poweroff applet.
            s.push(cmd("[ -e /kiln ] || command -v poweroff || echo untouched=$((3+3))", &["untouched=6"]));
            s.push(power_off("busybox poweroff"));
        }
    }
    s.extend(never());
    s
}

/// (format, cell): one cell per format, and the OCI layout in all four.
pub const CELLS: [(&str, &str); 7] = [
    ("layout", "seabios-cd"),
    ("layout", "seabios-disk"),
    ("layout", "ovmf-cd"),
    ("layout", "ovmf-disk"),
    ("archive", "seabios-disk"),
    ("docker-save", "ovmf-cd"),
    ("docker-legacy", "seabios-cd"),
];

fn case_name(format: &str, cell: &str) -> String {
    format!("oci-{format}-{cell}")
}

/// Whether `--only` selects any of these cases (the fixtures are built only then).
pub fn wanted(only: &[String]) -> bool {
    let names = CELLS.iter().map(|(f, c)| case_name(f, c)).chain(BUILD_CHECKS.iter().map(|n| n.to_string()));
    only.is_empty() || names.into_iter().any(|n| only.iter().any(|o| n.contains(o.as_str())))
}

/// The checks of [`build_checks`], by name.
pub const BUILD_CHECKS: [&str; 2] = ["oci-noop-rebuild", "oci-too-big"];

pub fn cases(built: &[Built], accel: Accel) -> Vec<Case> {
    let mut out = Vec::new();
    for (format, cell) in CELLS {
        let Some(b) = built.iter().find(|b| b.format == format) else { continue };
        let iso = b.artifacts.iso.clone().expect("built with an ISO");
        let (fw, boot) = match cell {
            "seabios-cd" => (Firmware::SeaBios, Boot::Cdrom(iso)),
            "seabios-disk" => (Firmware::SeaBios, Boot::Disk(iso)),
            "ovmf-cd" => (Firmware::Ovmf, Boot::Cdrom(iso)),
            _ => (Firmware::Ovmf, Boot::Disk(iso)),
        };
        out.push(Case { name: case_name(format, cell), machine: machine(fw, boot, accel), steps: steps(b.run, program_ids(format)), host: None });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_text_is_never_the_typed_text_and_every_case_ends_the_machine() {
        for (run, format) in [(RunMode::Console, "layout"), (RunMode::Service, "archive")] {
            let s = steps(run, program_ids(format));
            assert!(s.contains(&Step::Never("Kernel panic".into())));
            assert!(super::super::cases::ends_the_machine(&s));
            super::super::cases::assert_expects_no_typed_text(format, &s);
        }
    }

    #[test]
    fn every_format_boots_and_the_layout_in_every_cell() {
        for f in FORMATS {
            assert!(CELLS.iter().any(|(format, _)| *format == f), "{f}");
        }
        for cell in ["seabios-cd", "seabios-disk", "ovmf-cd", "ovmf-disk"] {
            assert!(CELLS.contains(&("layout", cell)), "{cell}");
        }
        assert!(wanted(&[]) && wanted(&["oci-docker".into()]) && wanted(&["ovmf-disk".into()]) && wanted(&["too-big".into()]));
        assert!(!wanted(&["demo".into()]) && !wanted(&["direct-kernel".into()]));
    }

    #[test]
    fn fixtures_are_written_once_in_every_format() {
        let dir = tempfile::tempdir().unwrap();
        let image = fixture(b"not really busybox", "root");
        for format in FORMATS {
            let p = write_fixture(dir.path(), format, &image).unwrap();
            let before = std::fs::metadata(&p).unwrap().modified().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert_eq!(write_fixture(dir.path(), format, &image).unwrap(), p);
            assert_eq!(std::fs::metadata(&p).unwrap().modified().unwrap(), before, "{format} rewritten");
            let opened = kiln_oci::Image::open(&p, &kiln_oci::Options::default()).unwrap();
            assert_eq!(opened.config().command().last().unwrap(), "echo fixture-env=$((KILN_FIXTURE_N * 6)) in $(pwd) as $(busybox id -u):$(busybox id -g); exec /bin/sh");
            assert_eq!(opened.config().user.as_deref(), Some("root"));
        }
    }
}
