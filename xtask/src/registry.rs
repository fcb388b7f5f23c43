//! Registry images (`docker://...` in `rootfs.oci`, `containers.image` or `--from-oci`):
//! pinned to a digest (the reference's own, else the spec's lock file `images/NAME.lock`,
//! else resolved now and locked), pulled into `KILN_CACHE/registry` (what is cached
//! is never fetched again), and replaced by the pulled OCI layout's path before the
//! build reads anything.
//!
//! Settings: credentials from `~/.docker/config.json` or `KILN_REGISTRY_AUTH`
//! (`HOST=USER:PASSWORD`, never printed); `KILN_INSECURE_REGISTRIES` (`HOST[:PORT]`,
//! comma-separated) for plain HTTP besides loopback hosts.

use crate::ctx::Ctx;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use kiln_image::containers::ImageRef;
use kiln_image::ImageSpec;
use kiln_registry::{Client, Lock, Options, Pin, Progress, Reference, Store};
use std::path::PathBuf;
use std::time::Instant;

/// The client with the user's credentials and insecure hosts.
pub fn client() -> Result<Client> {
    Ok(Client::new(Options::from_user().map_err(anyhow::Error::msg).context("reading registry credentials")?))
}

/// The registry cache.
pub fn store(ctx: &Ctx) -> Store {
    Store::new(ctx.cache.join("registry"))
}

/// The spec's lock file: `images/NAME.lock` beside `images/NAME.toml`.
pub fn lock_path(spec: &ImageSpec) -> Option<PathBuf> {
    (!spec.path.as_os_str().is_empty()).then(|| spec.path.with_extension("lock"))
}

/// Pulls every registry image of the spec and puts its layout's path in its place;
/// keeps the lock file beside the spec true (entries added, updated with `update`,
/// unused ones dropped). A spec without registry images is returned as it is.
pub fn fetch(ctx: &Ctx, mut spec: ImageSpec, update: bool) -> Result<ImageSpec> {
    let lock_path = lock_path(&spec);
    let shown = spec.path.display().to_string();
    let mut slots: Vec<(&mut ImageRef, kiln_oci::Platform, String)> = Vec::new();
    let root_platform = spec.rootfs.platform.clone();
    if let Some(oci) = spec.rootfs.oci.as_mut() {
        slots.push((oci, root_platform, "rootfs.oci".into()));
    }
    for c in &mut spec.containers {
        let key = format!("containers.image of {:?}", c.name);
        slots.push((&mut c.image, c.platform.clone(), key));
    }
    let used: Vec<Reference> = slots.iter().filter_map(|(i, _, _)| if let ImageRef::Registry(r) = i { Some(r.clone()) } else { None }).collect();
    let Some(lock_path) = lock_path else {
        anyhow::ensure!(used.is_empty(), "registry images in a spec without a file have no lock file");
        return Ok(spec);
    };
    if used.is_empty() && !lock_path.exists() {
        return Ok(spec);
    }
    let mut lock = Lock::load(&lock_path).map_err(anyhow::Error::msg)?;
    if !used.is_empty() {
        let client = client()?;
        for (slot, platform, key) in slots {
            if let ImageRef::Registry(r) = slot {
                let layout = pull(ctx, &client, Some(&mut lock), r, &platform, update).with_context(|| format!("{shown}: {key}"))?;
                *slot = ImageRef::Path(layout);
            }
        }
    }
    lock.retain(&used);
    if lock.save().map_err(anyhow::Error::msg)? {
        eprintln!("  wrote {}", lock.path().strip_prefix(&ctx.root).unwrap_or(lock.path()).display());
    }
    Ok(spec)
}

