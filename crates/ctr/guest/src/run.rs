//! `kiln-ctr run IMAGE [--name NAME] [--network] [--keep] [-- CMD...]`: one container
//! from an OCI image layout directory (a `docker://` IMAGE is pulled into one first,
//! `pull.rs`), in the foreground, with the build-time containers' safety.
//!
//! Order: open and unpack the image with kiln-oci (its default limits; the spool on
//! tmpfs) → write the tree to `RUN_DIR/NAME/rootfs` (`Tree::write_dir`: owners, modes,
//! devices, hard links, never following a symlink) → `config.json` from the build's
//! template ([`RUN_TEMPLATE_PATH`]: Docker's defaults) filled with the image's program
//! (or CMD), environment, working directory and user, the hostname, the cgroup
//! `/kiln/NAME` and the namespace → with `--network`, the shim's netns + CNI on the
//! default network → libcontainer create + start with the caller's stdin, stdout and
//! stderr → wait (SIGINT, SIGTERM or SIGHUP stop it: SIGTERM, then SIGKILL after 10 s)
//! → delete, CNI DEL, netns, and the bundle directory unless `--keep`. Exits with the
//! container's status (128+N for signal N).

use crate::network::Network;
use crate::shim::{create, install_handlers, prepare_root, stopping, wait};
use kiln_ctr::error::Context;
use kiln_ctr::manifest::{self, Manifest};
use kiln_ctr::run_spec::{fill, valid_name, ImageRun, RUN_DIR, RUN_TEMPLATE_PATH};
use kiln_ctr::{bail, Error, Result};
use kiln_initramfs::{DirOptions, Kind, Tree};
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Seconds between the stop signal and SIGKILL (Docker's default).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct RunOpts {
    /// The container's name (default `run-` and 12 digits of the manifest digest, with
    /// `-2`, `-3`... while that is in use).
    pub name: Option<String>,
    /// Join the default network (CNI), as a `network = true` container.
    pub network: bool,
    /// Leave `RUN_DIR/NAME` (config.json and rootfs) after the run.
    pub keep: bool,
    /// Replaces the image's `Cmd` (after its `Entrypoint`), as in `docker run IMAGE CMD`.
    pub cmd: Vec<String>,
}

