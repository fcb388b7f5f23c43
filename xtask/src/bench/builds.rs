//! Build times: Kiln's rebuilds as a user types them, and (`--cold`) Kiln's kernel +
//! BusyBox builds from clean against plain `make`s of the same configuration.

use super::report::{Cold, Pair};
use crate::artifacts::{self, Artifacts};
use crate::ctx::Ctx;
use anyhow::{bail, Context, Result};
use kiln_build::{busybox, kernel};
use kiln_sources::{Fetcher, Pinned, Sources};
use kiln_util::run_logged;
use std::path::Path;
use std::time::Instant;

/// Seconds a `cargo xtask iso --image IMAGE` takes, run as a user runs it.
pub fn time_iso(ctx: &Ctx, image: &str, live: bool) -> Result<f64> {
    let t = Instant::now();
    let mut args = vec!["xtask", "iso", "--image", image];
    if live {
        args.push("--live");
    }
    let out = Ctx::as_user(duct::cmd(ctx.cargo(), args))
        .dir(&ctx.root)
        .stdout_null()
        .stderr_null()
        .unchecked()
        .run()
        .context("running cargo xtask iso")?;
    if !out.status.success() {
        bail!("cargo xtask iso --image {image} failed ({})", out.status);
    }
    Ok(t.elapsed().as_secs_f64())
}

fn touch(path: &Path) -> Result<()> {
    let f = std::fs::File::options().write(true).open(path).with_context(|| format!("opening {}", path.display()))?;
    f.set_modified(std::time::SystemTime::now()).with_context(|| format!("touching {}", path.display()))
}

pub struct Rebuilds {
    /// Best of `tries`.
    pub noop_s: f64,
    pub init_change_s: f64,
    pub init_compile_s: f64,
}

/// The no-op rebuild (best of `tries`) and the rebuild after touching the init's source.
/// Leaves the artifacts as they were (rebuilt from the same sources).
pub fn rebuilds(ctx: &Ctx, a: &Artifacts, live: bool, tries: u32) -> Result<Rebuilds> {
    let image = a.spec.name.as_str();
    // Nothing changed: the time is the no-op rebuild, cargo's own check included.
    let mut noop = f64::INFINITY;
    for _ in 0..tries.max(1) {
        noop = noop.min(time_iso(ctx, image, live)?);
    }
    // A change to the init's source: its compile, then initramfs and ISO. Touching the
    // source recompiles the init; forgetting the two stamps makes the steps after it
    // run as they would for a real change (a touch alone gives the same binary).
    let init_src = ctx.root.join("crates/init/src/main.rs");
    touch(&init_src)?;
    let mut made_from_init = vec![a.initrd.clone(), a.iso.clone().expect("iso built")];
    made_from_init.extend(a.live.as_ref().map(|l| l.squashfs.clone()));
    for out in &made_from_init {
        kiln_util::Stamped::invalidate(out)?;
    }
    let init_change_s = time_iso(ctx, image, live)?;
    touch(&init_src)?;
    let t = Instant::now();
    artifacts::build_guest(ctx, "kiln-init")?;
    let init_compile_s = t.elapsed().as_secs_f64();
    Ok(Rebuilds { noop_s: noop, init_change_s, init_compile_s })
}

