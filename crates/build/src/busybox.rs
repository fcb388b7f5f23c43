//! The BusyBox build: a base config (`allnoconfig` or `defconfig`) + fragments, static with musl-gcc against the kernel's
//! headers, strictly checked, cached by its inputs.

use crate::cache::{BuildDir, Claim, Key};
use crate::kconfig::{self, Fragment, Value};
use crate::kernel::{check_config, make, reproducible_env, tool_memo, Built, Headers};
use crate::launcher::{self, Launcher};
use anyhow::{Context, Result};
use kiln_sources::Pinned;
use kiln_util::{copy_atomic, run_logged};
use std::path::{Path, PathBuf};

/// What a BusyBox build needs. The source tree and the kernel headers are made only
/// when the build is not cached.
pub struct BusyboxRequest<'a> {
    pub src: &'a Pinned<'a>,
    /// `allnoconfig` or `defconfig`: the make target the fragments are applied over.
    pub base: &'a str,
    pub fragments: &'a [PathBuf],
    /// The kernel's userspace headers.
    pub kernel_headers: &'a Headers<'a>,
    pub build_root: &'a Path,
    pub log_dir: &'a Path,
    pub jobs: usize,
    pub epoch: u64,
    /// `KILN_CC_LAUNCHER`: in front of `musl-gcc`, never in the key.
    pub launcher: Option<&'a Launcher>,
}

