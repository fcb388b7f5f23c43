//! kiln-registry: pulls images from OCI distribution registries without a daemon.
//!
//! - [`Reference`], a parsed `docker://HOST[:PORT]/NAME[:TAG][@sha256:DIGEST]`;
//! - [`Client`]: the distribution API over blocking HTTP(S): manifests and indexes,
//!   blobs with digest and size checks and resumed downloads; anonymous, bearer-token
//!   and basic auth ([`Credentials`], never printed); plain HTTP only for loopback
//!   hosts and hosts listed as insecure.
//! - [`Store`]: the cache, blobs by digest; [`pull`] fills it for one platform and
//!   writes a one-image OCI layout that kiln-oci's safe reader opens.
//! - [`Lock`]: `images/NAME.lock`, the digests tags resolved to.

mod auth;
mod client;
mod lock;
mod pin;
mod pull;
mod reference;
mod store;
#[cfg(feature = "test-registry")]
pub mod testreg;

pub use auth::{Challenge, Credentials, Login, AUTH_ENV};
pub use client::{Client, Options, Progress, INSECURE_ENV};
pub use lock::{Change, Lock};
pub use pin::{pin, Pin};
pub use pull::{pull, Pulled};
pub use reference::{Reference, SCHEME};
pub use store::Store;

use std::path::PathBuf;

/// What went wrong, naming the registry, reference, digest or file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Reference(String),
    /// The registry could not be reached (DNS, refused, TLS, timeout).
    #[error("cannot reach the registry {host} ({url}): {reason}")]
    Unreachable { host: String, url: String, reason: String },
    #[error("{what}: the registry answered {status} for {url}{detail}")]
    Status { what: String, url: String, status: u16, detail: String },
    #[error("{registry}: {reason}")]
    Auth { registry: String, reason: String },
    #[error("{what} {digest}: the bytes received have {actual} ({size} bytes); refused, nothing cached")]
    Digest { what: String, digest: String, actual: String, size: u64 },
    #[error("{what} {digest}: {actual} bytes received, the manifest says {expected}; refused, nothing cached")]
    Size { what: String, digest: String, expected: u64, actual: u64 },
    #[error("{reference}: no image for {wanted} (the index has: {present})")]
    Platform { reference: String, wanted: String, present: String },
    #[error("{what}: {reason}")]
    Format { what: String, reason: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    /// Whether this is a network failure (the build may go on from the cache).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Media types of manifests and indexes (OCI and Docker), the `Accept` of manifest requests.
pub const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// Whether a media type is an index (several platforms).
pub fn is_index(media_type: &str) -> bool {
    media_type == MANIFEST_TYPES[0] || media_type == MANIFEST_TYPES[2]
}