/// CPU seconds (user + system) of this process's finished children so far, from
/// `/proc/self/stat`'s `cutime` and `cstime`: on a shared machine the compilers' CPU
/// time moves much less with the other workers' load than the wall clock does.
pub fn children_cpu_s() -> Option<f64> {
    parse_children_cpu(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// `cutime + cstime` of a `/proc/PID/stat` line, in seconds (Linux's USER_HZ is 100 on
/// x86_64, whatever the kernel's own tick).
fn parse_children_cpu(stat: &str) -> Option<f64> {
    // The command name, in parentheses, may hold spaces: count fields after its end.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i)?.parse::<u64>().ok();
    Some((ticks(13)? + ticks(14)?) as f64 / 100.0)
}

/// Wall-clock and CPU seconds of `f`'s children.
fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, f64, f64)> {
    let cpu = children_cpu_s().unwrap_or(0.0);
    let t = Instant::now();
    let v = f()?;
    let wall = t.elapsed().as_secs_f64();
    let cpu = children_cpu_s().unwrap_or(0.0) - cpu;
    eprintln!("  {wall:.1}s ({cpu:.1} CPU s)");
    Ok((v, wall, cpu))
}

/// Kiln's kernel and BusyBox builds in a fresh build root, then `make bzImage` and
/// BusyBox's `make` in fresh directories from the `.config` files Kiln made, same `-j`,
/// same (already extracted) source trees. Everything lives in a temporary directory.
pub fn cold(ctx: &Ctx, spec: &kiln_image::ImageSpec) -> Result<Cold> {
    let tmp = tempfile::Builder::new().prefix("kiln-bench-cold-").tempdir().context("creating a temporary directory")?;
    let logs = tmp.path().join("logs");
    let kiln_root = tmp.path().join("kiln");
    let sources = Sources::load(&ctx.root.join("sources.toml"))?;
    let fetcher = Fetcher::new(ctx.cache.join("downloads")).for_sources(&sources);
    let trees = ctx.cache.join("src");
    let linux = Pinned::new(&fetcher, "linux", sources.get("linux")?, &trees);
    let busybox_src = Pinned::new(&fetcher, "busybox", sources.get("busybox")?, &trees);
    // Extracted before the clocks start: both sides build from the same trees.
    let linux_tree = linux.unpack()?;
    let busybox_tree = busybox_src.unpack()?;

    eprintln!("cold build: Kiln's kernel");
    let fragments = spec.kernel_fragments(&ctx.root);
    let (k, kiln_kernel_s, kiln_kernel_cpu) = timed(|| {
        kernel::build_kernel(&kernel::KernelRequest {
            src: &linux,
            fragments: &fragments,
            build_root: &kiln_root,
            log_dir: &logs,
            jobs: ctx.jobs,
            epoch: ctx.epoch,
            // Against plain `make`s: no compiler launcher on either side.
            launcher: None,
        })
    })?;

    eprintln!("cold build: Kiln's BusyBox");
    let headers = kernel::Headers::new(&linux, &kiln_root, &logs, ctx.jobs);
    let bb_fragments = spec.busybox_fragments(&ctx.root);
    let (bb, kiln_busybox_s, kiln_busybox_cpu) = timed(|| {
        busybox::build_busybox(&busybox::BusyboxRequest {
            src: &busybox_src,
            base: spec.busybox.base.make_target(),
            fragments: &bb_fragments,
            kernel_headers: &headers,
            build_root: &kiln_root,
            log_dir: &logs,
            jobs: ctx.jobs,
            epoch: ctx.epoch,
            launcher: None,
        })
    })?;

    let jobs = format!("-j{}", ctx.jobs);
    let plain = |name: &str, src: &Path, config: &Path, args: &[&str]| -> Result<(f64, f64)> {
        let out = tmp.path().join("plain").join(name);
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        std::fs::copy(config, out.join(".config")).with_context(|| format!("copying {}", config.display()))?;
        eprintln!("cold build: plain make {}", args.join(" "));
        let ((), wall, cpu) = timed(|| run_logged(&format!("plain {name}"), kernel::make(src, &out, args, &[]), &logs))?;
        Ok((wall, cpu))
    };
    let (plain_kernel_s, plain_kernel_cpu) = plain("linux", &linux_tree.dir, &k.build_dir.join(".config"), &[&jobs, "bzImage"])?;
    let (plain_busybox_s, plain_busybox_cpu) =
        plain("busybox", &busybox_tree.dir, &bb.build_dir.join(".config"), &[&jobs, "CC=musl-gcc", "busybox"])?;
    let total = Pair::new(kiln_kernel_s + kiln_busybox_s, plain_kernel_s + plain_busybox_s);
    let cpu = Pair::new(kiln_kernel_cpu + kiln_busybox_cpu, plain_kernel_cpu + plain_busybox_cpu);
    Ok(Cold { jobs: ctx.jobs, kiln_kernel_s, kiln_busybox_s, plain_kernel_s, plain_busybox_s, total, cpu })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_cpu_from_proc_stat() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 5 0 0 7 3 250 125 20 0 1 0 99 1000 10";
        assert_eq!(parse_children_cpu(stat), Some(3.75));
        assert_eq!(parse_children_cpu("4242 (x) S 1"), None);
        assert!(children_cpu_s().is_some(), "this process's own stat parses");
    }
}
