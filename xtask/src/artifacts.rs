//! The build pipeline: pinned sources → kernel, BusyBox, init → initramfs → ISO.
//! Each step is cached by its inputs, so a second run with nothing changed rebuilds
//! nothing.

use crate::ctx::Ctx;
use crate::root;
use anyhow::{bail, Context, Result};
use kiln_build::cache::Key;
use kiln_build::{busybox, kernel};
use kiln_util::Stamped;
use kiln_image::{ImageSpec, RootMode};
use kiln_sources::{Fetcher, Pinned, Sources};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct Artifacts {
    pub spec: ImageSpec,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub iso: Option<PathBuf>,
    pub linux_version: String,
    /// `out/NAME/pxeboot/`: vmlinuz, initrd.img and the iPXE script.
    pub pxe_dir: PathBuf,
    /// Kiln's guest programs; empty paths in contract mode, which uses none of them.
    pub init_binary: PathBuf,
    pub busybox_binary: PathBuf,
    /// kiln-ctr, for images with `[[containers]]`; else empty.
    pub ctr_binary: PathBuf,
    /// Live mode: the root (`out/NAME/LiveOS/squashfs.img`) and kiln-boot.
    pub live: Option<Live>,
}

pub struct Live {
    pub squashfs: PathBuf,
    pub boot_binary: PathBuf,
}

/// The `[N/TOTAL] step` progress lines.
struct Progress {
    done: usize,
    total: usize,
}

impl Progress {
    fn step(&mut self, what: &str) {
        self.done += 1;
        eprintln!("[{}/{}] {what}", self.done, self.total);
    }
}

/// Builds every artifact of `image` (the ISO too when `iso` is set).
pub fn build(ctx: &Ctx, image: &str, iso: bool) -> Result<Artifacts> {
    build_spec(ctx, ImageSpec::load(&ctx.root, image)?, iso)
}

/// Builds every artifact of a loaded (possibly edited) spec; its `name` names the
/// outputs (`out/NAME.iso`, `out/NAME/`).
pub fn build_spec(ctx: &Ctx, spec: ImageSpec, iso: bool) -> Result<Artifacts> {
    build_spec_with(ctx, spec, iso, &root::Extra::default())
}

