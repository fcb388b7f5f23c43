//! Reading one layer: verify the blob, decompress with a size cap, check
//! the diff_id, and apply every member to the tree.

use std::io::{self, Read};

use crate::apply::{apply, ApplyError};
use crate::digest::{Capped, Verifier, CAP_EXCEEDED};
use crate::error::LayerId;
use crate::fs::Fs;
use crate::image::{Compression, LayerRef};
use crate::spool::Spool;
use crate::store::Store;
use crate::tarstream::{self, HeaderCaps, TarError};
use crate::{Error, Limits};

/// Largest zstd window accepted (zstd's own default limit, 2^27).
const ZSTD_MAX_WINDOW: u64 = 1 << 27;

/// Applies `layer` (number `index`, oldest 0) to `fs`. `used` is the
/// uncompressed bytes of the layers before it, for the image-wide cap; the
/// layer's own are added.
pub(crate) fn apply_layer(
    fs: &mut Fs,
    spool: &mut Spool,
    store: &Store,
    index: usize,
    layer: &LayerRef,
    limits: &Limits,
    used: &mut u64,
) -> Result<(), Error> {
    let id = LayerId {
        index,
        digest: layer.name(),
    };
    let mismatch = |detail| Error::Mismatch {
        digest: layer.name(),
        what: format!("layer {index}"),
        detail,
    };
    // The whole blob is checked before use...
    if layer.digest.is_some() || layer.size.is_some() {
        let file = store.open_file(&layer.path)?;
        Verifier::maybe(file, layer.digest.as_ref(), layer.size)
            .finish()
            .map_err(mismatch)?;
    }
    // ...and the bytes actually used are hashed again as they are read.
    let mut blob = Verifier::maybe(
        store.open_file(&layer.path)?,
        layer.digest.as_ref(),
        layer.size,
    );
    let layer_cap = limits.max_layer_bytes;
    let image_room = limits.max_image_bytes.saturating_sub(*used);
    let (limit, field) = if image_room < layer_cap {
        (image_room, "max_image_bytes")
    } else {
        (layer_cap, "max_layer_bytes")
    };
    let too_big = || Error::TooBig {
        layer: id.clone(),
        what: "the uncompressed layer".to_owned(),
        limit,
        field,
    };
    let is_cap = |e: &io::Error| e.to_string() == CAP_EXCEEDED;

    let (err, diff) = {
        let compressed: &mut dyn Read = &mut blob;
        let decompressed: Box<dyn Read + '_> = match layer.compression {
            Compression::None => Box::new(compressed),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(
                compressed,
            ))),
            Compression::Zstd => Box::new(
                ruzstd::decoding::StreamingDecoder::new_with_max_window_size(
                    compressed,
                    ZSTD_MAX_WINDOW,
                )
                .map_err(|e| Error::Layer {
                    layer: id.clone(),
                    after: String::new(),
                    source: io::Error::other(format!("zstd: {e}")),
                })?,
            ),
        };
        let capped = Capped {
            inner: decompressed,
            limit,
            read: 0,
        };
        let mut plain = Verifier::new(capped, &layer.diff_id, None);
        let caps = HeaderCaps {
            long_name: limits.max_name_header,
            pax: limits.max_pax_header,
        };
        let mut entries = 0u64;
        let result = tarstream::walk(&mut plain, caps, |member, data, _| {
            entries += 1;
            if entries > limits.max_entries {
                let reason = format!(
                    "more than {} entries in one layer (Limits::max_entries)",
                    limits.max_entries
                );
                return Err((member.display_path(), ApplyError::Reject(reason)));
            }
            apply(fs, spool, index, member, data).map_err(|e| (member.display_path(), e))
        });
        let err = match result {
            Ok(()) => None,
            Err(TarError::Io { source, .. }) if is_cap(&source) => Some(too_big()),
            Err(TarError::Io { after, source }) => Some(Error::Layer {
                layer: id.clone(),
                after,
                source,
            }),
            Err(TarError::Entry { entry, reason }) => Some(Error::Entry {
                layer: id.clone(),
                entry,
                reason,
            }),
            Err(TarError::Callback((entry, ApplyError::Reject(reason)))) => Some(Error::Entry {
                layer: id.clone(),
                entry,
                reason,
            }),
            Err(TarError::Callback((_, ApplyError::Read(e)))) if is_cap(&e) => Some(too_big()),
            Err(TarError::Callback((entry, ApplyError::Read(source)))) => Some(Error::Layer {
                layer: id.clone(),
                after: entry,
                source,
            }),
            Err(TarError::Callback((_, ApplyError::Spool(source)))) => Some(Error::Spool {
                dir: spool.dir().to_owned(),
                source,
            }),
        };
        match err {
            Some(err) => {
                drop(plain);
                (Some(err), None)
            }
            // The rest of the stream (tar padding) counts for the diff_id.
            None => (None, Some(plain.finish())),
        }
    };
    // A blob that does not match its digest explains any other failure.
    blob.finish().map_err(mismatch)?;
    if let Some(err) = err {
        return Err(err);
    }
    match diff {
        Some(Err(detail)) if detail == CAP_EXCEEDED => Err(too_big()),
        Some(Err(detail)) => Err(Error::Mismatch {
            digest: layer.diff_id.to_string(),
            what: format!("uncompressed layer {index} (diff_id in the config)"),
            detail,
        }),
        Some(Ok(n)) => {
            *used += n;
            Ok(())
        }
        None => unreachable!("no error means the stream was finished"),
    }
}
