//! A container image's tree as an initramfs: the image's files untouched, plus
//! kiln-init as `/init`, `/etc/kiln/init.conf` made from the spec's `[init]` and the
//! image's config, the device nodes the kernel opens before `/dev` is mounted, the
//! mount points kiln-init needs, and (only when asked) Kiln's BusyBox in `/kiln/bin`.
//!
//! Nothing of the image is overwritten: an image that has its own `/init`,
//! `/etc/kiln/init.conf` or `/kiln` is an error naming the path.

use crate::spec::RunMode;
use crate::{Error, Result};
use kiln_init::config::{Config, Service};
use kiln_init::policy::Restart;
use kiln_initramfs::{Data, Kind, Tree};
use kiln_oci::ImageConfig;
use std::path::Path;

/// Where Kiln's BusyBox goes when `rootfs.busybox` is set.
pub const BUSYBOX_DIR: &str = "kiln/bin";
/// The service that runs the image's program with `rootfs.run = "service"`.
pub const SERVICE_NAME: &str = "app";

pub struct OciInputs<'a> {
    /// The image's tree (`kiln_oci::Rootfs::to_tree`).
    pub tree: Tree,
    /// The image's config (`Env`, `WorkingDir`, `User`, `Entrypoint` + `Cmd`).
    pub image: &'a ImageConfig,
    /// The spec's `[init]`.
    pub base: &'a Config,
    pub run: RunMode,
    /// Kiln's static BusyBox and its applets' install paths, when `rootfs.busybox`.
    pub busybox: Option<(&'a Path, &'a [String])>,
    /// The static kiln-init binary.
    pub init: &'a Path,
}

fn err(message: String) -> Error {
    Error::Oci { message }
}

/// Merges the image's tree with Kiln's files; also returns the init configuration
/// written to `/etc/kiln/init.conf`.
pub fn oci_rootfs(inputs: OciInputs) -> Result<(Tree, Config)> {
    let OciInputs { mut tree, image, base, run, busybox, init } = inputs;
    for own in ["init", "etc/kiln/init.conf", "kiln"] {
        if tree.get(own).is_some() {
            return Err(err(format!(
                "the image has its own /{own}, where Kiln puts {}; remove it from the image",
                if own == "kiln" { "its BusyBox (/kiln/bin)" } else { "kiln-init and its configuration" }
            )));
        }
    }
    // Mount points kiln-init needs, and /var/log for service logs: added only when missing.
    for (dir, mode) in [("dev", 0o755), ("proc", 0o555), ("sys", 0o555), ("run", 0o755), ("tmp", 0o1777), ("etc/kiln", 0o755), ("var/log", 0o755)] {
        match tree.get(dir).map(|e| e.is_dir()) {
            Some(true) => {}
            Some(false) => return Err(err(format!("the image's /{dir} is not a directory; kiln-init needs it to be one"))),
            None => {
                tree.dir(dir, mode)?;
            }
        }
    }
    // The kernel opens /dev/console for init before devtmpfs is mounted.
    for (path, mode, major, minor) in [("dev/console", 0o600, 5, 1), ("dev/null", 0o666, 1, 3)] {
        match tree.get(path).map(|e| &e.kind) {
            None => {
                tree.char_dev(path, mode, major, minor)?;
            }
            Some(Kind::CharDev { major: a, minor: b }) if (*a, *b) == (major, minor) => {}
            Some(_) => return Err(err(format!("the image's /{path} is not the character device {major},{minor}"))),
        }
    }
    tree.file("init", 0o755, Data::Path(init.to_owned()))?;
    if let Some((bb, applets)) = busybox {
        tree.dir(BUSYBOX_DIR, 0o755)?;
        tree.file(&format!("{BUSYBOX_DIR}/busybox"), 0o755, Data::Path(bb.to_owned()))?;
        for applet in applets {
            let name = applet.rsplit('/').next().unwrap_or(applet);
            if name != "busybox" && !name.is_empty() {
                tree.symlink(&format!("{BUSYBOX_DIR}/{name}"), "busybox")?;
            }
        }
    }
    let text = |p: &str| read_text(&tree, p);
    let user = crate::oci_user::resolve_user(image.user.as_deref(), text("etc/passwd").as_deref(), text("etc/group").as_deref())?;
    let config = init_config(base, image, user, run, busybox.is_some(), |p| resolve(&tree, p).is_some())?;
    tree.file("etc/kiln/init.conf", 0o644, Data::Bytes(config.render().into_bytes()))?;
    Ok((tree, config))
}