/// Makes `RUN_DIR/NAME` (the claim on the name: `mkdir` fails if another run has it).
fn claim(opts: &RunOpts, digest: &str, m: Option<&Manifest>) -> Result<(String, PathBuf)> {
    std::fs::create_dir_all(RUN_DIR).context(|| format!("creating {RUN_DIR}"))?;
    let taken = |n: &str| m.is_some_and(|m| m.containers.iter().any(|c| c.name == n));
    let mut candidates: Vec<String> = match &opts.name {
        Some(n) => vec![n.clone()],
        None => {
            let base = format!("run-{}", &digest[..digest.len().min(12)]);
            std::iter::once(base.clone()).chain((2..100).map(|i| format!("{base}-{i}"))).collect()
        }
    };
    candidates.retain(|n| !taken(n) || opts.name.is_some());
    for n in candidates {
        if !valid_name(&n) {
            bail!("{n:?} is not a valid container name (1-63 of a-z, 0-9, '-', a letter or digit at both ends)");
        }
        if taken(&n) {
            bail!("{n} is a container of the manifest ({}); choose another --name", manifest::MANIFEST_PATH);
        }
        let dir = Path::new(RUN_DIR).join(&n);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((n, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && opts.name.is_none() => continue,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!("{n} is in use ({} exists)", dir.display()),
            Err(e) => bail!("creating {}: {e}", dir.display()),
        }
    }
    bail!("no free name for this image under {RUN_DIR}; give --name")
}

/// A regular file of the image (not through a symlink), as text.
fn read_text(tree: &Tree, path: &str) -> Option<String> {
    let Kind::File(data) = &tree.get(path)?.kind else { return None };
    let (_, mut r) = data.open().ok()?;
    let mut s = String::new();
    r.read_to_string(&mut s).ok()?;
    Some(s)
}

pub fn run_layout(layout: &Path, opts: RunOpts) -> Result<u8> {
    install_handlers()?;
    let m = match Manifest::load(Path::new(manifest::MANIFEST_PATH)) {
        Ok(m) => Some(m),
        Err(_) if !Path::new(manifest::MANIFEST_PATH).exists() => None,
        Err(e) => return Err(e),
    };
    if opts.network && m.as_ref().and_then(|m| m.network.as_ref()).is_none() {
        bail!("--network: this system has no container network ({} names none)", manifest::MANIFEST_PATH);
    }
    let template: serde_json::Value = {
        let text = std::fs::read_to_string(RUN_TEMPLATE_PATH).context(|| RUN_TEMPLATE_PATH.to_string())?;
        serde_json::from_str(&text).context(|| RUN_TEMPLATE_PATH.to_string())?
    };
    std::fs::create_dir_all(RUN_DIR).context(|| format!("creating {RUN_DIR}"))?;
    let oci = kiln_oci::Options { spool_dir: PathBuf::from(RUN_DIR), ..kiln_oci::Options::default() };
    let image = kiln_oci::Image::open(layout, &oci).context(|| format!("image {}", layout.display()))?;
    let digest = image.manifest_digest().map(|d| d.to_string()).unwrap_or_default();
    let digest = digest.rsplit(':').next().unwrap_or_default().to_string();
    let (name, bundle) = claim(&opts, if digest.is_empty() { "image" } else { &digest }, m.as_ref())?;

    let result = run_in(&image, &oci, &template, &name, &bundle, m.as_ref(), &opts);
    if !opts.keep {
        if let Err(e) = std::fs::remove_dir_all(&bundle) {
            eprintln!("kiln-ctr: {name}: removing {}: {e}", bundle.display());
        }
    } else {
        eprintln!("kiln-ctr: {name}: kept {}", bundle.display());
    }
    result
}

fn run_in(image: &kiln_oci::Image, oci: &kiln_oci::Options, template: &serde_json::Value, name: &str, bundle: &Path, m: Option<&Manifest>, opts: &RunOpts) -> Result<u8> {
    let config = image.config();
    let process = {
        let tree = image.unpack(oci).and_then(|r| r.to_tree()).context(|| "unpacking the image".into())?.tree;
        tree.write_dir(&bundle.join("rootfs"), DirOptions { owners: true }).context(|| format!("writing {}", bundle.join("rootfs").display()))?;
        let (passwd, group) = (read_text(&tree, "etc/passwd"), read_text(&tree, "etc/group"));
        ImageRun {
            name,
            entrypoint: &config.entrypoint,
            image_cmd: &config.cmd,
            cmd: &opts.cmd,
            image_env: &config.env,
            working_dir: config.working_dir.as_deref(),
            user: config.user.as_deref(),
            passwd: passwd.as_deref(),
            group: group.as_deref(),
        }
        .process()?
        // The tree (and the spool file it holds open) is dropped here.
    };
    let spec = fill(template, name, &process, opts.network)?;
    let config_path = bundle.join("config.json");
    let text = serde_json::to_vec_pretty(&spec).map_err(|e| Error(e.to_string()))?;
    std::fs::write(&config_path, text).context(|| config_path.display().to_string())?;

    let mut net = Network::new(name, Vec::new());
    let result = (|| {
        if let (true, Some(m)) = (opts.network, m) {
            net.attach(m, true)?;
        }
        if stopping() {
            bail!("stopped before it started");
        }
        let root = prepare_root(name)?;
        let dup = |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned().map(std::fs::File::from).context(|| "duplicating stdio".into());
        let stdio = [dup(std::io::stdin().as_fd())?, dup(std::io::stdout().as_fd())?, dup(std::io::stderr().as_fd())?];
        let (mut ctr, pid) = create(name, &root, bundle, stdio)?;
        if let Err(e) = ctr.start() {
            let _ = ctr.delete(true);
            bail!("starting the container: {e}");
        }
        let status = wait(&mut ctr, pid, Signal::SIGTERM, STOP_TIMEOUT);
        if let Err(e) = ctr.delete(true) {
            eprintln!("kiln-ctr: {name}: deleting the container: {e}");
        }
        Ok(match status {
            WaitStatus::Exited(_, code) => code.clamp(0, 255) as u8,
            WaitStatus::Signaled(_, sig, _) => (128 + sig as i32).clamp(0, 255) as u8,
            _ => bail!("lost the container's init (no exit status)"),
        })
    })();
    net.teardown();
    result
}
