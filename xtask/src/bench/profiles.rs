//! `cargo xtask bench --profiles`: each of Kiln's profiles against the seed recipe that
//! makes the same kind of system, from the same kernel, in one run:
//!
//! | profile | Kiln | reference | up when |
//! |---|---|---|---|
//! | `minimal` | `iso --image minimal` | seed 000 (minlin) | a shell answers |
//! | `live` | `iso --image live` (squashfs + overlay) | seed 000 | a shell answers |
//! | `oci` | `iso --from-oci` a BusyBox image | seed 001 (the image's files + a script `/init`) | the image's shell answers |
//! | `oci-live` | the same `--live` | seed 001 | the image's shell answers |
//! | `container` | `iso --image container` | seed 004 (`runc run` of one BusyBox container from a script `/init`) | Kiln: both containers answer (the client fetches the web container's answer over the bridge); seed 004: its one container's shell answers |
//!
//! The seeds have no live mode, so a live profile is compared with the initramfs the
//! seed would make of the same system. Seed 004's OS does less than Kiln's container OS
//! (one container, no network, no supervisor): its ratio flatters the reference.
//! Written to `out/bench/profiles.json` and `out/bench/profiles.md`, serial logs under
//! `out/bench/profiles/NAME/logs/`.

use super::boot::{self, CellSpec, Target};
use super::report::{self, Cell, Machine, Row, Subject};
use super::{reference, seed001, seed004, size};
use crate::artifacts::{self, human};
use crate::ctx::Ctx;
use anyhow::{bail, Context, Result};
use kiln_image::containers::ImageRef;
use kiln_image::ImageSpec;
use kiln_vm::Accel;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The profiles, in the order they are measured.
pub const NAMES: [&str; 5] = ["minimal", "live", "oci", "oci-live", "container"];

/// The OCI image of the `oci` profiles: Kiln's BusyBox as a one-layer image with a link
/// per applet (`kiln:busybox`, what `[[containers]]` use), `Cmd` `sh`; its tag in the
/// layout's index (`org.opencontainers.image.ref.name`, as umoci and skopeo write it).
const OCI_TAG: &str = "latest";

/// Typed into Kiln's container OS: waits (in the guest) until the web container runs
/// and the client container fetches web's computed answer over the CNI bridge, then
/// prints it between colons (never in the echo: the line holds `$((A))`).
pub const CONTAINERS_QUESTION: &str = "until W=$(kiln-ctr list 2>/dev/null | awk '$1 == \"web\" && $2 == \"running\" { print $4 }') && [ -n \"$W\" ] \
     && A=$(kiln-ctr exec client wget -q -O - http://${W%/*}/answer 2>/dev/null) && [ -n \"$A\" ]; do sleep 1; done; echo :$((A)):\n";

#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub name: String,
    /// What "up" means for it.
    pub up: String,
    /// `-m` for both ISOs (`None`: QEMU's default, 128 MiB).
    pub memory_mib: Option<u32>,
    pub kiln: Subject,
    pub reference: Subject,
    pub boots: Vec<Cell>,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProfilesReport {
    pub schema: u32,
    pub date: String,
    pub machine: Machine,
    pub runs: u32,
    pub profiles: Vec<Profile>,
}

/// One profile's two ISOs and how to tell they are up.
struct Plan {
    /// Kiln's build (its ISO is `kiln_iso`; the KVM probe boots its kernel and initramfs).
    kiln: artifacts::Artifacts,
    kiln_iso: PathBuf,
    kiln_recipe: String,
    refr: reference::Reference,
    ref_recipe: &'static str,
    ref_ready: &'static str,
    containers: bool,
    memory_mib: Option<u32>,
}

fn load(ctx: &Ctx, name: &str) -> Result<ImageSpec> {
    Ok(ImageSpec::load(&ctx.root, name)?)
}

/// Writes the `oci` profiles' image as an OCI layout under `dir` (rewritten each run:
/// it is small); returns the layout's path.
fn oci_layout(dir: &Path, busybox: &Path) -> Result<PathBuf> {
    let layout = dir.join("busybox-layout");
    if layout.exists() {
        std::fs::remove_dir_all(&layout).with_context(|| format!("removing {}", layout.display()))?;
    }
    let image = crate::containers::busybox_image(busybox)?;
    kiln_oci::fixtures::write_dir(&layout, &kiln_oci::fixtures::oci_layout_files(&image, OCI_TAG))
        .with_context(|| format!("writing {}", layout.display()))?;
    Ok(layout)
}