/// [`build_spec`] with files the build tool adds to the root itself (`bench --runtimes`).
pub fn build_spec_with(ctx: &Ctx, spec: ImageSpec, iso: bool, extra: &root::Extra) -> Result<Artifacts> {
    let started = Instant::now();
    // The name is one path component under out/ (`load` also checked that it is the
    // file's name): checked before anything is written there.
    if !kiln_image::valid_name(&spec.name) {
        bail!("invalid image name {:?}: a-z, 0-9, - and _, at most 64", spec.name);
    }
    crate::doctor::require_host_tools(ctx)?;
    let spec = crate::registry::fetch(ctx, spec, ctx.update_locks)?;
    let live_oci = spec.rootfs.oci.as_ref().map(|o| o.path().map(Path::to_owned)).transpose().map_err(anyhow::Error::msg)?.filter(|_| spec.rootfs.mode == RootMode::Live);
    let mut progress = Progress { done: 0, total: 6 + usize::from(iso) + usize::from(live_oci.is_some()) };
    if let Some(oci) = &live_oci {
        progress.step("container-native ISO contract");
        if let Some(c) = crate::contract::build(ctx, &spec, oci)? {
            progress.total = progress.done + 1 + usize::from(iso);
            return finish_contract(ctx, spec, c, Steps { progress, iso }, started);
        }
        eprintln!("  no kernel and initramfs in /usr/lib/modules: Kiln's kernel, kiln-boot and kiln-init");
    }
    let logs = ctx.out.join("logs");
    let build_root = ctx.cache.join("build");

    progress.step("sources");
    // Nothing is read here: the pins are the sources' identity in the cache keys, and a
    // tarball is fetched, verified and extracted only when a build below misses.
    let sources = Sources::load(&ctx.root.join("sources.toml"))?;
    let fetcher = Fetcher::new(ctx.cache.join("downloads")).for_sources(&sources);
    let trees = ctx.cache.join("src");
    kiln_sources::remove_leftovers(&trees, &ctx.cache.join("downloads"));
    let linux = Pinned::new(&fetcher, "linux", sources.get("linux")?, &trees);
    let busybox_src = Pinned::new(&fetcher, "busybox", sources.get("busybox")?, &trees);

    progress.step("kernel");
    let launcher = ctx.launcher()?;
    let fragments = spec.kernel_fragments(&ctx.root);
    let k = kernel::build_kernel(&kernel::KernelRequest {
        src: &linux,
        fragments: &fragments,
        build_root: &build_root,
        log_dir: &logs,
        jobs: ctx.jobs,
        epoch: ctx.epoch,
        launcher: launcher.as_ref(),
    })?;
    report("kernel", &k.path, k.cached);

    progress.step("busybox");
    let headers = kernel::Headers::new(&linux, &build_root, &logs, ctx.jobs);
    let bb_fragments = spec.busybox_fragments(&ctx.root);
    let bb = busybox::build_busybox(&busybox::BusyboxRequest {
        src: &busybox_src,
        base: spec.busybox.base.make_target(),
        fragments: &bb_fragments,
        kernel_headers: &headers,
        build_root: &build_root,
        log_dir: &logs,
        jobs: ctx.jobs,
        epoch: ctx.epoch,
        launcher: launcher.as_ref(),
    })?;
    report("busybox", &bb.path, bb.cached);

    progress.step("init");
    let live_mode = spec.rootfs.mode == RootMode::Live;
    let init = build_guest(ctx, "kiln-init")?;
    report("kiln-init", &init, false);
    let boot = if live_mode { Some(build_guest(ctx, "kiln-boot")?) } else { None };
    if let Some(boot) = &boot {
        report("kiln-boot", boot, false);
    }
    let ctr = if spec.containers.is_empty() { None } else { Some(build_guest(ctx, "kiln-ctr")?) };
    if let Some(ctr) = &ctr {
        report("kiln-ctr", ctr, false);
    }

    progress.step("root file system");
    let initrd = ctx.image_dir(&spec.name).join("pxeboot/initrd.img");
    let parts = root::Parts { busybox: &bb.path, init: &init, ctr: ctr.as_deref(), extra };
    let live = match &boot {
        Some(boot) => Some(Live { squashfs: crate::live::build(ctx, &spec, &parts, boot, &initrd)?, boot_binary: boot.clone() }),
        None => None,
    };
    if live.is_none() && root::initramfs(ctx, &spec, &parts, &initrd)? {
        report("initramfs", &initrd, true);
    }

    let menu = spec_menu(&spec);
    let label = spec.iso.label.clone();
    let boot = Boot { kernel: &k.path, linux_version: linux.version().to_string(), menu, label };
    finish(ctx, spec, boot, Built { initrd, init_binary: init, busybox_binary: bb.path, ctr_binary: ctr.unwrap_or_default(), live }, Steps { progress, iso }, started)
}

/// Contract mode: the image's own kernel and initramfs, its tree as the squashfs, the
/// menu of its `iso.yaml`. Kiln's kernel, BusyBox and guest programs are not built.
fn finish_contract(ctx: &Ctx, spec: ImageSpec, c: crate::contract::Built, steps: Steps, started: Instant) -> Result<Artifacts> {
    let initrd = ctx.image_dir(&spec.name).join("pxeboot/initrd.img");
    write_if_changed(&initrd, &std::fs::read(&c.initrd).with_context(|| format!("reading {}", c.initrd.display()))?)?;
    let boot = Boot { kernel: &c.vmlinuz, linux_version: c.kver.clone(), menu: c.menu.clone(), label: c.label.clone() };
    let live = Some(Live { squashfs: c.squashfs.clone(), boot_binary: PathBuf::new() });
    let built = Built { initrd, init_binary: PathBuf::new(), busybox_binary: PathBuf::new(), ctr_binary: PathBuf::new(), live };
    finish(ctx, spec, boot, built, steps, started)
}

