//! The legacy `docker save` layout: `manifest.json` lists, per image, the
//! config file, the repo tags and the layer files (uncompressed tars, or
//! compressed ones found by their magic bytes).

use std::io::Read;

use oci_spec::image::ImageConfiguration;
use serde::Deserialize;

use crate::digest::{self, Digest};
use crate::image::{diff_ids, Compression, ImageConfig, LayerRef};
use crate::store::Store;
use crate::{Error, Options};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// The digest a file's name claims: `blobs/ALG/HEX` or `HEX.json`.
fn digest_of_name(name: &str) -> Option<Digest> {
    let name = name.trim_start_matches("./");
    if let Some(rest) = name.strip_prefix("blobs/") {
        let (alg, hex) = rest.split_once('/')?;
        return Digest::parse(&format!("{alg}:{hex}")).ok();
    }
    let hex = name.strip_suffix(".json")?;
    Digest::parse(&format!("sha256:{hex}")).ok()
}

fn tag_matches(tag: &str, wanted: &str) -> bool {
    tag == wanted
        || tag.ends_with(&format!("/{wanted}"))
        || (!wanted.contains(':') && tag_matches(tag, &format!("{wanted}:latest")))
}

pub(crate) fn resolve(
    store: &Store,
    options: &Options,
) -> Result<(ImageConfig, Vec<LayerRef>), Error> {
    let data = store.read_small("manifest.json", options.limits.max_json)?;
    let entries: Vec<Entry> = serde_json::from_slice(&data).map_err(|e| Error::Json {
        what: "manifest.json".into(),
        reason: e.to_string(),
    })?;
    let tags = |e: &Entry| e.repo_tags.clone().unwrap_or_default();
    let present: Vec<String> = entries.iter().flat_map(tags).collect();
    let chosen: Vec<&Entry> = match &options.reference {
        Some(wanted) => entries
            .iter()
            .filter(|e| tags(e).iter().any(|t| tag_matches(t, wanted)))
            .collect(),
        None => entries.iter().collect(),
    };
    let entry = match (chosen.len(), &options.reference) {
        (1, _) => chosen[0],
        (0, Some(wanted)) => {
            return Err(Error::NoImage {
                reason: format!("no image tagged {wanted:?}"),
                present,
            })
        }
        (0, None) => {
            return Err(Error::NoImage {
                reason: "manifest.json lists no image".into(),
                present,
            })
        }
        (n, _) => {
            return Err(Error::NoImage {
                reason: format!("{n} images in the archive; name one with a reference"),
                present,
            })
        }
    };

    let data = store.read_small(&entry.config, options.limits.max_json)?;
    if let Some(digest) = digest_of_name(&entry.config) {
        digest::check(&data, &digest, None).map_err(|detail| Error::Mismatch {
            digest: digest.to_string(),
            what: "image config".into(),
            detail,
        })?;
    }
    let config: ImageConfiguration = serde_json::from_slice(&data).map_err(|e| Error::Json {
        what: "image config".into(),
        reason: e.to_string(),
    })?;
    let image_config = ImageConfig::from_spec(&config);
    if !options.platform.matches(&image_config.platform) {
        return Err(Error::NoPlatform {
            wanted: options.platform.to_string(),
            present: vec![image_config.platform.to_string()],
        });
    }
    let ids = diff_ids(&config, entry.layers.len())?;
    let mut layers = Vec::new();
    for (path, diff_id) in entry.layers.iter().zip(ids) {
        let size = store.size(path).ok_or_else(|| Error::MissingBlob {
            digest: path.clone(),
            what: "layer".into(),
        })?;
        let mut magic = Vec::new();
        store
            .open_file(path)?
            .take(4)
            .read_to_end(&mut magic)
            .map_err(Error::io(store.path().join(path)))?;
        let compression = match magic.as_slice() {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd] => Compression::Zstd,
            _ => Compression::None,
        };
        layers.push(LayerRef {
            path: path.clone(),
            digest: digest_of_name(path),
            size: Some(size),
            compression,
            diff_id,
        });
    }
    Ok((image_config, layers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_digests() {
        let hex = "a".repeat(64);
        assert_eq!(
            digest_of_name(&format!("blobs/sha256/{hex}"))
                .unwrap()
                .hex(),
            hex
        );
        assert_eq!(
            digest_of_name(&format!("{hex}.json")).unwrap().algorithm(),
            "sha256"
        );
        assert!(digest_of_name("abc/layer.tar").is_none());
        assert!(tag_matches("docker.io/library/busybox:latest", "busybox"));
        assert!(
            tag_matches("kiln/fixture:1", "kiln/fixture:1")
                && !tag_matches("kiln/fixture:1", "fixture:2")
        );
    }
}
