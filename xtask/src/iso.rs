//! `cargo xtask iso`: builds the image and prints where its ISO is.

use crate::artifacts::{self, human};
use crate::ctx::Ctx;
use crate::ImageArg;
use anyhow::{bail, Context, Result};
use kiln_image::containers::ImageRef;
use kiln_image::{ImageSpec, RootMode};
use kiln_registry::Reference;

#[derive(clap::Args, Clone)]
pub struct Args {
    #[command(flatten)]
    pub image: ImageArg,
    /// Use this container image as the root file system instead of the --image spec's
    /// own: an OCI layout directory, an oci-archive, a `docker save` tarball, or a
    /// registry reference (docker://HOST[:PORT]/NAME[:TAG][@sha256:DIGEST], pulled into
    /// the cache; a tag is resolved on each build, pin it with @sha256:...). The --image
    /// spec still gives kernel, [init] and ISO settings; the ISO goes to
    /// out/IMAGE-oci.iso (out/minimal-oci.iso by default)
    #[arg(long, value_name = "PATH|REF")]
    pub from_oci: Option<String>,
    /// With --from-oci: the platform to take from a multi-platform image
    #[arg(long, requires = "from_oci", value_name = "OS/ARCH[/VARIANT]", default_value = "linux/amd64")]
    pub platform: String,
    /// Live mode: the root as /LiveOS/squashfs.img on the ISO, booted by kiln-boot under
    /// a writable overlay, instead of all of it in the initramfs (see `[rootfs] mode`).
    /// The outputs are named IMAGE-live (IMAGE-oci-live with --from-oci)
    #[arg(long)]
    pub live: bool,
    /// Resolve the spec's registry tags again and record the digests in its lock file
    /// (images/IMAGE.lock); without it, locked tags stay at their digests
    #[arg(long)]
    pub update: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let mut ctx = Ctx::new();
    ctx.update_locks = args.update;
    let a = artifacts::build_spec(&ctx, spec(&ctx, args)?, true)?;
    let iso = a.iso.expect("iso requested");
    let size = std::fs::metadata(&iso)?.len();
    let shown = iso.strip_prefix(&ctx.root).unwrap_or(&iso);
    println!("{} ({})", shown.display(), human(size));
    Ok(())
}

/// The --image spec, with the container image as its root when --from-oci is given
/// (and then named IMAGE-oci, so its outputs never replace the spec's own).
fn spec(ctx: &Ctx, args: &Args) -> Result<ImageSpec> {
    let mut spec = ImageSpec::load(&ctx.root, &args.image.image)?;
    if let Some(source) = &args.from_oci {
        spec.rootfs.platform = args.platform.parse().map_err(|e| anyhow::anyhow!("--platform {}: {e}", args.platform))?;
        let path = if Reference::is_reference(source) {
            let r = Reference::parse(source).map_err(|e| anyhow::anyhow!("--from-oci {e}"))?;
            // Not the spec's image: no lock file (the output says how to pin a tag).
            crate::registry::pull(ctx, &crate::registry::client()?, None, &r, &spec.rootfs.platform, false).with_context(|| format!("--from-oci {source}"))?
        } else {
            std::fs::canonicalize(source).with_context(|| format!("--from-oci {source}"))?
        };
        spec.rootfs.oci = Some(ImageRef::Path(path));
        spec.name = oci_name(&spec.name);
        if !kiln_image::valid_name(&spec.name) {
            bail!("--image {} is too long a name to add -oci to", args.image.image);
        }
    }
    if args.live {
        to_live(&mut spec)?;
    }
    Ok(spec)
}

/// `--live`: the spec in live mode, named NAME-live so its outputs never replace the
/// spec's own (a spec already in live mode stays as it is).
pub fn to_live(spec: &mut ImageSpec) -> Result<()> {
    if spec.rootfs.mode != RootMode::Live {
        spec.rootfs.mode = RootMode::Live;
        spec.name = format!("{}-live", spec.name);
        if !kiln_image::valid_name(&spec.name) {
            bail!("{} is too long a name to add -live to", spec.name.trim_end_matches("-live"));
        }
    }
    Ok(())
}

/// The name of an image built `--from-oci` over the spec `image`.
pub fn oci_name(image: &str) -> String {
    format!("{image}-oci")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn from_oci_replaces_the_root_of_the_image_spec_and_renames_it() {
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("img.tar");
        std::fs::write(&tar, b"").unwrap();
        let cli = Cli::try_parse_from(["iso", "--from-oci", tar.to_str().unwrap(), "--platform", "linux/arm64/v8"]).unwrap();
        let s = spec(&Ctx::new(), &cli.args).unwrap();
        assert_eq!(s.name, "minimal-oci");
        assert_eq!(s.rootfs.oci, Some(ImageRef::Path(std::fs::canonicalize(&tar).unwrap())));
        assert_eq!(s.rootfs.platform.to_string(), "linux/arm64/v8");
        assert_eq!(Ctx::new().iso_path(&s.name).file_name().unwrap(), "minimal-oci.iso");
        let cli = Cli::try_parse_from(["iso", "--image", "demo"]).unwrap();
        let s = spec(&Ctx::new(), &cli.args).unwrap();
        assert_eq!((s.name.as_str(), s.rootfs.oci), ("demo", None));
        assert!(Cli::try_parse_from(["iso", "--platform", "linux/amd64"]).is_err(), "--platform needs --from-oci");
        let cli = Cli::try_parse_from(["iso", "--from-oci", "/no/such/img.tar"]).unwrap();
        let e = format!("{:#}", spec(&Ctx::new(), &cli.args).unwrap_err());
        assert!(e.contains("--from-oci /no/such/img.tar"), "{e}");
    }

    #[test]
    fn live_switches_the_root_mode_and_renames() {
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("img.tar");
        std::fs::write(&tar, b"").unwrap();
        let cli = Cli::try_parse_from(["iso", "--from-oci", tar.to_str().unwrap(), "--live"]).unwrap();
        let s = spec(&Ctx::new(), &cli.args).unwrap();
        assert_eq!((s.name.as_str(), s.rootfs.mode), ("minimal-oci-live", RootMode::Live));
        assert!(s.kernel_fragment_names().contains(&kiln_image::LIVE_FRAGMENT.to_string()));
        let cli = Cli::try_parse_from(["iso", "--live"]).unwrap();
        assert_eq!(spec(&Ctx::new(), &cli.args).unwrap().name, "minimal-live");
    }
}
