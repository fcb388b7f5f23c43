//! The build pipeline: pinned sources → kernel, BusyBox, init → initramfs → ISO.
//! Each step is cached by its inputs, so a second run with nothing changed rebuilds
//! nothing.

use crate::ctx::Ctx;
use anyhow::{bail, Context, Result};
use kiln_build::{busybox, kernel};
use kiln_image::{ImageSpec, RootfsInputs};
use kiln_sources::{Fetched, Fetcher, Sources};
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
    pub init_binary: PathBuf,
    pub busybox_binary: PathBuf,
}

fn step(n: usize, total: usize, what: &str) {
    eprintln!("[{n}/{total}] {what}");
}

/// Builds every artifact of `image` (the ISO too when `iso` is set).
pub fn build(ctx: &Ctx, image: &str, iso: bool) -> Result<Artifacts> {
    let started = Instant::now();
    let spec = ImageSpec::load(&ctx.root, image)?;
    crate::doctor::require_host_tools(ctx)?;
    let total = if iso { 7 } else { 6 };
    let logs = ctx.out.join("logs");
    let build_root = ctx.cache.join("build");

    step(1, total, "sources");
    let sources = Sources::load(&ctx.root.join("sources.toml"))?;
    let fetcher = Fetcher::new(ctx.cache.join("downloads"));
    let linux = sources.get("linux")?;
    let linux_tar = fetcher.fetch("linux", linux)?;
    let bb_tar = fetcher.fetch("busybox", sources.get("busybox")?)?;
    let linux_src = unpacked(ctx, "linux", &linux_tar)?;
    let bb_src = unpacked(ctx, "busybox", &bb_tar)?;

    step(2, total, "kernel");
    let fragments = spec.kernel_fragments(&ctx.root);
    let k = kernel::build_kernel(&kernel::KernelRequest {
        src: &linux_src,
        src_sha256: &linux_tar.sha256,
        fragments: &fragments,
        build_root: &build_root,
        log_dir: &logs,
        jobs: ctx.jobs,
        epoch: ctx.epoch,
    })?;
    report("kernel", &k.path, k.cached);

    step(3, total, "busybox");
    let headers = kernel::install_headers(&linux_src, &linux_tar.sha256, &build_root, &logs)?;
    let bb_fragments = spec.busybox_fragments(&ctx.root);
    let bb = busybox::build_busybox(&busybox::BusyboxRequest {
        src: &bb_src,
        src_sha256: &bb_tar.sha256,
        base: spec.busybox.base.make_target(),
        fragments: &bb_fragments,
        kernel_headers: &headers,
        build_root: &build_root,
        log_dir: &logs,
        jobs: ctx.jobs,
        epoch: ctx.epoch,
    })?;
    report("busybox", &bb.path, bb.cached);

    step(4, total, "init");
    let init = build_init(ctx)?;
    report("kiln-init", &init, false);

    step(5, total, "initramfs");
    // `load` checked the name (one path component) and that the spec's `name` is it.
    let pxe = ctx.image_dir(&spec.name).join("pxeboot");
    let initrd = pxe.join("initrd.img");
    let applets = busybox::applets(&bb.path)?;
    let tree = kiln_image::rootfs(&RootfsInputs {
        busybox: &bb.path,
        applets: &applets,
        init: &init,
        init_conf: spec.init_config().render(),
    })?;
    let epoch32 = u32::try_from(ctx.epoch).context("SOURCE_DATE_EPOCH does not fit a cpio mtime")?;
    let cpio = tree.write_newc(Vec::new(), epoch32)?;
    let xz = kiln_initramfs::compress_xz(&cpio)?;
    kiln_build::cache::write_atomic(&initrd, &xz)?;
    eprintln!("  initramfs: {} entries, {} → {} (xz)", tree.len(), human(cpio.len() as u64), human(xz.len() as u64));

    step(6, total, "pxeboot files");
    let vmlinuz = pxe.join("vmlinuz");
    kiln_build::cache::copy_atomic(&k.path, &vmlinuz)?;
    let default = &spec.iso.entries[spec.iso.default];
    let entry = kiln_iso::Entry { name: default.name.clone(), cmdline: spec.cmdline(default) };
    kiln_build::cache::write_atomic(&pxe.join(kiln_iso::IPXE_SCRIPT), kiln_iso::render_ipxe(&entry).as_bytes())?;
    eprintln!("  {}", pxe.display());

    let iso_path = if iso {
        step(7, total, "iso");
        let out = ctx.iso_path(&spec.name);
        build_iso(ctx, &spec, &vmlinuz, &initrd, &out)?;
        Some(out)
    } else {
        None
    };
    eprintln!("built {image} in {:.1?}", started.elapsed());
    Ok(Artifacts {
        spec,
        kernel: vmlinuz,
        initrd,
        iso: iso_path,
        linux_version: linux.version.clone(),
        pxe_dir: pxe,
        init_binary: init,
        busybox_binary: bb.path,
    })
}

/// The extracted tree of a verified tarball, keyed by its hash.
fn unpacked(ctx: &Ctx, name: &str, tar: &Fetched) -> Result<PathBuf> {
    let dir = ctx.cache.join("src").join(format!("{name}-{}", &tar.sha256[..16]));
    if !dir.exists() {
        kiln_sources::extract_tarball(&tar.path, &dir)?;
    }
    Ok(dir)
}

/// kiln-init as a libc-free static binary (no_std on rustix + origin), in its own
/// target directory so the host build's flags never mix with the guest's. The
/// explicit `--target` keeps RUSTFLAGS (non-PIE static code) away from build scripts.
fn build_init(ctx: &Ctx) -> Result<PathBuf> {
    let sh = ctx.shell()?;
    let target = "x86_64-unknown-linux-gnu";
    let target_dir = ctx.root.join("target/guest");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    xshell::cmd!(sh, "{cargo} build --quiet --profile guest -p kiln-init --features guest --target {target} --target-dir {target_dir}")
        .env("RUSTFLAGS", "-C relocation-model=static -C target-feature=+crt-static")
        .run()
        .context("building kiln-init")?;
    Ok(target_dir.join(target).join("guest/kiln-init"))
}

pub fn build_iso(ctx: &Ctx, spec: &ImageSpec, kernel: &Path, initrd: &Path, out: &Path) -> Result<()> {
    let menu = kiln_iso::Menu {
        entries: spec
            .iso
            .entries
            .iter()
            .map(|e| kiln_iso::Entry { name: e.name.clone(), cmdline: spec.cmdline(e) })
            .collect(),
        default: spec.iso.default,
        timeout: spec.iso.timeout,
    };
    let template_path = ctx.root.join("boot/grub.cfg");
    let template = std::fs::read_to_string(&template_path).with_context(|| format!("reading {}", template_path.display()))?;
    let layout = match spec.iso.layout {
        kiln_image::IsoLayout::Mkrescue => kiln_iso::Layout::Mkrescue,
        kiln_image::IsoLayout::Slim => kiln_iso::Layout::Slim,
    };
    let inputs = kiln_iso::IsoInputs {
        kernel,
        initrd,
        menu: &menu,
        grub_template: &template,
        label: &spec.iso.label,
        epoch: ctx.epoch,
        log_dir: &ctx.out.join("logs"),
    };
    kiln_iso::build_iso(layout, &inputs, out)?;
    if !out.is_file() {
        bail!("the ISO step left no {}", out.display());
    }
    Ok(())
}

fn report(what: &str, path: &Path, cached: bool) {
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
