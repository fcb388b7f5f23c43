//! `cargo xtask bench --runtimes`: the OCI runtime choice (issue 11), measured side by
//! side. Debian 12's `runc` and `crun` (only references here: both have unfixed
//! container-escape CVEs) against kiln-ctr's embedded libcontainer.
//!
//! Builds `container-runtimes`: `images/container.toml` whose root also holds runc and
//! crun with their shared libraries and two bundles the daemon never starts
//! (`/bench/true`, `/bench/sh`: Kiln's BusyBox image, `network = false`, so each run
//! gets a fresh network namespace with only loopback and no CNI is involved). Boots it
//! (SeaBIOS, CD, 512 MiB), stops the spec's containers so nothing else runs, and has
//! `kiln-ctr bench-run` time full runs (create, start, wait, delete) with each runtime
//! on one clock, round-robin over the runtimes in a few rounds. Sizes are measured on the host. Prints a table and a markdown table,
//! writes `out/bench/runtimes.json`. Measures, never asserts.

use super::timing::{self, Row, Stats};
use crate::artifacts;
use crate::ctx::Ctx;
use crate::root::Extra;
use anyhow::{bail, Context, Result};
use kiln_vm::{Boot, Firmware, Machine, Step};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The image measured: container.toml plus the runtimes and the bench's bundles.
pub const IMAGE: &str = "container-runtimes";
const RUNC: &str = "/usr/sbin/runc";
const CRUN: &str = "/usr/bin/crun";
/// The bundles, by the name of their command in the series' labels.
const BUNDLES: [(&str, &str); 2] = [("true", r#"["true"]"#), ("sh", r#"["sh", "-c", "exit 0"]"#)];
const MEMORY_MIB: u32 = 512;
/// Runtime state directories (the guest's /run is tmpfs; its root is read-only).
const STATE: &str = "/run/kiln-bench";

fn bundle_dir(name: &str) -> String {
    format!("/bench/{name}")
}

/// One runtime measured: its name in the report and in the series' labels, the
/// executable on the host, and how the guest runs one container (`{id}`, `{bundle}`).
struct Runtime {
    name: &'static str,
    label: &'static str,
    binary: PathBuf,
    /// `None`: libcontainer in kiln-ctr's own process (`bench-run --bundle`).
    command: Option<String>,
}

fn runtimes(ctr: &Path) -> Vec<Runtime> {
    let ctr_guest = kiln_image::CTR_BINARY;
    vec![
        Runtime { name: "runc", label: "runc", binary: RUNC.into(), command: Some(format!("{RUNC} --root {STATE}/runc run --bundle {{bundle}} {{id}}")) },
        Runtime { name: "crun", label: "crun", binary: CRUN.into(), command: Some(format!("{CRUN} --root {STATE}/crun run --bundle {{bundle}} {{id}}")) },
        // As the daemon runs a container: a process (the shim) per run.
        Runtime {
            name: "kiln-ctr",
            label: "kilnctr",
            binary: ctr.into(),
            command: Some(format!("{ctr_guest} bench-run {{id}} 1 --bundle {{bundle}}")),
        },
        // libcontainer's own cost: no exec of a runtime binary per run.
        Runtime { name: "kiln-ctr, in-process", label: "inproc", binary: ctr.into(), command: None },
    ]
}

/// The `kiln-ctr bench-run` command line of one series' share of a round.
fn series_command(rt: &Runtime, bundle: &str, runs: u32, warmup: u32) -> String {
    let label = format!("{}-{bundle}", rt.label);
    let dir = bundle_dir(bundle);
    let ctr = kiln_image::CTR_BINARY;
    match &rt.command {
        None => format!("{ctr} bench-run {label} {runs} --warmup {warmup} --bundle {dir}"),
        Some(c) => format!("{ctr} bench-run {label} {runs} --warmup {warmup} -- {}", c.replace("{bundle}", &dir)),
    }
}

/// Runs per series are split into this many rounds, each round running every series in
/// turn, so that a slow spell of the (shared, emulating) host is spread over all
/// runtimes instead of landing on whichever series ran then.
const ROUNDS: u32 = 4;

/// `runs` split into at most `rounds` shares, as even as can be (the bigger first).
fn shares(runs: u32, rounds: u32) -> Vec<u32> {
    let rounds = rounds.clamp(1, runs.max(1));
    (0..rounds).map(|i| runs / rounds + u32::from(i < runs % rounds)).filter(|n| *n > 0).collect()
}

/// The spec and the extra root content of the measured image.
fn image(ctx: &Ctx) -> Result<(kiln_image::ImageSpec, Extra)> {
    let mut spec = kiln_image::ImageSpec::load(&ctx.root, "container")?;
    spec.name = IMAGE.into();
    let mut bundles = Vec::new();
    for (name, command) in BUNDLES {
        let text = format!(
            "name = \"b\"\n[kernel]\nfragments = []\n[busybox]\nfragments = []\n\
             [[containers]]\nname = \"bench-{name}\"\nimage = \"kiln:busybox\"\ncommand = {command}\nnetwork = false\nrestart = \"no\"\n"
        );
        let mut b = kiln_image::ImageSpec::parse("bench --runtimes", &text)?;
        bundles.push((bundle_dir(name), b.containers.remove(0)));
    }
    Ok((spec, Extra { host_binaries: vec![RUNC.into(), CRUN.into()], bundles, ..Extra::default() }))
}

/// The guest's script: wait for the daemon's containers and stop them (quiet system),
/// then every series, then power off.
fn steps(runtimes: &[Runtime], runs: u32) -> Vec<Step> {
    let secs = Duration::from_secs;
    let cmd = |c: String, expect: &str, t: u64| Step::Command { cmd: c, expect: vec![expect.into()], timeout: secs(t) };
    let mut s = vec![
        Step::Boot { marker: crate::test_boot::MARKER.into(), timeout: secs(240) },
        Step::Shell { timeout: secs(60) },
        cmd(
            "for c in web client; do i=0; until kiln-ctr stop $c >/dev/null 2>&1 || [ $i -ge 120 ]; do sleep 1; i=$((i+1)); done; done; \
             i=0; until kiln-ctr list | grep -q '^hog  *oom-killed' || [ $i -ge 120 ]; do sleep 1; i=$((i+1)); done; kiln-ctr list; echo quiet=$((1+1))"
                .into(),
            "quiet=2",
            300,
        ),
        cmd(format!("mkdir -p {STATE}/runc {STATE}/crun && {RUNC} --version | head -n 1 && {CRUN} --version | head -n 1; echo ready=$((2+2))"), "ready=4", 60),
    ];
    for (round, n) in shares(runs, ROUNDS).into_iter().enumerate() {
        for rt in runtimes {
            for (bundle, _) in BUNDLES {
                let label = format!("{}-{bundle}", rt.label);
                let warmup = u32::from(round == 0);
                // Long enough for a runtime whose every run is slow under TCG.
                s.push(cmd(series_command(rt, bundle, n, warmup), &format!("{} {label} done", timing::TAG), 60 + 30 * u64::from(n)));
            }
        }
    }
    // Whatever a runtime left behind (cgroups, state).
    s.push(cmd(format!("ls /sys/fs/cgroup/kiln/ {STATE}/*; echo listed=$((3+3))"), "listed=6", 60));
    s.push(Step::Exit { cmd: "poweroff".into(), status: 0, expect: vec!["reboot: Power down".into()], timeout: secs(120) });
    s
}

/// The sizes of a runtime on the host.
struct Sizes {
    binary: u64,
    closure: u64,
    files: usize,
    extra_over_os: u64,
    squashfs: u64,
    extra_squashfs: u64,
}

fn sizes(ctx: &Ctx, name: &str, binary: &Path) -> Result<Sizes> {
    let mut closure = kiln_hostbin::Closure::new();
    closure.add(binary).with_context(|| format!("the closure of {}", binary.display()))?;
    let os: BTreeSet<String> = kiln_hostbin::container_os()?.entries().into_iter().map(|e| e.guest_path).collect();
    let mut extra_over_os = 0;
    let mut files = 0;
    // The entries the container OS's own closure lacks (for a shared library, its
    // file and the links to it), as a tree of their own.
    let mut extra = kiln_initramfs::Tree::new();
    for e in closure.entries() {
        let new = !os.contains(&e.guest_path);
        let entry = match &e.kind {
            kiln_hostbin::Kind::File { host_path, mode } => {
                files += 1;
                if new {
                    extra_over_os += std::fs::metadata(host_path)?.len();
                }
                kiln_initramfs::Entry::new(&e.guest_path, *mode, kiln_initramfs::Kind::File(kiln_initramfs::Data::Path(host_path.clone())))
            }
            kiln_hostbin::Kind::Symlink { target } => kiln_initramfs::Entry::new(&e.guest_path, 0o777, kiln_initramfs::Kind::Symlink(target.clone())),
        };
        if new {
            extra.insert(entry)?;
        }
    }
    let mut tree = kiln_initramfs::Tree::new();
    closure.insert_into(&mut tree)?;
    let file: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let squashfs = |tree: &kiln_initramfs::Tree, suffix: &str| -> Result<u64> {
        let out = ctx.out.join("bench/runtimes").join(format!("{file}{suffix}.squashfs"));
        kiln_squashfs::write_squashfs(tree, &out, ctx.epoch, &ctx.out.join("logs"))?;
        Ok(std::fs::metadata(&out)?.len())
    };
    Ok(Sizes {
        binary: std::fs::metadata(binary)?.len(),
        closure: closure.file_bytes()?,
        files,
        extra_over_os,
        squashfs: squashfs(&tree, "")?,
        extra_squashfs: squashfs(&extra, "-over-os")?,
    })
}

fn version(binary: &Path) -> String {
    let out = duct::cmd(binary, ["--version"]).stderr_null().unchecked().read().unwrap_or_default();
    out.lines().next().unwrap_or("?").split_whitespace().last().unwrap_or("?").to_string()
}

#[derive(Serialize)]
struct Report {
    image: String,
    accel: String,
    memory_mib: u32,
    runs: u32,
    passed: bool,
    error: Option<String>,
    log: PathBuf,
    runtimes: Vec<Row>,
    markdown: String,
}

pub fn run(ctx: &Ctx, runs: u32) -> Result<()> {
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    for b in [RUNC, CRUN] {
        if !Path::new(b).is_file() {
            bail!("{b} is missing: `cargo xtask deps` installs it (ci/packages.toml)");
        }
    }
    let (spec, extra) = image(ctx)?;
    let a = artifacts::build_spec_with(ctx, spec, true, &extra).context("building the container OS with runc and crun")?;
    let iso = a.iso.clone().context("built with an ISO")?;
    let rts = runtimes(&a.ctr_binary);
    let accel = ctx.accel(&a.kernel, &a.initrd);
    let mut machine = Machine::new(Firmware::SeaBios, Boot::Cdrom(iso), accel);
    machine.memory_mib = Some(MEMORY_MIB);
    let log = ctx.out.join("bench").join(format!("{IMAGE}.log"));
    eprintln!("booting {IMAGE} ({accel:?}): {} series of {runs} runs in {ROUNDS} rounds; console in {}", rts.len() * BUNDLES.len(), log.display());
    let r = kiln_vm::run_script(IMAGE, &machine, &steps(&rts, runs), &log);
    let text = std::fs::read(&r.log).map(|b| kiln_vm::clean(&b)).unwrap_or_default();
    let all = timing::parse_log(&text);

    let mut rows = Vec::new();
    for rt in &rts {
        let s = sizes(ctx, rt.name, &rt.binary)?;
        let series = |bundle: &str| -> Stats { timing::stats(&all, &format!("{}-{bundle}", rt.label)) };
        let version = if rt.binary == a.ctr_binary { "libcontainer 0.7".to_string() } else { version(&rt.binary) };
        rows.push(Row {
            runtime: rt.name.into(),
            version,
            binary_bytes: s.binary,
            closure_bytes: s.closure,
            closure_files: s.files,
            extra_over_container_os_bytes: s.extra_over_os,
            squashfs_bytes: s.squashfs,
            extra_over_container_os_squashfs_bytes: s.extra_squashfs,
            run_true: series("true"),
            run_sh: series("sh"),
        });
    }
    let accel_s = format!("{accel:?}");
    let markdown = timing::markdown(&rows, runs, &accel_s);
    print!("{}", timing::terminal(&rows));
    for row in &rows {
        for (what, st) in [("true", &row.run_true), ("sh", &row.run_sh)] {
            if st.failed > 0 || st.ok == 0 {
                println!("{} ({what}): {} ok, {} failed {:?}: see {}", row.runtime, st.ok, st.failed, st.failed_statuses, log.display());
            }
        }
    }
    if let Some(e) = &r.error {
        println!("the guest script did not finish: {e}");
    }
    println!("\n{markdown}");
    let report = Report { image: IMAGE.into(), accel: accel_s, memory_mib: MEMORY_MIB, runs, passed: r.passed(), error: r.error.clone(), log, runtimes: rows, markdown };
    let json = ctx.out.join("bench/runtimes.json");
    kiln_util::write_atomic(&json, serde_json::to_string_pretty(&report)?.as_bytes()).with_context(|| format!("writing {}", json.display()))?;
    println!("written to {}", json.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_shared_evenly_over_the_rounds() {
        assert_eq!(shares(20, 4), [5, 5, 5, 5]);
        assert_eq!(shares(10, 4), [3, 3, 2, 2]);
        assert_eq!(shares(2, 4), [1, 1]);
        assert_eq!(shares(1, 4), [1]);
        assert_eq!(shares(7, 1), [7]);
    }

    #[test]
    fn every_series_runs_the_same_bundle_with_its_runtime_and_expects_its_end() {
        let rts = runtimes(Path::new("/x/kiln-ctr"));
        assert_eq!(series_command(&rts[0], "true", 20, 1), "/usr/bin/kiln-ctr bench-run runc-true 20 --warmup 1 -- /usr/sbin/runc --root /run/kiln-bench/runc run --bundle /bench/true {id}");
        assert_eq!(series_command(&rts[2], "sh", 5, 0), "/usr/bin/kiln-ctr bench-run kilnctr-sh 5 --warmup 0 -- /usr/bin/kiln-ctr bench-run {id} 1 --bundle /bench/sh");
        assert_eq!(series_command(&rts[3], "true", 5, 1), "/usr/bin/kiln-ctr bench-run inproc-true 5 --warmup 1 --bundle /bench/true");
        let s = steps(&rts, 10);
        let typed: Vec<&str> = s.iter().filter_map(|s| if let Step::Command { cmd, .. } = s { Some(cmd.as_str()) } else { None }).filter(|c| c.contains(" bench-run ")).collect();
        // Round by round, every series in each; one warm-up per series, in the first.
        assert_eq!(typed.len(), rts.len() * BUNDLES.len() * ROUNDS as usize);
        assert_eq!(typed.iter().filter(|c| c.contains("--warmup 1")).count(), rts.len() * BUNDLES.len());
        assert!(typed[0].contains("runc-true 3 --warmup 1") && typed[typed.len() - 1].contains("inproc-sh 2 --warmup 0"));
        // The console echoes what is typed: no expectation may be in it.
        for step in &s {
            if let Step::Command { cmd, expect, .. } = step {
                assert!(expect.iter().all(|e| !cmd.contains(e.as_str())), "{expect:?} is in {cmd:?}");
            }
        }
    }
}