/// How the image boots: the kernel to copy to `pxeboot/`, its version, the menu.
struct Boot<'a> {
    kernel: &'a Path,
    linux_version: String,
    menu: kiln_iso::Menu,
    label: String,
}

/// What the root step made.
struct Built {
    initrd: PathBuf,
    init_binary: PathBuf,
    busybox_binary: PathBuf,
    ctr_binary: PathBuf,
    live: Option<Live>,
}

/// [`finish`]'s steps: their progress numbering, and whether to make the ISO.
struct Steps {
    progress: Progress,
    iso: bool,
}

/// The steps every image ends with: the pxeboot files, the ISO (when asked),
/// `SHA256SUMS`.
fn finish(ctx: &Ctx, spec: ImageSpec, boot: Boot, built: Built, mut steps: Steps, started: Instant) -> Result<Artifacts> {
    let pxe = ctx.image_dir(&spec.name).join("pxeboot");
    steps.progress.step("pxeboot files");
    let vmlinuz = pxe.join("vmlinuz");
    write_if_changed(&vmlinuz, &std::fs::read(boot.kernel).with_context(|| format!("reading {}", boot.kernel.display()))?)?;
    let entry = &boot.menu.entries[boot.menu.default];
    write_if_changed(&pxe.join(kiln_iso::IPXE_SCRIPT), kiln_iso::render_ipxe(entry).as_bytes())?;
    eprintln!("  {}", pxe.display());

    let iso_path = if steps.iso {
        steps.progress.step("iso");
        let out = ctx.iso_path(&spec.name);
        let extra: Vec<(&str, &Path)> = built.live.iter().map(|l| (kiln_iso::SQUASHFS_PATH, l.squashfs.as_path())).collect();
        let files = IsoFiles { kernel: &vmlinuz, initrd: &built.initrd, extra: &extra, menu: &boot.menu, label: &boot.label };
        build_iso(ctx, &spec, &files, &out)?;
        Some(out)
    } else {
        None
    };
    eprintln!("built {} in {:.1?}", spec.name, started.elapsed());
    let a = Artifacts {
        spec,
        kernel: vmlinuz,
        initrd: built.initrd,
        iso: iso_path,
        linux_version: boot.linux_version,
        pxe_dir: pxe,
        init_binary: built.init_binary,
        busybox_binary: built.busybox_binary,
        ctr_binary: built.ctr_binary,
        live: built.live,
    };
    write_if_changed(&ctx.image_dir(&a.spec.name).join(SUMS), sha256sums(&a.named())?.as_bytes())?;
    Ok(a)
}

/// Writes `tree` as an xz-compressed newc archive to `initrd`.
pub fn write_initramfs(ctx: &Ctx, tree: &kiln_initramfs::Tree, initrd: &Path) -> Result<()> {
    let epoch32 = u32::try_from(ctx.epoch).context("SOURCE_DATE_EPOCH does not fit a cpio mtime")?;
    let cpio = tree.write_newc(Vec::new(), epoch32)?;
    let options = xz_options(cpio.len());
    let xz = kiln_initramfs::compress_xz_with(&cpio, options)?;
    kiln_util::write_atomic(initrd, &xz)?;
    eprintln!("  initramfs: {} entries, {} → {} (xz preset {})", tree.len(), human(cpio.len() as u64), human(xz.len() as u64), options.preset);
    Ok(())
}

/// Archives bigger than this are compressed with LZMA2 preset 6 instead of 9.
pub const LARGE_INITRAMFS: usize = 64 << 20;

