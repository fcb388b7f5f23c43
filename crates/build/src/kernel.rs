//! The Linux build: `allnoconfig` + fragments, strictly checked, cached by its inputs.

use crate::cache::{BuildDir, Claim, Key};
use crate::kconfig::{self, Fragment};
use crate::launcher::{self, Launcher};
use anyhow::{bail, Context, Result};
use kiln_sources::Pinned;
use kiln_util::{copy_atomic, run_logged, Lock};
use std::path::{Path, PathBuf};

/// What a kernel build needs. `src` is the pinned Linux source: its pin is part of the
/// key, and its tree is fetched and extracted only when the build is not cached.
pub struct KernelRequest<'a> {
    pub src: &'a Pinned<'a>,
    pub fragments: &'a [PathBuf],
    /// Where build trees live (`~/.cache/kiln/build`).
    pub build_root: &'a Path,
    pub log_dir: &'a Path,
    pub jobs: usize,
    pub epoch: u64,
    /// `KILN_CC_LAUNCHER`: in front of `CC` and `HOSTCC`, never in the key.
    pub launcher: Option<&'a Launcher>,
}

/// A finished build. Its directory stays locked (shared) while this value lives, so no
/// other run prunes or rebuilds it meanwhile.
#[derive(Debug)]
pub struct Built {
    pub path: PathBuf,
    pub build_dir: PathBuf,
    pub cached: bool,
    pub lock: Lock,
}

