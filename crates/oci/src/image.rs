//! Finding the image in the input: format, platform, manifest, config and
//! layers. Every JSON document that has a digest is checked before it is
//! parsed; layers are checked in `layer.rs`.

use std::path::Path;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use serde::de::DeserializeOwned;

use crate::digest::{self, Digest};
use crate::docker;
use crate::fs::Fs;
use crate::layer::apply_layer;
use crate::platform::Platform;
use crate::rootfs::Rootfs;
use crate::spool::Spool;
use crate::store::Store;
use crate::{Error, Options};

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
const MANIFEST_TYPES: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
/// Annotations that name an image in an index.
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// The input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/`).
    OciLayout,
    /// An OCI image layout in a tar archive (`skopeo copy ... oci-archive:`).
    OciArchive,
    /// `docker save` of Docker 25+: an OCI layout and `manifest.json` in one
    /// tar; the OCI layout is read.
    DockerSave,
    /// `docker save` before Docker 25: only `manifest.json` (tar or directory).
    DockerSaveLegacy,
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

/// One layer of the image, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRef {
    /// The blob's file in the image.
    pub path: String,
    /// The blob's digest (`None` for a legacy `docker save` layer whose name
    /// is not a digest: then only the diff_id checks it).
    pub digest: Option<Digest>,
    /// The blob's size from its descriptor.
    pub size: Option<u64>,
    /// How it is compressed.
    pub compression: Compression,
    /// The digest of the uncompressed tar, from the config's `diff_ids`.
    pub diff_id: Digest,
}

impl LayerRef {
    /// The digest, else the path: how errors name the layer.
    pub fn name(&self) -> String {
        match &self.digest {
            Some(d) => d.to_string(),
            None => format!("{}, diff_id {}", self.path, self.diff_id),
        }
    }
}

/// What the image's config says about running it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageConfig {
    /// The platform the image is for.
    pub platform: Platform,
    /// `Env`: `NAME=value` strings.
    pub env: Vec<String>,
    /// `WorkingDir`.
    pub working_dir: Option<String>,
    /// `User` (`name`, `uid`, `uid:gid`, ...).
    pub user: Option<String>,
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `StopSignal` (`SIGQUIT`, `QUIT` or a number, as the image says it).
    pub stop_signal: Option<String>,
}

impl ImageConfig {
    /// The command a container runs: `Entrypoint` followed by `Cmd`.
    pub fn command(&self) -> Vec<String> {
        self.entrypoint.iter().chain(&self.cmd).cloned().collect()
    }

    pub(crate) fn from_spec(c: &ImageConfiguration) -> ImageConfig {
        let p = oci_spec::image::PlatformBuilder::default()
            .os(c.os().clone())
            .architecture(c.architecture().clone())
            .build()
            .expect("os and architecture are set");
        let mut platform = Platform::from_spec(&p);
        platform.variant = c.variant().clone().filter(|v| !v.is_empty());
        let cfg = c.config().clone().unwrap_or_default();
        ImageConfig {
            platform,
            env: cfg.env().clone().unwrap_or_default(),
            working_dir: cfg.working_dir().clone().filter(|w| !w.is_empty()),
            user: cfg.user().clone().filter(|u| !u.is_empty()),
            entrypoint: cfg.entrypoint().clone().unwrap_or_default(),
            cmd: cfg.cmd().clone().unwrap_or_default(),
            stop_signal: cfg.stop_signal().clone().filter(|s| !s.is_empty()),
        }
    }
}

/// An image found in the input, ready to unpack.
pub struct Image {
    store: Store,
    format: Format,
    config: ImageConfig,
    layers: Vec<LayerRef>,
    manifest_digest: Option<Digest>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("path", &self.store.path())
            .field("format", &self.format)
            .field("config", &self.config)
            .field("layers", &self.layers)
            .finish()
    }
}

impl Image {
    /// Finds the image in `path`: an OCI layout directory, an `oci-archive`
    /// or a `docker save` tarball. Picks `options.reference` if given (a
    /// ref name or repo tag) and `options.platform` from an index. Reads and
    /// checks the index, manifest and config; layers are read by
    /// [`Image::unpack`].
    pub fn open(path: &Path, options: &Options) -> Result<Image, Error> {
        let store = Store::open(path)?;
        let oci = store.exists("index.json");
        let docker = store.exists("manifest.json");
        let format = match (oci, docker) {
            (true, _) if !store.is_archive() => Format::OciLayout,
            (true, false) => Format::OciArchive,
            (true, true) => Format::DockerSave,
            (false, true) => Format::DockerSaveLegacy,
            (false, false) => return Err(Error::Format {
                path: path.to_owned(),
                reason:
                    "neither an OCI layout (index.json) nor a docker save archive (manifest.json)"
                        .into(),
            }),
        };
        let (manifest_digest, config, layers) = match format {
            Format::DockerSaveLegacy => {
                let (config, layers) = docker::resolve(&store, options)?;
                (None, config, layers)
            }
            _ => resolve_oci(&store, options)?,
        };
        Ok(Image {
            store,
            format,
            config,
            layers,
            manifest_digest,
        })
    }