/// The init configuration of an OCI root: the spec's `[init]`, the image's `Env`
/// over it (with `/kiln/bin` at the end of `PATH` when BusyBox is added), its
/// `WorkingDir` (default `/`) as `workdir` unless `[init]` sets one, and the image's
/// program as the console shell or the service `app`, run as `user` (the image's
/// `User`, resolved; `None` is root). `exists` says whether a path (no leading `/`)
/// is in the tree.
pub fn init_config(
    base: &Config,
    image: &ImageConfig,
    user: Option<(u32, u32)>,
    run: RunMode,
    busybox: bool,
    exists: impl Fn(&str) -> bool,
) -> Result<Config> {
    let mut c = base.clone();
    for kv in &image.env {
        // `KEY` without `=` means "from the caller's environment" in Docker: there is none.
        let Some((k, v)) = kv.split_once('=') else { continue };
        set_env(&mut c.env, k, v);
    }
    if busybox {
        let path = c.env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone());
        let path = path.unwrap_or_else(|| kiln_init::config::DEFAULT_ENV[0].1.to_string());
        set_env(&mut c.env, "PATH", &format!("{path}:/{BUSYBOX_DIR}"));
    }
    // Programs start in the image's WorkingDir, or in / as in a container, unless the
    // spec's `[init] workdir` says otherwise.
    if c.workdir.is_none() {
        c.workdir = Some(image.working_dir.clone().filter(|d| !d.is_empty()).unwrap_or_else(|| "/".into()));
    }
    let shell_path = ["bin/sh".to_string(), format!("{BUSYBOX_DIR}/sh")].into_iter().find(|p| exists(p) || (busybox && p.starts_with("kiln/")));
    if run != RunMode::None {
        let argv = image.command();
        if argv.is_empty() {
            return Err(err("the image has no Entrypoint or Cmd to run; set rootfs.run = \"none\" for a shell only".into()));
        }
        match run {
            RunMode::Console => {
                c.shell = Some(argv);
                c.shell_user = user;
            }
            RunMode::Service => c.services.push(Service {
                user,
                ..Service::new(SERVICE_NAME, Restart::OnFailure, &argv.iter().map(String::as_str).collect::<Vec<_>>())
            }),
            RunMode::None => unreachable!(),
        }
    }
    if run != RunMode::Console && c.shell.is_none() {
        match &shell_path {
            Some(sh) if sh != "bin/sh" => c.shell = Some(vec![format!("/{sh}"), "-l".into()]),
            Some(_) => {}
            None => {
                return Err(err(
                    "no shell for the console: the image has no /bin/sh; set rootfs.busybox = true, init.shell, or rootfs.run = \"console\"".into(),
                ))
            }
        }
    }
    c.check().map_err(|e| err(format!("the init configuration made from the image: {e}")))?;
    Ok(c)
}

/// The entry at `path` (no leading `/`), following symlinks inside the tree as the
/// kernel will in the guest (40 hops at most): with a merged `/usr`, `/bin/sh` is
/// `usr/bin/dash` through the symlinks `bin` and `bin/sh`.
pub fn resolve<'a>(tree: &'a Tree, path: &str) -> Option<&'a kiln_initramfs::Entry> {
    let mut pending: Vec<String> = path.split('/').rev().map(String::from).collect();
    let mut at: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                at.pop();
                continue;
            }
            _ => at.push(part),
        }
        if let Kind::Symlink(target) = &tree.get(&at.join("/"))?.kind {
            hops += 1;
            if hops > 40 {
                return None;
            }
            at.pop();
            if target.starts_with('/') {
                at.clear();
            }
            pending.extend(target.split('/').rev().map(String::from));
        }
    }
    if at.is_empty() {
        return None;
    }
    tree.get(&at.join("/"))
}

fn set_env(env: &mut Vec<(String, String)>, k: &str, v: &str) {
    match env.iter_mut().find(|(key, _)| key == k) {
        Some(slot) => slot.1 = v.to_string(),
        None => env.push((k.to_string(), v.to_string())),
    }
}

/// A small text file of the tree (`etc/passwd`, symlinks followed inside the tree),
/// if it is one.
pub fn read_text(tree: &Tree, path: &str) -> Option<String> {
    let Kind::File(data) = &resolve(tree, path)?.kind else { return None };
    let bytes = match data {
        Data::Bytes(b) => b.clone(),
        Data::Path(p) => std::fs::read(p).ok()?,
        Data::Slice(s) => {
            let mut buf = vec![0; usize::try_from(s.len).ok().filter(|n| *n <= 1 << 20)?];
            std::os::unix::fs::FileExt::read_exact_at(&*s.file, &mut buf, s.offset).ok()?;
            buf
        }
    };
    String::from_utf8(bytes).ok()
}

/// Bytes the kernel unpacks into RAM for this tree: file contents plus a newc
/// header and name per entry (about 512 bytes; exact enough for a limit).
pub fn unpacked_size(tree: &Tree) -> std::io::Result<u64> {
    let mut total = 0;
    for e in tree.iter() {
        total += 512;
        if let Kind::File(d) = &e.kind {
            total += match d {
                Data::Bytes(b) => b.len() as u64,
                Data::Path(p) => std::fs::metadata(p)?.len(),
                Data::Slice(s) => s.len,
            };
        }
    }
    Ok(total)
}

/// The error for a root file system over `rootfs.max_initramfs_bytes`.
pub fn check_size(size: u64, max: u64) -> Result<()> {
    if size <= max {
        return Ok(());
    }
    let shown = |b: u64| if b >= 1 << 20 { format!("{:.1} MiB", b as f64 / 1048576.0) } else { format!("{} KiB", b.div_ceil(1024)) };
    // The compressed archive and the unpacked files are both in RAM while the kernel
    // unpacks; xz leaves about half; plus the kernel and the programs' own needs.
    let ram_mib = (size + size / 2).div_ceil(1 << 20) + 64;
    Err(err(format!(
        "the root file system is {size} bytes ({}) unpacked, over rootfs.max_initramfs_bytes = {max} ({}): \
         as an initramfs it lives in RAM, so the machine would need about {ram_mib} MiB (qemu -m {ram_mib}M or more). \
         Use live mode (`[rootfs] mode = \"live\"`, or `cargo xtask iso --live`), which boots the root from \
         the ISO's squashfs, or raise the limit in the spec, or use a smaller image",
        shown(size),
        shown(max),
    )))
}

#[cfg(test)]
#[path = "oci_rootfs_tests.rs"]
mod tests;
