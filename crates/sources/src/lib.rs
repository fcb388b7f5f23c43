//! Pinned sources for Kiln's builds.
//!
//! `sources.toml` names, for each source (Linux, BusyBox), a version and the providers
//! that can yield its tarball, all pinning the sha256 of that one file. The pin is the
//! source's identity in cache keys, so a build that is cached never reads the tarball;
//! when a build needs the tree ([`Pinned::unpack`]), the tarball is fetched and
//! extracted. A file is used only after its sha256 matched the pin, every time it is
//! read: when it is downloaded, when it is taken from the cache, and while it is
//! extracted. A mismatch is an error naming `sources.toml`, the provider, the file and
//! both hashes; a file that matches no known pin is moved aside so it is never used.

mod extract;
mod fetch;
mod hash;
mod spec;
mod tree;

pub use extract::extract_tarball;
pub use fetch::{Fetched, Fetcher, Runner, SystemRunner, DEFAULT_STALL};
pub use hash::{sha256_file, HashingReader};
pub use spec::{Provider, Source, Sources};
pub use tree::{remove_leftovers, unpacked, Pinned, Tree};
pub use fetch::RunOutput;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    Spec { path: PathBuf, message: String },
    #[error("{0}")]
    Mismatch(Box<Mismatch>),
    #[error("no provider could supply {name} {version}:\n{tried}")]
    NoProvider { name: String, version: String, tried: String },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

/// A cached file whose sha256 is not its pin (boxed: errors stay small).
#[derive(Debug)]
pub struct Mismatch {
    pub path: PathBuf,
    /// `sources.toml`.
    pub spec: PathBuf,
    /// `[linux] provider 1 (debian package ...)`.
    pub provider: String,
    pub expected: String,
    pub actual: String,
    /// What became of the file.
    pub note: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Mismatch { path, spec, provider, expected, actual, note } = self;
        write!(f, "sha256 mismatch for {} from {provider}: {} pins {expected} but the file has {actual}{note}", path.display(), spec.display())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}