/// Pins `r` (with the lock file, if any) and pulls it for `platform`; the layout's path.
/// Without a lock file a tag is resolved each time, and the output says how to pin it.
pub fn pull(ctx: &Ctx, client: &Client, lock: Option<&mut Lock>, r: &Reference, platform: &kiln_oci::Platform, update: bool) -> Result<PathBuf> {
    let (digest, pin) = match lock {
        Some(lock) => {
            let (d, pin) = kiln_registry::pin(client, lock, r, update, true)?;
            if let Some(line) = pin.report(r, &d, lock) {
                eprintln!("  {line}");
            }
            (d, pin)
        }
        None => match &r.digest {
            Some(d) => (d.clone(), Pin::Given),
            None => {
                let d = client.resolve(r)?;
                eprintln!("  {r} is {}: pin it as {}", d.as_str(), r.pinned(&d));
                (d, Pin::Added)
            }
        },
    };
    let store = store(ctx);
    let started = Instant::now();
    let bar = ProgressBar::hidden();
    let style = ProgressStyle::with_template("  {prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}").expect("template").progress_chars("=> ");
    let pulled = kiln_registry::pull(client, &store, &r.pinned(&digest), platform, &mut |p| match p {
        Progress::Start { digest, size, resumed } => {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_style(style.clone());
            bar.set_prefix(format!("{} {}", &digest.hex()[..12], if resumed > 0 { "(resumed)" } else { "" }));
            bar.set_length(size);
            bar.set_position(resumed);
        }
        Progress::Bytes(n) => bar.inc(n),
        Progress::Done => bar.finish_and_clear(),
    });
    let pulled = match pulled {
        Ok(p) => p,
        Err(e) if e.is_unreachable() => {
            return Err(anyhow::Error::new(e).context(format!("{} ({pin}) is not all in the cache {}", r.pinned(&digest), store.root().display())))
        }
        Err(e) => return Err(e.into()),
    };
    eprintln!(
        "  {r} @ {} ({}): {} blob(s) cached, {} fetched ({}) in {:.1} s",
        &digest.as_str()[..19],
        pulled.platform,
        pulled.cached,
        pulled.fetched,
        crate::artifacts::human(pulled.fetched_bytes),
        started.elapsed().as_secs_f64()
    );
    Ok(pulled.layout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_oci::fixtures::{self, FixtureImage, RawTar};
    use kiln_registry::testreg::TestRegistry;

    fn push(reg: &TestRegistry, text: &str, name_tag: &str) {
        let mut layer = RawTar::new();
        layer.file("answer", 0o644, text.as_bytes());
        let img = FixtureImage::with_layers(vec![layer.finish()], kiln_oci::Compression::Gzip);
        let dir = tempfile::tempdir().unwrap();
        fixtures::write_dir(dir.path(), &fixtures::oci_layout_files(&img, "t")).unwrap();
        reg.push(&format!("oci:{}:t", dir.path().display()), name_tag, false).unwrap();
    }

    /// The manifest digest a pulled layout's index.json names.
    fn manifest_of(image: &ImageRef) -> String {
        let index: serde_json::Value = serde_json::from_slice(&std::fs::read(image.path().unwrap().join("index.json")).unwrap()).unwrap();
        index["manifests"][0]["digest"].as_str().unwrap().to_owned()
    }

    #[test]
    fn spec_images_are_pulled_locked_kept_when_the_tag_moves_and_updated_on_request() {
        let reg = TestRegistry::start(None).unwrap();
        push(&reg, "v1", "kiln/app:1");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("images")).unwrap();
        let text = format!(
            "name = \"t\"\n[kernel]\nfragments = [\"10-base\"]\n[busybox]\nfragments = [\"kiln\"]\n[rootfs]\noci = \"{0}\"\n\
             [[containers]]\nname = \"web\"\nimage = \"{0}\"\n",
            reg.reference("kiln/app:1")
        );
        let mut spec = ImageSpec::parse("images/t.toml", &text).unwrap();
        spec.path = dir.path().join("images/t.toml");
        let ctx = Ctx { cache: dir.path().join("cache"), ..Ctx::new() };
        let lock = dir.path().join("images/t.lock");
        let first = fetch(&ctx, spec.clone(), false).unwrap();
        let v1 = manifest_of(first.rootfs.oci.as_ref().unwrap());
        assert_eq!(manifest_of(&first.containers[0].image), v1);
        let locked = std::fs::read_to_string(&lock).unwrap();
        assert!(locked.contains(&reg.reference("kiln/app:1")), "{locked}");
        // The tag moves: the build keeps the locked image and the lock file.
        push(&reg, "v2", "kiln/app:1");
        let again = fetch(&ctx, spec.clone(), false).unwrap();
        assert_eq!(manifest_of(again.rootfs.oci.as_ref().unwrap()), v1);
        assert_eq!(std::fs::read_to_string(&lock).unwrap(), locked);
        // --update follows it.
        let updated = fetch(&ctx, spec.clone(), true).unwrap();
        let v2 = manifest_of(updated.rootfs.oci.as_ref().unwrap());
        assert_ne!(v1, v2);
        assert_ne!(std::fs::read_to_string(&lock).unwrap(), locked);
        // The registry gone: the locked digest builds from the cache.
        drop(reg);
        let offline = fetch(&ctx, spec.clone(), false).unwrap();
        assert_eq!(manifest_of(offline.rootfs.oci.as_ref().unwrap()), v2);
        // A spec without registry images drops its lock file.
        let mut plain = ImageSpec::parse("images/t.toml", "name = \"t\"\n[kernel]\nfragments = [\"10-base\"]\n[busybox]\nfragments = [\"kiln\"]\n").unwrap();
        plain.path = spec.path.clone();
        fetch(&ctx, plain, false).unwrap();
        assert!(!lock.exists());
    }
}