    /// The input format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// `Env`, `WorkingDir`, `User`, `Entrypoint`, `Cmd` and the platform.
    pub fn config(&self) -> &ImageConfig {
        &self.config
    }

    /// The layers, oldest first.
    pub fn layers(&self) -> &[LayerRef] {
        &self.layers
    }

    /// The manifest's digest (none for a legacy `docker save`).
    pub fn manifest_digest(&self) -> Option<&Digest> {
        self.manifest_digest.as_ref()
    }

    /// Applies the layers, oldest first, to an empty in-memory tree. File
    /// contents over `options.inline_max` bytes go to a spool file in
    /// `options.spool_dir`.
    pub fn unpack(&self, options: &Options) -> Result<Rootfs, Error> {
        let mut fs = Fs::new();
        let mut spool = Spool::new(&options.spool_dir, options.inline_max);
        let mut used = 0;
        for (index, layer) in self.layers.iter().enumerate() {
            apply_layer(
                &mut fs,
                &mut spool,
                &self.store,
                index,
                layer,
                &options.limits,
                &mut used,
            )?;
        }
        Ok(Rootfs::new(fs, spool))
    }
}

pub(crate) fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.hex())
}

fn parse_json<T: DeserializeOwned>(data: &[u8], what: &str) -> Result<T, Error> {
    serde_json::from_slice(data).map_err(|e| Error::Json {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}

/// Reads a blob named by a descriptor, checks its size and digest, parses it.
fn load<T: DeserializeOwned>(
    store: &Store,
    d: &Descriptor,
    what: &str,
    options: &Options,
) -> Result<T, Error> {
    let digest = Digest::parse(d.digest().as_ref()).map_err(|reason| Error::Json {
        what: what.to_owned(),
        reason,
    })?;
    if d.size() > options.limits.max_json {
        return Err(Error::Json {
            what: what.to_owned(),
            reason: format!(
                "{} bytes is more than the {} allowed (Limits::max_json)",
                d.size(),
                options.limits.max_json
            ),
        });
    }
    let path = blob_path(&digest);
    if !store.exists(&path) {
        return Err(Error::MissingBlob {
            digest: digest.to_string(),
            what: what.to_owned(),
        });
    }
    let data = store.read_small(&path, options.limits.max_json)?;
    digest::check(&data, &digest, Some(d.size())).map_err(|detail| Error::Mismatch {
        digest: digest.to_string(),
        what: what.to_owned(),
        detail,
    })?;
    parse_json(&data, what)
}

fn names(d: &Descriptor) -> Vec<String> {
    let a = d.annotations().clone().unwrap_or_default();
    [REF_NAME, CONTAINERD_NAME]
        .iter()
        .filter_map(|k| a.get(*k).cloned())
        .collect()
}

fn is(media: &MediaType, types: &[&str]) -> bool {
    types.contains(&media.to_string().as_str())
}

type Resolved = (Option<Digest>, ImageConfig, Vec<LayerRef>);

fn resolve_oci(store: &Store, options: &Options) -> Result<Resolved, Error> {
    if store.exists("oci-layout") {
        let layout: serde_json::Value = parse_json(
            &store.read_small("oci-layout", options.limits.max_json)?,
            "oci-layout",
        )?;
        let version = layout
            .get("imageLayoutVersion")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if version != "1.0.0" {
            return Err(Error::Json {
                what: "oci-layout".into(),
                reason: format!("image layout version {version:?}, Kiln reads 1.0.0"),
            });
        }
    }
    let index: ImageIndex = parse_json(
        &store.read_small("index.json", options.limits.max_json)?,
        "index.json",
    )?;
    let mut tops: Vec<&Descriptor> = index.manifests().iter().collect();
    let all_names: Vec<String> = tops.iter().flat_map(|d| names(d)).collect();
    if let Some(wanted) = &options.reference {
        tops.retain(|d| names(d).iter().any(|n| n == wanted));
        if tops.is_empty() {
            return Err(Error::NoImage {
                reason: format!("no image named {wanted:?}"),
                present: all_names,
            });
        }
    }
    // Nested indexes (multi-platform images) are opened one level deep.
    let mut candidates: Vec<Descriptor> = Vec::new();
    for d in tops {
        if is(d.media_type(), &INDEX_TYPES) {
            let nested: ImageIndex = load(store, d, "image index", options)?;
            candidates.extend(
                nested
                    .manifests()
                    .iter()
                    .filter(|m| is(m.media_type(), &MANIFEST_TYPES))
                    .cloned(),
            );
        } else if is(d.media_type(), &MANIFEST_TYPES) {
            candidates.push(d.clone());
        }
    }
    let mut present = Vec::new();
    let mut matching: Vec<(Descriptor, Option<(ImageManifest, ImageConfiguration)>)> = Vec::new();
    for d in candidates {
        let (platform, loaded) = match d.platform() {
            Some(p) => (Platform::from_spec(p), None),
            None => {
                let (m, c) = load_manifest(store, &d, options)?;
                (ImageConfig::from_spec(&c).platform, Some((m, c)))
            }
        };
        if platform.os == "unknown" {
            continue; // BuildKit's attestation manifests
        }
        present.push(platform.to_string());
        if options.platform.matches(&platform)
            && !matching.iter().any(|(m, _)| m.digest() == d.digest())
        {
            matching.push((d, loaded));
        }
    }
    match matching.len() {
        0 => {
            present.sort();
            present.dedup();
            Err(Error::NoPlatform {
                wanted: options.platform.to_string(),
                present,
            })
        }
        1 => {
            let (d, loaded) = matching.pop().expect("one");
            let (manifest, config) = match loaded {
                Some(l) => l,
                None => load_manifest(store, &d, options)?,
            };
            let digest = Digest::parse(d.digest().as_ref()).ok();
            let image_config = ImageConfig::from_spec(&config);
            if !options.platform.matches(&image_config.platform) {
                return Err(Error::NoPlatform {
                    wanted: options.platform.to_string(),
                    present: vec![image_config.platform.to_string()],
                });
            }
            let layers = layers(&manifest, &config)?;
            Ok((digest, image_config, layers))
        }
        n => Err(Error::NoImage {
            reason: format!(
                "{n} images match {}; name one with a reference",
                options.platform
            ),
            present: all_names,
        }),
    }
}

fn load_manifest(
    store: &Store,
    d: &Descriptor,
    options: &Options,
) -> Result<(ImageManifest, ImageConfiguration), Error> {
    let manifest: ImageManifest = load(store, d, "image manifest", options)?;
    if let Some(t) = manifest.media_type() {
        if !is(t, &MANIFEST_TYPES) {
            return Err(Error::Json {
                what: "image manifest".into(),
                reason: format!("media type {t} is not an image manifest"),
            });
        }
    }
    let config: ImageConfiguration = load(store, manifest.config(), "image config", options)?;
    Ok((manifest, config))
}

fn compression(media: &str) -> Option<Compression> {
    match media {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Compression::Gzip),
        "application/vnd.oci.image.layer.v1.tar+zstd"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
        | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

pub(crate) fn diff_ids(config: &ImageConfiguration, layers: usize) -> Result<Vec<Digest>, Error> {
    let ids = config.rootfs().diff_ids();
    if ids.len() != layers {
        return Err(Error::Json {
            what: "image config".into(),
            reason: format!("{} diff_ids for {layers} layers", ids.len()),
        });
    }
    ids.iter()
        .map(|id| {
            Digest::parse(id).map_err(|reason| Error::Json {
                what: "image config diff_ids".into(),
                reason,
            })
        })
        .collect()
}

fn layers(manifest: &ImageManifest, config: &ImageConfiguration) -> Result<Vec<LayerRef>, Error> {
    let ids = diff_ids(config, manifest.layers().len())?;
    manifest
        .layers()
        .iter()
        .zip(ids)
        .enumerate()
        .map(|(index, (d, diff_id))| {
            let digest = Digest::parse(d.digest().as_ref()).map_err(|reason| Error::Json {
                what: format!("layer {index} descriptor"),
                reason,
            })?;
            let media = d.media_type().to_string();
            let compression = compression(&media).ok_or_else(|| Error::MediaType {
                layer: crate::error::LayerId {
                    index,
                    digest: digest.to_string(),
                },
                media_type: media.clone(),
            })?;
            Ok(LayerRef {
                path: blob_path(&digest),
                digest: Some(digest),
                size: Some(d.size()),
                compression,
                diff_id,
            })
        })
        .collect()
}
