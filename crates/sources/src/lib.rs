//! Pinned sources for Kiln's builds.
//!
//! `sources.toml` names, for each source (Linux, BusyBox), a version and the providers
//! that can yield its tarball, each with the sha256 of the exact file it yields. A file is
//! verified every time it is used: after a download and whenever it is taken from the
//! cache. A mismatch is an error naming the file and both hashes, and the file is moved
//! aside so that it is never used.

mod extract;
mod fetch;
mod hash;
mod spec;

pub use extract::extract_tarball;
pub use fetch::{Fetched, Fetcher, Runner};
pub use hash::{sha256_file, verify_sha256};
pub use spec::{Provider, Source, Sources};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    Spec { path: PathBuf, message: String },
    #[error("sha256 mismatch for {path}: expected {expected}, got {actual}{note}")]
    Mismatch { path: PathBuf, expected: String, actual: String, note: String },
    #[error("no provider could supply {name} {version}:\n{tried}")]
    NoProvider { name: String, version: String, tried: String },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}