/// The xz settings for an archive of `len` bytes: preset 9 extreme (the default) up to
/// [`LARGE_INITRAMFS`], then preset 6 extreme. Measured on the 112 MiB Debian minbase
/// cpio: preset 9 took 87 s and 675 MiB, preset 6 68 s and 95 MiB for 2.9 % more bytes,
/// and the kernel allocates an 8 MiB dictionary at boot instead of 64 MiB.
pub fn xz_options(len: usize) -> kiln_initramfs::XzOptions {
    let preset = if len > LARGE_INITRAMFS { 6 } else { 9 };
    kiln_initramfs::XzOptions { preset, ..kiln_initramfs::XzOptions::default() }
}

/// `out/NAME/SHA256SUMS`: the sha256 of every artifact of a build, one `HASH  NAME` line
/// each, upstream first (see [`Artifacts::named`]); `cargo xtask repro` compares two.
pub const SUMS: &str = "SHA256SUMS";

impl Artifacts {
    /// Every artifact by a name that does not depend on where it was built, in build
    /// order: what goes into an artifact comes before it.
    pub fn named(&self) -> Vec<(&'static str, PathBuf)> {
        let live = |f: fn(&Live) -> PathBuf| self.live.as_ref().map(f).unwrap_or_default();
        let mut v = vec![
            ("kiln-init", self.init_binary.clone()),
            ("busybox", self.busybox_binary.clone()),
            ("kiln-boot", live(|l| l.boot_binary.clone())),
            ("kiln-ctr", self.ctr_binary.clone()),
            ("vmlinuz", self.kernel.clone()),
            ("initrd.img", self.initrd.clone()),
            ("squashfs.img", live(|l| l.squashfs.clone())),
            ("boot.ipxe", self.pxe_dir.join(kiln_iso::IPXE_SCRIPT)),
        ];
        v.extend(self.iso.clone().map(|iso| ("iso", iso)));
        v.retain(|(_, p)| !p.as_os_str().is_empty());
        v
    }
}

fn sha256sums(named: &[(&str, PathBuf)]) -> Result<String> {
    let mut out = String::new();
    for (name, path) in named {
        out += &format!("{}  {name}\n", kiln_sources::sha256_file(path)?);
    }
    Ok(out)
}

/// A guest program (`kiln-init`, `kiln-boot`) as a libc-free static binary (no_std on
/// rustix + origin), in its own
/// target directory so the host build's flags never mix with the guest's. The
/// explicit `--target` keeps RUSTFLAGS (non-PIE static code) away from build scripts;
/// the path remaps keep the checkout's and cargo's locations out of the binary.
pub fn build_guest(ctx: &Ctx, package: &str) -> Result<PathBuf> {
    let target = "x86_64-unknown-linux-gnu";
    let target_dir = ctx.target_dir().join("guest");
    let target_dir_s = target_dir.display().to_string();
    let cargo_home = std::env::var("CARGO_HOME")
        .ok()
        .or_else(|| std::env::var("HOME").ok().map(|h| format!("{h}/.cargo")))
        .unwrap_or_default();
    let rustflags = format!(
        "-C relocation-model=static -C target-feature=+crt-static --remap-path-prefix={}=/kiln --remap-path-prefix={cargo_home}=/cargo",
        ctx.root.display()
    );
    let mut args = vec!["build", "--quiet", "--profile", "guest"];
    // kiln-ctr's binary is a workspace of its own (crates/ctr/guest/Cargo.toml says why).
    match package {
        "kiln-ctr" => args.extend(["--manifest-path", "crates/ctr/guest/Cargo.toml"]),
        _ => args.extend(["-p", package]),
    }
    args.extend(["--features", "guest", "--target", target, "--target-dir", &target_dir_s]);
    // kiln-ctr links libseccomp (through libcontainer) statically; the other guest
    // programs do not use it, so the variables are harmless for them.
    let env = [("RUSTFLAGS", rustflags.as_str()), ("LIBSECCOMP_LINK_TYPE", "static"), ("LIBSECCOMP_LIB_PATH", "/usr/lib/x86_64-linux-gnu")];
    ctx.run(&ctx.cargo(), &args, &env).with_context(|| format!("building {package}"))?;
    Ok(target_dir.join(target).join("guest").join(package))
}

