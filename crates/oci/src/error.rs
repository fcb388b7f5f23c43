//! Errors. Every error about a layer names the layer (index, oldest first, and
//! digest) and, where there is one, the entry's path in the layer.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Which layer an error is about: its index (0 = oldest) and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerId {
    /// Position in the manifest, 0 for the oldest (bottom) layer.
    pub index: usize,
    /// The layer blob's digest (for a legacy `docker save` layer, its path in
    /// the archive and the diff_id it must have).
    pub digest: String,
}

impl fmt::Display for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "layer {} ({})", self.index, self.digest)
    }
}

/// Everything that can go wrong reading an image or applying its layers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The image could not be read from the host.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The input is not an image in a format Kiln reads.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file or directory given.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// A blob (JSON document or layer) is missing from the image.
    #[error("blob {digest} is missing from the image ({what})")]
    MissingBlob {
        /// Its digest or path.
        digest: String,
        /// What it was for.
        what: String,
    },
    /// A blob's size or digest differs from its descriptor.
    #[error("blob {digest} ({what}) does not match its descriptor: {detail}")]
    Mismatch {
        /// The expected digest.
        digest: String,
        /// What it was for.
        what: String,
        /// Expected and actual size or digest.
        detail: String,
    },
    /// A JSON document (index, manifest, config) is malformed or not what
    /// was expected.
    #[error("invalid {what}: {reason}")]
    Json {
        /// Which document.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The platform asked for is not in the image.
    #[error("the image has no {wanted} variant; it has: {}", if present.is_empty() { "none".to_owned() } else { present.join(", ") })]
    NoPlatform {
        /// The platform asked for, e.g. `linux/amd64`.
        wanted: String,
        /// The platforms the image has.
        present: Vec<String>,
    },
    /// The image (tag) asked for is not in the archive, or there are several
    /// and none was named.
    #[error("{reason}; the image has: {}", if present.is_empty() { "no tags".to_owned() } else { present.join(", ") })]
    NoImage {
        /// What went wrong.
        reason: String,
        /// The names the archive has.
        present: Vec<String>,
    },
    /// A layer's media type is not one Kiln reads.
    #[error("{layer}: unsupported media type {media_type}")]
    MediaType {
        /// The layer.
        layer: LayerId,
        /// Its media type.
        media_type: String,
    },
    /// A layer (or the whole image) is bigger than the limits allow.
    #[error("{layer}: {what} exceeds the limit of {limit} bytes (decompression bomb?); raise Limits::{field} if the image is genuine")]
    TooBig {
        /// The layer.
        layer: LayerId,
        /// What grew too big.
        what: String,
        /// The limit.
        limit: u64,
        /// The [`crate::Limits`] field that sets it.
        field: &'static str,
    },
    /// A layer's tar stream is malformed, hostile or escapes the root.
    #[error("{layer}: entry {entry:?}: {reason}")]
    Entry {
        /// The layer.
        layer: LayerId,
        /// The entry's path as the archive gives it.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A layer's tar stream could not be read (truncated, corrupt, bad
    /// compression).
    #[error("{layer}: cannot read the layer after entry {after:?}: {source}")]
    Layer {
        /// The layer.
        layer: LayerId,
        /// The last entry read successfully ("" at the start).
        after: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The spool file for large file contents failed.
    #[error("cannot write the spool file in {}", dir.display())]
    Spool {
        /// The directory the spool file is in.
        dir: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The tree could not be turned into a `kiln_initramfs::Tree`.
    #[error("cannot convert the image to an initramfs tree")]
    Tree(#[from] kiln_initramfs::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
