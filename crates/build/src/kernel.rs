//! The Linux build: `allnoconfig` + fragments, strictly checked, cached by its inputs.

use crate::cache::{BuildDir, Key};
use kiln_util::copy_atomic;
use crate::kconfig::{self, Fragment};
use kiln_util::run_logged;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// What a kernel build needs. `src` is the extracted, verified source tree.
pub struct KernelRequest<'a> {
    pub src: &'a Path,
    /// sha256 of the source tarball: the identity of `src`.
    pub src_sha256: &'a str,
    pub fragments: &'a [PathBuf],
    /// Where build trees live (`~/.cache/kiln/build`).
    pub build_root: &'a Path,
    pub log_dir: &'a Path,
    pub jobs: usize,
    pub epoch: u64,
}

pub struct Built {
    pub path: PathBuf,
    pub build_dir: PathBuf,
    pub cached: bool,
}

/// Environment that makes a build independent of who built it, where and when.
pub fn reproducible_env(epoch: u64) -> Vec<(&'static str, String)> {
    vec![
        ("KBUILD_BUILD_TIMESTAMP", kiln_util::utc_date(epoch)),
        ("KBUILD_BUILD_USER", "kiln".into()),
        ("KBUILD_BUILD_HOST", "kiln".into()),
        // The build counter (#N in `uname -v`); every build starts in a fresh tree anyway.
        ("KBUILD_BUILD_VERSION", "1".into()),
        ("SOURCE_DATE_EPOCH", epoch.to_string()),
        ("LC_ALL", "C".into()),
        // BusyBox prints its build date in the local time zone (found by `cargo xtask repro`).
        ("TZ", "UTC".into()),
    ]
}

pub fn make(src: &Path, out: &Path, args: &[&str], env: &[(&'static str, String)]) -> duct::Expression {
    let mut all = vec!["-C".to_string(), src.display().to_string(), format!("O={}", out.display())];
    all.extend(args.iter().map(|s| s.to_string()));
    let mut cmd = duct::cmd("make", all);
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd
}

pub fn build_kernel(req: &KernelRequest) -> Result<Built> {
    let fragments: Vec<Fragment> = req.fragments.iter().map(|p| Fragment::load(p)).collect::<Result<_>>()?;
    let merged = kconfig::merge(&fragments)?;
    let mut key = Key::new("kernel-v1");
    key.add(req.src_sha256).add(&merged).add(crate::tool_version("gcc")?).add(req.epoch.to_string());
    let build = BuildDir::new(req.build_root, "linux", &key);
    let dir = build.dir.clone();
    let image = dir.join("bzImage");
    if build.is_done(&[&image]) {
        return Ok(Built { path: image, build_dir: dir, cached: true });
    }
    build.reset()?;
    let allconfig = dir.join("kiln-allconfig");
    std::fs::write(&allconfig, &merged).with_context(|| format!("writing {}", allconfig.display()))?;

    let env = reproducible_env(req.epoch);
    let kca = format!("KCONFIG_ALLCONFIG={}", allconfig.display());
    run_logged("kernel allnoconfig", make(req.src, &dir, &[&kca, "allnoconfig"], &env), req.log_dir)?;
    run_logged("kernel olddefconfig", make(req.src, &dir, &["olddefconfig"], &env), req.log_dir)?;
    check_config(&fragments, &dir.join(".config"))?;

    let jobs = format!("-j{}", req.jobs);
    run_logged("kernel build", make(req.src, &dir, &[&jobs, "bzImage"], &env), req.log_dir)?;
    copy_atomic(&dir.join("arch/x86/boot/bzImage"), &image)?;
    build.mark_done(&key)?;
    Ok(Built { path: image, build_dir: dir, cached: false })
}

/// Fails naming every fragment option that did not survive into `dotconfig`.
pub fn check_config(fragments: &[Fragment], dotconfig: &Path) -> Result<()> {
    let text = std::fs::read_to_string(dotconfig).with_context(|| format!("reading {}", dotconfig.display()))?;
    let mismatches = kconfig::check(fragments, &text);
    if mismatches.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = mismatches.iter().map(|m| format!("  {m}")).collect();
    bail!(
        "{} requested option(s) did not survive into {}:\n{}\nadd the missing dependency to the fragment, or drop the option",
        mismatches.len(),
        dotconfig.display(),
        list.join("\n")
    )
}

/// Installs the kernel's userspace headers (for building BusyBox against them). They
/// depend only on the source, so they are cached by its hash.
pub fn install_headers(src: &Path, src_sha256: &str, build_root: &Path, log_dir: &Path) -> Result<PathBuf> {
    let mut key = Key::new("linux-headers-v1");
    key.add(src_sha256);
    let build = BuildDir::new(build_root, "linux-headers", &key);
    let dir = build.dir.clone();
    let include = dir.join("usr/include");
    if build.is_done(&[&include]) {
        return Ok(include);
    }
    build.reset()?;
    let obj = dir.join("obj");
    std::fs::create_dir_all(&obj).with_context(|| format!("creating {}", obj.display()))?;
    let dest = format!("INSTALL_HDR_PATH={}", dir.join("usr").display());
    run_logged("kernel headers", make(src, &obj, &[&dest, "headers_install"], &[]), log_dir)?;
    std::fs::remove_dir_all(&obj).ok();
    build.mark_done(&key)?;
    Ok(include)
}