/// The GRUB menu of a spec: its entries with their full command lines.
pub fn spec_menu(spec: &ImageSpec) -> kiln_iso::Menu {
    kiln_iso::Menu {
        entries: spec.iso.entries.iter().map(|e| kiln_iso::Entry { name: e.name.clone(), cmdline: spec.cmdline(e) }).collect(),
        default: spec.iso.default,
        timeout: spec.iso.timeout,
    }
}

/// What goes on an ISO besides the boot loader.
pub struct IsoFiles<'a> {
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    /// (path in the ISO, source), e.g. the live root.
    pub extra: &'a [(&'a str, &'a Path)],
    pub menu: &'a kiln_iso::Menu,
    /// The ISO 9660 volume id.
    pub label: &'a str,
}

/// Writes `out` with the spec's ISO layout, cached by everything that goes into it.
pub fn build_iso(ctx: &Ctx, spec: &ImageSpec, files: &IsoFiles, out: &Path) -> Result<()> {
    let IsoFiles { kernel, initrd, extra, menu, label } = *files;
    let template_path = ctx.root.join("boot/grub.cfg");
    let template = std::fs::read_to_string(&template_path).with_context(|| format!("reading {}", template_path.display()))?;
    let layout = match spec.iso.layout {
        kiln_image::IsoLayout::Mkrescue => kiln_iso::Layout::Mkrescue,
        kiln_image::IsoLayout::Slim => kiln_iso::Layout::Slim,
    };
    let inputs = kiln_iso::IsoInputs {
        kernel,
        initrd,
        menu,
        grub_template: &template,
        label,
        extra,
        epoch: ctx.epoch,
        log_dir: &ctx.out.join("logs"),
    };
    let mut key = Key::new("iso-v1");
    key.add_file(kernel)?.add_file(initrd)?.add(kiln_iso::render_grub_cfg(&template, menu)).add(label);
    for (dest, src) in extra {
        key.add(*dest).add_file(src)?;
    }
    key.add(format!("{layout:?}")).add(ctx.epoch.to_string()).add(tool_identity());
    for tool in kiln_iso::tools(layout) {
        key.add(ctx.tool_version(tool)?);
    }
    key.add(kiln_iso::grub_fingerprint());
    if Stamped::new(out, key.finish()).get_or_make(|| kiln_iso::build_iso(layout, &inputs, out))? {
        report("iso", out, true);
    }
    if !out.is_file() {
        bail!("the ISO step left no {}", out.display());
    }
    Ok(())
}

/// This build tool's own binary (path, size and mtime): part of the keys of the outputs
/// it writes itself (initramfs, ISO), so that new code for them rebuilds them.
pub fn tool_identity() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let meta = std::fs::metadata(&exe).ok();
    let mtime = meta.as_ref().and_then(|m| m.modified().ok()).and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    format!("{} {} {:?}", exe.display(), meta.map_or(0, |m| m.len()), mtime)
}

/// Writes `data` to `dest` (atomically) unless it already holds exactly that, so that a
/// no-op build leaves `out/` untouched.
pub fn write_if_changed(dest: &Path, data: &[u8]) -> Result<()> {
    if std::fs::read(dest).is_ok_and(|old| old == data) {
        return Ok(());
    }
    kiln_util::write_atomic(dest, data)
}

pub fn report(what: &str, path: &Path, cached: bool) {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let how = if cached { " (cached)" } else { "" };
    eprintln!("  {what}: {} {}{how}", path.display(), human(size));
}

pub fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.2} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_large_archives_get_the_lighter_xz_preset() {
        assert_eq!(super::xz_options(0), kiln_initramfs::XzOptions::default());
        assert_eq!(super::xz_options(super::LARGE_INITRAMFS), kiln_initramfs::XzOptions::default());
        let large = super::xz_options(super::LARGE_INITRAMFS + 1);
        assert_eq!((large.preset, large.bcj_x86), (6, true));
    }
}
