//! Pulling one pinned image for one platform into the [`Store`]: what is cached is
//! used without asking the registry; only what is missing is fetched.

use crate::client::{Client, Manifest, Progress};
use crate::{is_index, Error, Reference, Result, Store};
use kiln_oci::{Digest, Platform};
use serde::Deserialize;
use std::path::PathBuf;

/// What a pull produced.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// A one-image OCI layout for kiln-oci.
    pub layout: PathBuf,
    /// The digest the reference is pinned to (an index or a manifest).
    pub digest: Digest,
    /// The platform's manifest.
    pub manifest: Digest,
    /// The platform of the image taken.
    pub platform: Platform,
    /// Blobs (manifests, config, layers) found in the cache, and fetched now.
    pub cached: usize,
    pub fetched: usize,
    /// Bytes downloaded now (resumed downloads count what was missing only).
    pub fetched_bytes: u64,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
    size: u64,
    #[serde(default)]
    platform: Option<DescPlatform>,
}

#[derive(Deserialize)]
struct DescPlatform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

impl DescPlatform {
    fn to_platform(&self) -> Platform {
        Platform { os: self.os.clone(), architecture: self.architecture.clone(), variant: self.variant.clone().filter(|v| !v.is_empty()) }
    }
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct ImageManifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

struct Counts {
    cached: usize,
    fetched: usize,
    bytes: u64,
}

/// Pulls `r`, which must be pinned (`@sha256:...`), for `platform`.
pub fn pull(client: &Client, store: &Store, r: &Reference, platform: &Platform, progress: &mut dyn FnMut(Progress)) -> Result<Pulled> {
    let top = r.digest.clone().ok_or_else(|| Error::Reference(format!("{r}: resolve the tag to a digest before pulling")))?;
    let mut n = Counts { cached: 0, fetched: 0, bytes: 0 };
    let shown = r.to_string();
    let first = manifest(client, store, r, &top, None, &mut n)?;
    let (chosen, chosen_platform) = if is_index(&first.media_type) {
        let index: Index = json(&first.bytes, &format!("index {}", top.as_str()))?;
        let mut present = Vec::new();
        let mut found = None;
        for d in &index.manifests {
            let Some(p) = d.platform.as_ref().map(DescPlatform::to_platform) else { continue };
            if p.os == "unknown" {
                continue; // BuildKit's attestation manifests
            }
            present.push(p.to_string());
            if found.is_none() && platform.matches(&p) {
                found = Some((digest(&d.digest, &shown)?, d.size, p));
            }
        }
        let Some((digest, size, p)) = found else {
            present.sort();
            present.dedup();
            return Err(Error::Platform { reference: shown, wanted: platform.to_string(), present: present.join(", ") });
        };
        (manifest(client, store, r, &digest, Some(size), &mut n)?, Some(p))
    } else {
        (first, None)
    };
    let m: ImageManifest = json(&chosen.bytes, &format!("manifest {}", chosen.digest.as_str()))?;
    let config_digest = digest(&m.config.digest, &shown)?;
    let config = blob_small(client, store, r, &config_digest, m.config.size, &mut n)?;
    // A single-platform image says its platform in its config.
    let image_platform = match chosen_platform {
        Some(p) => p,
        None => json::<DescPlatform>(&config, &format!("config {}", config_digest.as_str()))?.to_platform(),
    };
    if !platform.matches(&image_platform) {
        return Err(Error::Platform { reference: shown, wanted: platform.to_string(), present: image_platform.to_string() });
    }
    for layer in &m.layers {
        let d = digest(&layer.digest, &shown)?;
        if store.has(&d) {
            n.cached += 1;
            continue;
        }
        let partial = store.partial_path(&d);
        store.prepare(&partial)?;
        store.prepare(&store.blob_path(&d))?;
        n.bytes += client.blob(r, &d, layer.size, &partial, &store.blob_path(&d), progress)?;
        n.fetched += 1;
    }
    let layout = store.layout(&chosen.digest, &chosen.media_type, chosen.bytes.len() as u64, &image_platform, &r.unpinned().to_string())?;
    Ok(Pulled { layout, digest: top, manifest: chosen.digest, platform: image_platform, cached: n.cached, fetched: n.fetched, fetched_bytes: n.bytes })
}

/// A manifest or index from the cache, else from the registry (then cached).
fn manifest(client: &Client, store: &Store, r: &Reference, d: &Digest, size: Option<u64>, n: &mut Counts) -> Result<Manifest> {
    let bytes = match store.read(d)? {
        Some(b) => {
            n.cached += 1;
            b
        }
        None => {
            let m = client.manifest(r, d.as_str())?;
            store.put(d, &m.bytes)?;
            n.fetched += 1;
            n.bytes += m.bytes.len() as u64;
            m.bytes
        }
    };
    if let Some(size) = size.filter(|s| *s != bytes.len() as u64) {
        return Err(Error::Size { what: "manifest".into(), digest: d.as_str().into(), expected: size, actual: bytes.len() as u64 });
    }
    let v: serde_json::Value = json(&bytes, &format!("manifest {}", d.as_str()))?;
    let media_type = v.get("mediaType").and_then(|m| m.as_str()).map(str::to_owned).unwrap_or_else(|| {
        // OCI manifests may leave mediaType out: an index has `manifests`.
        if v.get("manifests").is_some() { crate::MANIFEST_TYPES[0] } else { crate::MANIFEST_TYPES[1] }.to_owned()
    });
    Ok(Manifest { bytes, media_type, digest: d.clone() })
}

/// A small blob (the config) from the cache, else the registry.
fn blob_small(client: &Client, store: &Store, r: &Reference, d: &Digest, size: u64, n: &mut Counts) -> Result<Vec<u8>> {
    if let Some(b) = store.read(d)? {
        n.cached += 1;
        return Ok(b);
    }
    if size > crate::client::MAX_MANIFEST_BYTES {
        return Err(Error::Format { what: format!("config {}", d.as_str()), reason: format!("{size} bytes is too large for an image config") });
    }
    let partial = store.partial_path(d);
    store.prepare(&partial)?;
    store.prepare(&store.blob_path(d))?;
    n.bytes += client.blob(r, d, size, &partial, &store.blob_path(d), &mut |_| {})?;
    n.fetched += 1;
    store.read(d)?.ok_or_else(|| Error::Format { what: format!("config {}", d.as_str()), reason: "vanished from the cache".into() })
}

fn digest(s: &str, shown: &str) -> Result<Digest> {
    let d = Digest::parse(s).map_err(|e| Error::Format { what: shown.into(), reason: e })?;
    if d.algorithm() != "sha256" {
        return Err(Error::Format { what: shown.into(), reason: format!("{s}: Kiln's cache keeps sha256 blobs only") });
    }
    Ok(d)
}

fn json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Format { what: what.into(), reason: e.to_string() })
}
