//! `cargo xtask test-boot`: boots every artifact headless, as users do, and checks what
//! the guest prints. One line per case, then `N passed, N failed`, and the same results
//! as JUnit XML in `out/test-boot/junit.xml`.

mod cases;
mod containers;
pub mod contract;
mod debian;
mod host_http;
mod junit;
mod live;
mod oci;
mod registry;

pub use cases::MARKER;

use crate::artifacts;
use crate::ctx::Ctx;
use anyhow::{bail, Context, Result};

#[derive(clap::Args, Clone)]
pub struct Args {
    #[command(flatten)]
    pub image: crate::ImageArg,
    /// Run only the cases whose name contains this (repeatable)
    #[arg(long)]
    pub only: Vec<String>,
    /// Also build and boot the slow cases: a Debian 12 minbase root (debootstrap, once)
    /// as an OCI layout, booted from CD under SeaBIOS and OVMF (see README)
    #[arg(long)]
    pub slow: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let ctx = Ctx::new();
    // A run that fails before its cases (a build error) must not leave the last run's
    // report for CI to show as this one's.
    let junit_xml = ctx.out.join("test-boot/junit.xml");
    match std::fs::remove_file(&junit_xml) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).context(format!("removing {}", junit_xml.display())),
        _ => {}
    }
    let a = artifacts::build(&ctx, &args.image.image, true)?;
    let demo = artifacts::build(&ctx, "demo", true)?;
    // The failure paths under UEFI: the same kernel and initramfs in an ISO whose only
    // menu entry adds the failure to the command line (OVMF cannot boot `-kernel`).
    let mut variants = Vec::new();
    for (name, extra) in cases::FAILURE_VARIANTS {
        let mut spec = a.spec.clone();
        let serial = spec.iso.entries[0].clone();
        spec.iso.entries = vec![kiln_image::MenuEntry { name: format!("{} ({name})", serial.name), args: format!("{} {extra}", serial.args) }];
        spec.iso.default = 0;
        let iso = ctx.out.join("test-boot").join(format!("{name}.iso"));
        let menu = artifacts::spec_menu(&spec);
        let files = artifacts::IsoFiles { kernel: &a.kernel, initrd: &a.initrd, extra: &[], menu: &menu, label: &spec.iso.label };
        artifacts::build_iso(&ctx, &spec, &files, &iso)?;
        variants.push(iso);
    }
    let want_live = live::wanted(&args.only);
    let oci_built = if oci::wanted(&args.only) || want_live { oci::build(&ctx, &a)? } else { Vec::new() };
    let live_built = if want_live { Some(live::build(&ctx, &oci_built)?) } else { None };
    let want_containers = containers::wanted(&args.only);
    let containers_built = if want_containers { Some(containers::build(&ctx)?) } else { None };
    let debian_built = if args.slow && debian::wanted(&args.only) { Some((debian::build(&ctx, &a)?, debian::build_live(&ctx, &a)?)) } else { None };
    let contract_built = if args.slow && contract::wanted(&args.only) { Some(contract::build(&ctx, &a)?) } else { None };
    let accel = ctx.accel(&a.kernel, &a.initrd);
    eprintln!("test-boot: accelerator {accel:?} (KVM is probed; TCG when it does not work)");
    let log_dir = ctx.out.join("test-boot");
    let selected: Vec<cases::Case> = cases::cases(&a, &demo, &variants, accel)
        .into_iter()
        .chain(oci::cases(&oci_built, accel))
        .chain(match &live_built {
            Some(b) => live::cases(&ctx, b, accel)?,
            None => Vec::new(),
        })
        .chain(match &containers_built {
            Some(c) => containers::cases(c, accel)?,
            None => Vec::new(),
        })
        .chain(debian_built.iter().flat_map(|(d, l)| debian::cases(d, l, accel)))
        .chain(contract_built.iter().flat_map(|c| contract::cases(c, accel)))
        .filter(|c| args.only.is_empty() || args.only.iter().any(|o| c.name.contains(o.as_str())))
        .collect();
    let wants = |name: &str| args.only.is_empty() || args.only.iter().any(|o| name.contains(o.as_str()));
    let (want_size, want_noop) = (wants("size-budget"), wants("noop-rebuild"));
    if selected.is_empty() && !want_size && !want_noop && !oci::wanted(&args.only) && !want_live && !want_containers {
        if !args.slow && (debian::wanted(&args.only) || contract::wanted(&args.only)) {
            bail!("the Debian and contract cases run only with --slow");
        }
        bail!("no case matches {:?}", args.only);
    }
    let mut results: Vec<junit::Case> = Vec::new();
    if want_size {
        results.push(size_budget(&a)?);
    }
    if want_noop {
        results.push(noop_rebuild(&ctx, &args.image.image, &a)?);
    }
    let mut checks = Vec::new();
    if !oci_built.is_empty() {
        checks.extend(oci::build_checks(&ctx, &a, &oci_built)?);
    }
    if let Some(b) = &live_built {
        checks.extend(live::build_checks(&ctx, &oci_built, b)?);
    }
    for (name, ok, lines) in checks.into_iter().filter(|(name, ..)| wants(name)) {
        results.push(junit::Case::new(name, 0.0, (!ok).then(|| failure(&lines, ""))));
        println!("{} {name:<24} {:>6.1}s  1 checks", if ok { "PASS" } else { "FAIL" }, 0.0);
        // The too-big and contract errors are worth reading even when they pass.
        for l in lines.iter().filter(|_| !ok || name == "oci-too-big" || name == "live-contract-no-vmlinuz") {
            println!("     {}", l.replace('\n', "\n     "));
        }
    }
    for case in selected {
        let log = log_dir.join(format!("{}.log", case.name));
        let r = kiln_vm::run_script(&case.name, &case.machine, &case.steps, &log);
        // The case's host-side server stops as soon as its machine is gone.
        drop(case.host);
        let boot = match (r.boot_seconds, r.guest_uptime) {
            (Some(b), Some(g)) => format!(" (marker after {b:.1}s; guest uptime {g:.2}s)"),
            (Some(b), None) => format!(" (marker after {b:.1}s)"),
            _ => String::new(),
        };
        if r.passed() {
            results.push(junit::Case::new(&r.name, r.seconds, None));
            println!("PASS {:<24} {:>6.1}s  {} checks{boot}", r.name, r.seconds, r.checks);
        } else {
            let error = r.error.as_deref().unwrap_or_default();
            println!("FAIL {:<24} {:>6.1}s{boot}", r.name, r.seconds);
            println!("     {}", error.replace('\n', "\n     "));
            println!("     command: {}", r.command_line);
            println!("     log: {}", r.log.display());
            // The title is the error's first line; its rest (the guest's last output) stays in the body.
            let message = error.lines().next().unwrap_or("failed").to_owned();
            let details = format!("{error}\ncommand: {}\nlog: {}\n{}", r.command_line, r.log.display(), console_tail(&r.log));
            results.push(junit::Case::new(&r.name, r.seconds, Some(junit::Failure { message, details })));
        }
    }
    let failed = results.iter().filter(|c| c.failure.is_some()).count();
    kiln_util::write_atomic(&junit_xml, junit::render("test-boot", &results).as_bytes())?;
    println!("{} passed, {failed} failed (JUnit XML: {})", results.len() - failed, junit_xml.display());
    if failed > 0 {
        bail!("{failed} boot case(s) failed; logs in {}", log_dir.display());
    }
    Ok(())
}