fn plan(ctx: &Ctx, name: &str, dir: &Path) -> Result<Plan> {
    let built = |spec: ImageSpec| -> Result<(artifacts::Artifacts, PathBuf)> {
        let a = artifacts::build_spec(ctx, spec, true)?;
        let iso = a.iso.clone().context("no ISO built")?;
        Ok((a, iso))
    };
    let refdir = dir.join("reference");
    let seed000 = |a: &artifacts::Artifacts| reference::build(&a.kernel, &a.busybox_binary, &refdir);
    match name {
        "minimal" | "live" => {
            let (a, kiln_iso) = built(load(ctx, name)?)?;
            Ok(Plan {
                kiln_iso,
                kiln_recipe: format!("`cargo xtask iso --image {name}`"),
                refr: seed000(&a)?,
                ref_recipe: reference::RECIPE,
                ref_ready: reference::WELCOME,
                containers: false,
                memory_mib: None,
                // Last: the fields above borrow it.
                kiln: a,
            })
        }
        "oci" | "oci-live" => {
            let minimal = artifacts::build_spec(ctx, load(ctx, "minimal")?, false)?;
            let layout = oci_layout(dir, &minimal.busybox_binary)?;
            let mut spec = minimal.spec.clone();
            spec.name = "bench-oci".into();
            spec.rootfs.oci = Some(ImageRef::Path(layout.clone()));
            let live = name == "oci-live";
            if live {
                crate::iso::to_live(&mut spec)?;
            }
            let (a, kiln_iso) = built(spec)?;
            Ok(Plan {
                kiln_iso,
                kiln_recipe: format!("`cargo xtask iso --from-oci {}{}` (Kiln's BusyBox as a one-layer image)", layout.display(), if live { " --live" } else { "" }),
                refr: seed001::build(&a.kernel, &layout, OCI_TAG, &refdir)?,
                ref_recipe: seed001::RECIPE,
                ref_ready: seed001::WELCOME,
                containers: false,
                memory_mib: None,
                kiln: a,
            })
        }
        "container" => {
            let (a, kiln_iso) = built(load(ctx, name)?)?;
            let runc = which::which("runc").context("runc not found (seed 004's runtime; cargo xtask deps installs it)")?;
            Ok(Plan {
                kiln_iso,
                kiln_recipe: "`cargo xtask iso --image container`".into(),
                refr: seed004::build(&a.kernel, &a.busybox_binary, &runc, &refdir)?,
                ref_recipe: seed004::RECIPE,
                ref_ready: seed004::STARTING,
                containers: true,
                // What the container cells of test-boot give it; the seed says 512 MB.
                memory_mib: Some(256),
                kiln: a,
            })
        }
        other => bail!("unknown profile {other} (one of {})", NAMES.join(", ")),
    }
}

