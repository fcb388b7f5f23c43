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
        Ctx { out: root.join("out"), root, cache, epoch, jobs }
    }

    /// KVM when it really works, else TCG; probed once per host boot (see `kiln_vm::probe_kvm_memo`).
    pub fn accel(&self, kernel: &std::path::Path, initrd: &std::path::Path) -> kiln_vm::Accel {
        kiln_vm::probe_kvm_memo(kernel, initrd, &self.cache.join("kvm-probe"))
    }

    pub fn shell(&self) -> anyhow::Result<xshell::Shell> {
        let sh = xshell::Shell::new()?;
        sh.change_dir(&self.root);
        Ok(sh)
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