/// Rewrites `.config` text so every fragment setting replaces the line for its option.
pub fn apply_fragments(dotconfig: &str, fragments: &[Fragment], extra: &[(String, Value)]) -> String {
    let mut wanted: Vec<(String, Value)> =
        fragments.iter().flat_map(|f| f.settings.iter().map(|s| (s.name.clone(), s.value.clone()))).collect();
    wanted.extend(extra.iter().cloned());
    let names: std::collections::BTreeSet<&str> = wanted.iter().map(|(n, _)| n.as_str()).collect();
    let mut out = String::new();
    for line in dotconfig.lines() {
        let name = line
            .strip_prefix("# ")
            .and_then(|r| r.strip_suffix(" is not set"))
            .or_else(|| line.split_once('=').map(|(n, _)| n));
        if name.is_some_and(|n| names.contains(n)) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    for (name, value) in &wanted {
        match value {
            Value::Unset => out.push_str(&format!("# {name} is not set\n")),
            Value::Set(v) => out.push_str(&format!("{name}={v}\n")),
        }
    }
    out
}

pub fn build_busybox(req: &BusyboxRequest) -> Result<Built> {
    let fragments: Vec<Fragment> = req.fragments.iter().map(|p| Fragment::load(p)).collect::<Result<_>>()?;
    let merged = kconfig::merge(&fragments)?;
    // musl-gcc is a script around the system compiler, which prints the version.
    let musl_gcc = crate::cached_tool_version("musl-gcc", &["x86_64-linux-gnu-gcc"], &tool_memo(req.build_root))?;
    let headers = req.kernel_headers.include_dir();
    let key = busybox_key(req, &merged, &musl_gcc);
    let build = BuildDir::new(req.build_root, "busybox", &key);
    let dir = build.dir.clone();
    // Named `busybox`: it picks the applet from argv[0].
    let binary = dir.join("kiln-out/busybox");
    let mut lock = match build.claim(&[&binary])? {
        Claim::Done(lock) => return Ok(Built { path: binary, build_dir: dir, cached: true, lock }),
        Claim::Build(lock) => lock,
    };
    let tree = req.src.unpack()?;
    let _headers = req.kernel_headers.install()?;
    let src = tree.dir.as_path();

    let env = reproducible_env(req.epoch);
    let jobs = format!("-j{}", req.jobs);
    run_logged(&format!("busybox {}", req.base), make(src, &dir, &[jobs.as_str(), req.base], &env), req.log_dir)?;
    let dotconfig = dir.join(".config");
    let text = std::fs::read_to_string(&dotconfig).with_context(|| format!("reading {}", dotconfig.display()))?;
    let cflags = format!("\"-isystem {}\"", headers.display());
    let extra = [("CONFIG_EXTRA_CFLAGS".to_string(), Value::Set(cflags))];
    std::fs::write(&dotconfig, apply_fragments(&text, &fragments, &extra))
        .with_context(|| format!("writing {}", dotconfig.display()))?;
    // BusyBox's kconfig has no olddefconfig: answer every new question with its default.
    let oldconfig = make(src, &dir, &["oldconfig"], &env).stdin_bytes("\n".repeat(4000));
    run_logged("busybox oldconfig", oldconfig, req.log_dir)?;
    check_config(&fragments, &dotconfig)?;

    let mut args = busybox_cc_vars(req.launcher);
    args.extend([jobs, "busybox".to_string()]);
    run_logged("busybox build", make(src, &dir, &args, &env), req.log_dir)?;
    copy_atomic(&dir.join("busybox"), &binary)?;
    build.mark_done(&key, &mut lock)?;
    Ok(Built { path: binary, build_dir: dir, cached: false, lock })
}

/// The BusyBox build's cache key: the source's pin, the base config, the merged
/// fragments, musl-gcc's version, the kernel headers and the epoch. Not the launcher.
fn busybox_key(req: &BusyboxRequest, merged: &str, musl_gcc: &str) -> Key {
    let mut key = Key::new("busybox-v2");
    key.add(req.src.sha256())
        .add(req.base)
        .add(merged)
        .add(musl_gcc)
        .add(req.kernel_headers.include_dir().display().to_string())
        .add(req.epoch.to_string());
    key
}

/// `CC=musl-gcc`, with the launcher in front when there is one. Only for the build
/// step: BusyBox's config steps compile host programs with HOSTCC, a few seconds.
pub fn busybox_cc_vars(launcher: Option<&Launcher>) -> Vec<String> {
    launcher::make_vars(launcher, &[("CC", Some("musl-gcc"))], "musl-gcc")
}

/// The install paths of every applet (`bin/sh`, `usr/bin/wc`, ...), from the binary itself.
pub fn applets(busybox: &Path) -> Result<Vec<String>> {
    let out = duct::cmd!(busybox, "--list-full")
        .read()
        .with_context(|| format!("running {} --list-full", busybox.display()))?;
    parse_applet_list(&out).with_context(|| format!("reading `{} --list-full`", busybox.display()))
}

/// `busybox --list-full` output → install paths. Without `CONFIG_FEATURE_INSTALLER` BusyBox
/// prints bare names, and the applets would have nowhere to go.
fn parse_applet_list(out: &str) -> Result<Vec<String>> {
    let paths: Vec<String> =
        out.lines().map(|l| l.trim().trim_start_matches('/').to_string()).filter(|l| !l.is_empty()).collect();
    if let Some(bare) = paths.iter().find(|p| !p.contains('/')) {
        anyhow::bail!("applet `{bare}` has no install directory: add CONFIG_FEATURE_INSTALLER=y to a busybox fragment");
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launcher_is_on_the_command_line_not_in_the_key() {
        let (fetcher, source, root) = (kiln_sources::Fetcher::new("/nonexistent/downloads"), crate::kernel::tests::source(), Path::new("/nonexistent/build"));
        let src = Pinned::new(&fetcher, "busybox", &source, root);
        let headers = Headers::new(&src, root, root, 2);
        let distcc = Launcher::parse("distcc").unwrap().unwrap();
        let request = |launcher| BusyboxRequest {
            src: &src,
            base: "allnoconfig",
            fragments: &[],
            kernel_headers: &headers,
            build_root: root,
            log_dir: root,
            jobs: 2,
            epoch: 1,
            launcher,
        };
        let (plain, launched) = (request(None), request(Some(&distcc)));
        assert_eq!(busybox_key(&plain, "", "gcc 12").finish(), busybox_key(&launched, "", "gcc 12").finish());
        assert_eq!(busybox_cc_vars(plain.launcher), ["CC=musl-gcc"]);
        assert_eq!(busybox_cc_vars(launched.launcher), ["CC=distcc musl-gcc"]);
    }

    #[test]
    fn applet_list_needs_install_paths() {
        assert_eq!(parse_applet_list("/bin/sh\nusr/bin/wc\n\n").unwrap(), ["bin/sh", "usr/bin/wc"]);
        let err = parse_applet_list("bin/sh\nwc\n").unwrap_err().to_string();
        assert!(err.contains("`wc`") && err.contains("CONFIG_FEATURE_INSTALLER=y"), "{err}");
    }

    #[test]
    fn fragments_replace_existing_lines() {
        let frag = Fragment::parse(Path::new("bb.config"), "# static\nCONFIG_STATIC=y\n# no tc\n# CONFIG_TC is not set\n").unwrap();
        let base = "# CONFIG_STATIC is not set\nCONFIG_TC=y\nCONFIG_LS=y\n";
        let extra = [("CONFIG_EXTRA_CFLAGS".to_string(), Value::Set("\"-isystem /h\"".into()))];
        let out = apply_fragments(base, std::slice::from_ref(&frag), &extra);
        assert_eq!(out, "CONFIG_LS=y\nCONFIG_STATIC=y\n# CONFIG_TC is not set\nCONFIG_EXTRA_CFLAGS=\"-isystem /h\"\n");
        assert!(kconfig::check(&[frag], &out).is_empty());
    }
}