/// Measures `names` (all of [`NAMES`] when empty), `runs` boots per cell and ISO.
pub fn run(ctx: &Ctx, names: &[String], runs: u32, cells: &[CellSpec]) -> Result<()> {
    let names: Vec<String> = if names.is_empty() { NAMES.iter().map(|s| s.to_string()).collect() } else { names.to_vec() };
    if let Some(bad) = names.iter().find(|n| !NAMES.contains(&n.as_str())) {
        bail!("unknown profile {bad} (one of {})", NAMES.join(", "));
    }
    let root = ctx.out.join("bench/profiles");
    let mut profiles = Vec::new();
    let mut accel_seen = None;
    for name in &names {
        eprintln!("profile {name}");
        let dir = root.join(name);
        let logs = dir.join("logs");
        if logs.exists() {
            std::fs::remove_dir_all(&logs).with_context(|| format!("removing {}", logs.display()))?;
        }
        let p = plan(ctx, name, &dir).with_context(|| format!("building profile {name}"))?;
        eprintln!("  Kiln {} ({}), reference {} ({})", p.kiln_iso.display(), human(size(&p.kiln_iso)), p.refr.iso.display(), human(size(&p.refr.iso)));
        let accel = *accel_seen.get_or_insert_with(|| ctx.accel(&p.kiln.kernel, &p.kiln.initrd));
        let up = if p.containers { "both containers answering" } else { "shell" };
        let mut kiln_t = Target::shell("kiln", &p.kiln_iso, crate::test_boot::MARKER, !name.starts_with("oci"));
        if p.containers {
            kiln_t.question = CONTAINERS_QUESTION;
            // The guest loops until the containers answer: typed once, again after 60 s.
            kiln_t.retry = Duration::from_secs(60);
        }
        let ref_t = Target::shell("reference", &p.refr.iso, p.ref_ready, false);
        let boots: Vec<Cell> = cells.iter().map(|&c| boot::measure_cell(c, &kiln_t, &ref_t, runs, accel, &logs, p.memory_mib)).collect();
        let kiln = Subject { iso: p.kiln_iso.display().to_string(), iso_bytes: size(&p.kiln_iso), recipe: p.kiln_recipe };
        let reference = Subject { iso: p.refr.iso.display().to_string(), iso_bytes: size(&p.refr.iso), recipe: p.ref_recipe.into() };
        let rows = report::boot_rows(&format!("{name}: "), up, &kiln, &reference, &boots);
        print!("{}", report::terminal(&rows));
        profiles.push(Profile { name: name.clone(), up: up.into(), memory_mib: p.memory_mib, kiln, reference, boots, rows });
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let accel = accel_seen.map_or("-".to_string(), |a: Accel| format!("{a:?}"));
    let r = ProfilesReport { schema: report::SCHEMA, date: kiln_util::utc_date(now), machine: Machine::probe(&accel), runs, profiles };
    let json = ctx.out.join("bench/profiles.json");
    kiln_util::write_atomic(&json, serde_json::to_string_pretty(&r)?.as_bytes()).with_context(|| format!("writing {}", json.display()))?;
    let md = ctx.out.join("bench/profiles.md");
    kiln_util::write_atomic(&md, markdown(&r).as_bytes()).with_context(|| format!("writing {}", md.display()))?;
    println!("written to {} and {} (serial logs in {})", json.display(), md.display(), root.display());
    let failed: Vec<String> = r
        .profiles
        .iter()
        .flat_map(|p| p.boots.iter().flat_map(move |c| [("kiln", &c.kiln), ("reference", &c.reference)].map(|(w, s)| (p, c, w, s))))
        .filter(|(_, _, _, s)| s.failed > 0)
        .map(|(p, c, w, s)| format!("{} {w} {}: {} of {} runs", p.name, c.cell, s.failed, s.runs.len()))
        .collect();
    if !failed.is_empty() {
        bail!("boots that never came up: {} (logs under {})", failed.join(", "), root.display());
    }
    Ok(())
}

/// `out/bench/profiles.md`: when, on what, each profile's recipes and table.
pub fn markdown(r: &ProfilesReport) -> String {
    let m = &r.machine;
    let mut out = format!(
        "# cargo xtask bench --profiles\n\n{}; {} cores ({}), {} MiB RAM, {}, QEMU {}; {} run(s) per cell.\n\n",
        r.date,
        m.cores,
        if m.cpu.is_empty() { "unknown CPU" } else { &m.cpu },
        m.ram_mib,
        m.accel,
        m.qemu,
        r.runs
    );
    for p in &r.profiles {
        let mem = p.memory_mib.map_or("QEMU's default memory".to_string(), |m| format!("`-m {m}`"));
        out += &format!("## {}\n\nKiln: {}  \nReference: {}  \nUp: {}; {mem}.\n\n", p.name, p.kiln.recipe, p.reference.recipe, p.up);
        out += &report::markdown_table(&p.rows);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use report::{Run, Series};

    fn series(times: &[f64]) -> Series {
        Series::new(times.iter().map(|&t| Run { shell_s: Some(t), ..Run::default() }).collect())
    }

    #[test]
    fn rows_name_the_profile_and_what_up_means() {
        let s = |b| Subject { iso: "x".into(), iso_bytes: b, recipe: "r".into() };
        let cell = Cell { cell: "seabios-cd".into(), kiln: series(&[2.0, 4.0, 3.0]), reference: series(&[10.0, 12.0, 11.0]) };
        let rows = report::boot_rows("container: ", "both containers answering", &s(2 << 20), &s(8 << 20), &[cell]);
        assert_eq!(rows[0].what, "container: ISO size");
        assert_eq!(rows[0].ratio, Some(0.25));
        assert_eq!(rows[1].what, "container: to both containers answering, seabios-cd (min)");
        assert_eq!((rows[1].kiln, rows[1].reference, rows[1].ratio), (Some(2.0), Some(10.0), Some(0.2)));
        assert_eq!((rows[2].kiln, rows[2].reference), (Some(3.0), Some(11.0)));
    }

    #[test]
    fn the_other_profiles_are_the_profiles_but_minimal() {
        let others: Vec<&str> = NAMES.iter().copied().filter(|n| *n != "minimal").collect();
        assert_eq!(others, super::super::OTHER_PROFILES);
    }

    #[test]
    fn the_containers_question_never_echoes_its_answer() {
        assert!(!CONTAINERS_QUESTION.contains(boot::ANSWER));
        assert!(CONTAINERS_QUESTION.ends_with("echo :$((A)):\n"));
        // One line: the shell runs it as one command.
        assert_eq!(CONTAINERS_QUESTION.matches('\n').count(), 1);
    }
}
