//! Where things are: the project root, `out/`, the cache, and fixed build settings.

use std::path::PathBuf;

pub const DEFAULT_IMAGE: &str = "minimal";

/// Timestamp for every build output unless `SOURCE_DATE_EPOCH` says otherwise
/// (2025-01-01 00:00:00 UTC).
pub const DEFAULT_EPOCH: u64 = 1_735_689_600;

pub struct Ctx {
    pub root: PathBuf,
    pub out: PathBuf,
    /// Downloads, extracted sources and build trees: survives `git clean`.
    /// `KILN_CACHE` overrides; default `$XDG_CACHE_HOME/kiln` or `~/.cache/kiln`.
    pub cache: PathBuf,
    pub epoch: u64,
    pub jobs: usize,
    /// `KILN_CC_LAUNCHER` (ccache, sccache, distcc, icecc) for the kernel and BusyBox
    /// builds; checked when a build needs it, never part of a cache key.
    pub launcher: Option<String>,
    /// Resolve the spec's registry tags again and rewrite its lock file (`iso --update`).
    pub update_locks: bool,
}

impl Ctx {
    pub fn new() -> Ctx {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is inside the workspace").to_owned();
        let cache = std::env::var_os("KILN_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("kiln")))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/kiln")))
            .unwrap_or_else(|| root.join("target/kiln-cache"));
        let epoch = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_EPOCH);
        let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let launcher = std::env::var(kiln_build::LAUNCHER_ENV).ok();
        Ctx { out: root.join("out"), root, cache, epoch, jobs, launcher, update_locks: false }
    }

    /// The compiler launcher `KILN_CC_LAUNCHER` names, checked to be installed.
    pub fn launcher(&self) -> anyhow::Result<Option<kiln_build::Launcher>> {
        kiln_build::Launcher::from_setting(self.launcher.as_deref())
    }

    /// KVM when it really works, else TCG; probed once per host boot (see `kiln_vm::probe_kvm_memo`).
    pub fn accel(&self, kernel: &std::path::Path, initrd: &std::path::Path) -> kiln_vm::Accel {
        kiln_vm::probe_kvm_memo(kernel, initrd, &self.cache.join("kvm-probe"))
    }

    /// Runs `program args` in the project root with the terminal as its stdio, after
    /// printing it as `$ program args`; a failure or non-zero exit is an error saying so.
    /// (Every process Kiln starts goes through duct, except the QEMU console sessions of
    /// `kiln-vm`, which need a child they can type into and kill.)
    pub fn run(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<()> {
        use anyhow::Context;
        eprintln!("$ {program} {}", args.join(" "));
        // Without what `cargo run` set: a nested cargo (the unit tests, a guest build)
        // would otherwise rebuild ring and everything above it (see `as_user`).
        let mut cmd = Ctx::as_user(duct::cmd(program, args)).dir(&self.root).unchecked();
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        let out = cmd.run().with_context(|| format!("cannot run {program} (run `cargo xtask deps`)"))?;
        if !out.status.success() {
            anyhow::bail!("`{program} {}` failed ({})", args.join(" "), out.status);
        }
        Ok(())
    }

    /// The identity of a host tool's version for cache keys (remembered per binary in
    /// the cache, so it is asked once).
    pub fn tool_version(&self, tool: &str) -> anyhow::Result<String> {
        kiln_build::cached_tool_version(tool, &[], &self.cache.join("build/tool-versions"))
    }

    /// `cargo`, as the running cargo names itself.
    pub fn cargo(&self) -> String {
        std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
    }

    /// `cmd` (a nested `cargo xtask ...`) with the environment of the user's shell: without
    /// the variables `cargo run` gave this process. ring's build script reruns when
    /// `CARGO_MANIFEST_DIR` changes, so a nested cargo that inherits it rebuilds ring,
    /// rustls, ureq, kiln-registry, kiln-image and xtask (about 20 s here), and the
    /// user's next `cargo xtask` rebuilds them all back.
    pub fn as_user(cmd: duct::Expression) -> duct::Expression {
        std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| cargo_run_var(k))
            .fold(cmd, |cmd, k| cmd.env_remove(k))
    }

    /// Cargo's target directory (`CARGO_TARGET_DIR`, else `target/` in the project).
    pub fn target_dir(&self) -> PathBuf {
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| self.root.join("target"))
    }

    /// The ISO of an image: `out/kiln.iso` for the default image, `out/NAME.iso` otherwise.
    pub fn iso_path(&self, image: &str) -> PathBuf {
        if image == DEFAULT_IMAGE {
            self.out.join("kiln.iso")
        } else {
            self.out.join(format!("{image}.iso"))
        }
    }

    /// `out/NAME/`: the image's other outputs (pxeboot files, logs).
    pub fn image_dir(&self, image: &str) -> PathBuf {
        self.out.join(image)
    }
}

/// The variables `cargo run` sets for the program it runs (not the user's own settings,
/// such as `CARGO_HOME` or `CARGO_TARGET_DIR`).
fn cargo_run_var(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(name, "CARGO_MANIFEST_DIR" | "CARGO_MANIFEST_PATH" | "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE")
}

#[cfg(test)]
mod cargo_env_tests {
    #[test]
    fn only_what_cargo_run_adds_is_dropped() {
        for k in ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME", "CARGO_PKG_VERSION_MAJOR", "CARGO_CRATE_NAME"] {
            assert!(super::cargo_run_var(k), "{k}");
        }
        for k in ["CARGO", "CARGO_HOME", "CARGO_TARGET_DIR", "RUSTFLAGS", "PATH"] {
            assert!(!super::cargo_run_var(k), "{k}");
        }
    }
}