/// Where tool versions are remembered (see [`crate::cached_tool_version`]).
pub(crate) fn tool_memo(build_root: &Path) -> PathBuf {
    build_root.join("tool-versions")
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

pub fn make(src: &Path, out: &Path, args: &[impl AsRef<str>], env: &[(&'static str, String)]) -> duct::Expression {
    let mut all = vec!["-C".to_string(), src.display().to_string(), format!("O={}", out.display())];
    all.extend(args.iter().map(|s| s.as_ref().to_string()));
    let mut cmd = duct::cmd("make", all);
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd
}

pub fn build_kernel(req: &KernelRequest) -> Result<Built> {
    let fragments: Vec<Fragment> = req.fragments.iter().map(|p| Fragment::load(p)).collect::<Result<_>>()?;
    let merged = kconfig::merge(&fragments)?;
    let gcc = crate::cached_tool_version("gcc", &[], &tool_memo(req.build_root))?;
    let key = kernel_key(req, &merged, &gcc);
    let build = BuildDir::new(req.build_root, "linux", &key);
    let dir = build.dir.clone();
    let image = dir.join("bzImage");
    let mut lock = match build.claim(&[&image])? {
        Claim::Done(lock) => return Ok(Built { path: image, build_dir: dir, cached: true, lock }),
        Claim::Build(lock) => lock,
    };
    let tree = req.src.unpack()?;
    let src = tree.dir.as_path();
    let allconfig = dir.join("kiln-allconfig");
    std::fs::write(&allconfig, &merged).with_context(|| format!("writing {}", allconfig.display()))?;

    let env = reproducible_env(req.epoch);
    // The same compilers for every step: Kconfig records what `CC --version` says.
    let cc = kernel_cc_vars(req.launcher);
    let with_cc = |args: &[&str]| -> Vec<String> { cc.iter().cloned().chain(args.iter().map(|a| a.to_string())).collect() };
    let kca = format!("KCONFIG_ALLCONFIG={}", allconfig.display());
    // -j for allnoconfig too: it compiles the kconfig tool (5.7 s at -j1, 4.4 s at -j2).
    let jobs = format!("-j{}", req.jobs);
    run_logged("kernel allnoconfig", make(src, &dir, &with_cc(&[&jobs, &kca, "allnoconfig"]), &env), req.log_dir)?;
    run_logged("kernel olddefconfig", make(src, &dir, &with_cc(&["olddefconfig"]), &env), req.log_dir)?;
    check_config(&fragments, &dir.join(".config"))?;

    run_logged("kernel build", make(src, &dir, &with_cc(&[&jobs, "bzImage"]), &env), req.log_dir)?;
    copy_atomic(&dir.join("arch/x86/boot/bzImage"), &image)?;
    build.mark_done(&key, &mut lock)?;
    Ok(Built { path: image, build_dir: dir, cached: false, lock })
}

/// The kernel build's cache key: the source's pin, the merged fragments, the compiler's
/// version and the epoch. Not the launcher: it changes how gcc is reached, not what it makes.
fn kernel_key(req: &KernelRequest, merged: &str, gcc: &str) -> Key {
    let mut key = Key::new("kernel-v1");
    key.add(req.src.sha256()).add(merged).add(gcc).add(req.epoch.to_string());
    key
}

/// The kernel's compiler variables: none without a launcher (make's `gcc`), else
/// `CC` and `HOSTCC` behind it. HOSTCC too because the host programs (objtool, kconfig,
/// fixdep, the boot image tools) are a real part of a cold build and their objects are
/// as cacheable as the kernel's.
pub fn kernel_cc_vars(launcher: Option<&Launcher>) -> Vec<String> {
    launcher::make_vars(launcher, &[("CC", None), ("HOSTCC", None)], "gcc")
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

/// The kernel's userspace headers (for building BusyBox against them), installed only
/// when a build needs them. They depend only on the source, so they are cached by its pin.
pub struct Headers<'a> {
    src: &'a Pinned<'a>,
    build: BuildDir,
    key: Key,
    log_dir: PathBuf,
    /// `make -jN`: the install is one small job per header (13.5 s at -j1, 7.2 s at -j2
    /// on 2 cores); the result does not depend on it, so it is not in the key.
    jobs: usize,
}

impl<'a> Headers<'a> {
    pub fn new(src: &'a Pinned<'a>, build_root: &Path, log_dir: &Path, jobs: usize) -> Headers<'a> {
        let mut key = Key::new("linux-headers-v1");
        key.add(src.sha256());
        let build = BuildDir::new(build_root, "linux-headers", &key);
        Headers { src, build, key, log_dir: log_dir.to_owned(), jobs }
    }

    /// Where the headers are (`.../usr/include`), installed or not.
    pub fn include_dir(&self) -> PathBuf {
        self.build.dir.join("usr/include")
    }

    /// Installs the headers unless they are there; they stay in place while the lock lives.
    pub fn install(&self) -> Result<Lock> {
        let include = self.include_dir();
        let mut lock = match self.build.claim(&[&include])? {
            Claim::Done(lock) => return Ok(lock),
            Claim::Build(lock) => lock,
        };
        let tree = self.src.unpack()?;
        let obj = self.build.dir.join("obj");
        std::fs::create_dir_all(&obj).with_context(|| format!("creating {}", obj.display()))?;
        let dest = format!("INSTALL_HDR_PATH={}", self.build.dir.join("usr").display());
        let jobs = format!("-j{}", self.jobs.max(1));
        run_logged("kernel headers", make(&tree.dir, &obj, &[jobs.as_str(), dest.as_str(), "headers_install"], &[]), &self.log_dir)?;
        std::fs::remove_dir_all(&obj).ok();
        self.build.mark_done(&self.key, &mut lock)?;
        Ok(lock)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kiln_sources::{Fetcher, Provider, Source};

    pub(crate) fn source() -> Source {
        let sha256 = "ab".repeat(32);
        Source { version: "1".into(), providers: vec![Provider::Url { url: "https://example.org/x.tar.xz".into(), sha256 }] }
    }

    #[test]
    fn launcher_is_on_the_command_line_not_in_the_key() {
        let (fetcher, source, root) = (Fetcher::new("/nonexistent/downloads"), source(), Path::new("/nonexistent/build"));
        let src = Pinned::new(&fetcher, "linux", &source, root);
        let ccache = Launcher::parse("ccache").unwrap().unwrap();
        let request = |launcher| KernelRequest { src: &src, fragments: &[], build_root: root, log_dir: root, jobs: 2, epoch: 1, launcher };
        let (plain, launched) = (request(None), request(Some(&ccache)));
        assert_eq!(kernel_key(&plain, "CONFIG_X=y\n", "gcc 12").finish(), kernel_key(&launched, "CONFIG_X=y\n", "gcc 12").finish());
        assert_ne!(kernel_key(&plain, "CONFIG_X=y\n", "gcc 12").finish(), kernel_key(&plain, "CONFIG_X=y\n", "gcc 13").finish());
        assert!(kernel_cc_vars(plain.launcher).is_empty());
        assert_eq!(kernel_cc_vars(launched.launcher), ["CC=ccache gcc", "HOSTCC=ccache gcc"]);
    }
}