/// A second build with nothing changed must rewrite no output: every artifact keeps
/// its size and modification time. One result line.
fn noop_rebuild(ctx: &Ctx, image: &str, a: &artifacts::Artifacts) -> Result<junit::Case> {
    let outputs = [&a.kernel, &a.initrd, a.iso.as_ref().expect("test-boot builds the iso"), &a.init_binary, &a.busybox_binary];
    let started = std::time::Instant::now();
    let changed = rewritten(&outputs, || artifacts::build(ctx, image, true).map(drop))?;
    let seconds = started.elapsed().as_secs_f64();
    let ok = changed.is_empty();
    println!("{} {:<24} {seconds:>6.1}s  {} checks", if ok { "PASS" } else { "FAIL" }, "noop-rebuild", outputs.len());
    for line in &changed {
        println!("     {line}");
    }
    Ok(junit::Case::new("noop-rebuild", seconds, (!ok).then(|| failure(&changed, ""))))
}

/// Runs `rebuild` and names each of `outputs` whose size or modification time it
/// changed (`rewritten although nothing changed: PATH`): a rebuild with nothing
/// changed must leave every output alone.
pub(crate) fn rewritten(outputs: &[impl AsRef<std::path::Path>], rebuild: impl FnOnce() -> Result<()>) -> Result<Vec<String>> {
    let state = || -> Vec<Option<(u64, std::time::SystemTime)>> {
        outputs.iter().map(|p| std::fs::metadata(p).ok().and_then(|m| Some((m.len(), m.modified().ok()?)))).collect()
    };
    let before = state();
    rebuild()?;
    Ok(outputs
        .iter()
        .zip(before.iter().zip(state()))
        .filter(|(_, (b, a))| **b != *a)
        .map(|(p, _)| format!("rewritten although nothing changed: {}", p.as_ref().display()))
        .collect())
}

/// The image's `[iso.budget]`, checked against the ISO just built: one result line.
fn size_budget(a: &artifacts::Artifacts) -> Result<junit::Case> {
    let iso = a.iso.as_ref().expect("test-boot builds the iso");
    let r = kiln_iso::size_report(iso)?;
    let results = a.spec.iso.budget.check(r.total, r.overhead());
    let ok = results.iter().all(|r| r.is_ok());
    println!("{} {:<24} {:>6.1}s  {} checks", if ok { "PASS" } else { "FAIL" }, "size-budget", 0.0, results.len());
    for line in &results {
        match line {
            Ok(l) => println!("     {l}"),
            Err(l) => println!("     {l} (cargo xtask size shows where the bytes go)"),
        }
    }
    let over: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    Ok(junit::Case::new("size-budget", 0.0, (!ok).then(|| failure(&over, "cargo xtask size shows where the bytes go"))))
}

/// A failure from a check's lines: the first is the message, all of them (and `hint`)
/// the details.
fn failure(lines: &[impl AsRef<str>], hint: &str) -> junit::Failure {
    let lines: Vec<&str> = lines.iter().map(AsRef::as_ref).chain((!hint.is_empty()).then_some(hint)).collect();
    let message = lines.first().map_or("failed", |l| l.lines().next().unwrap_or_default()).to_owned();
    junit::Failure { message, details: lines.join("\n") }
}

/// The last lines of a case's console log, escape sequences removed, for the JUnit
/// report (the path is in the report too).
fn console_tail(log: &std::path::Path) -> String {
    const LINES: usize = 40;
    match std::fs::read(log) {
        Ok(raw) => format!("last {LINES} lines of the console:\n{}", kiln_util::run::tail(&kiln_vm::clean(&raw), LINES)),
        Err(e) => format!("console log unreadable: {e}"),
    }
}
