//! Container images for Kiln: read an image (OCI layout directory,
//! `oci-archive`, `docker save` old and new) and apply its layers safely to
//! an in-memory tree that becomes an initramfs.
//!
//! ```no_run
//! use kiln_oci::{Image, Options};
//!
//! let options = Options::default(); // linux/amd64, spool in the temp dir
//! let image = Image::open("busybox.tar".as_ref(), &options)?;
//! println!("runs {:?} as {:?}", image.config().command(), image.config().user);
//! let rootfs = image.unpack(&options)?;
//! let tree = rootfs.to_tree()?.tree; // a kiln_initramfs::Tree
//! # Ok::<(), kiln_oci::Error>(())
//! ```
//!
//! # Trust
//!
//! Every layer is hostile input. It is never unpacked onto the host: the
//! `tar` crate is used as a parser only, and entries are applied to
//! [`Rootfs`] with containerd's rules (see `apply.rs`). Every blob with a
//! digest is checked against it and its size before use, and the bytes used
//! are hashed again as they are read; each layer's uncompressed stream is
//! checked against the config's `diff_ids`. Sizes are capped ([`Limits`]).
//!
//! # Memory
//!
//! File contents up to [`Options::inline_max`] bytes (4 KiB by default) are
//! kept in memory; bigger ones are appended to one unlinked spool file in
//! [`Options::spool_dir`] and referenced by offset and length, also from the
//! `Tree` ([`kiln_initramfs::Data::Slice`]). Peak memory is the metadata of
//! every entry ever applied, the small files' contents and fixed buffers
//! (decompression windows, at most 128 MiB for a hostile zstd frame, 64 KiB
//! copies), not the image's size. The spool holds every big file of every
//! layer, including ones later layers delete (disk, not memory).

mod apply;
mod digest;
mod docker;
mod error;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
mod fs;
mod image;
mod layer;
mod platform;
mod rootfs;
mod spool;
mod store;
mod tarstream;

use std::path::PathBuf;

pub use digest::Digest;
pub use error::{Error, LayerId};
pub use fs::{Kind, Meta, MAX_SYMLINK_HOPS};
pub use image::{Compression, Format, Image, ImageConfig, LayerRef};
pub use platform::Platform;
pub use rootfs::{Entry, Rootfs, TreeConversion};
pub use spool::Contents;

/// Caps on what an image may make Kiln read, so hostile images fail with a
/// clear error instead of exhausting memory or disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest JSON document (index, manifest, config, `manifest.json`).
    pub max_json: u64,
    /// Largest uncompressed layer.
    pub max_layer_bytes: u64,
    /// Largest sum of the uncompressed layers.
    pub max_image_bytes: u64,
    /// Most entries in one layer.
    pub max_entries: u64,
    /// Largest PAX extended header.
    pub max_pax_header: u64,
    /// Largest GNU long name or long link header.
    pub max_name_header: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_json: 4 << 20,
            max_layer_bytes: 4 << 30,
            max_image_bytes: 8 << 30,
            max_entries: 1 << 20,
            max_pax_header: 1 << 20,
            max_name_header: 4096,
        }
    }
}

/// How to find and unpack an image.
#[derive(Debug, Clone)]
pub struct Options {
    /// The platform to pick from an index (and that the image must be for).
    pub platform: Platform,
    /// Which image of several: an `org.opencontainers.image.ref.name` or
    /// `io.containerd.image.name` annotation, or a `docker save` repo tag.
    pub reference: Option<String>,
    /// Size caps.
    pub limits: Limits,
    /// Where the spool file is created (e.g. Kiln's cache directory).
    pub spool_dir: PathBuf,
    /// Contents up to this many bytes stay in memory.
    pub inline_max: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            platform: Platform::default(),
            reference: None,
            limits: Limits::default(),
            spool_dir: std::env::temp_dir(),
            inline_max: 4096,
        }
    }
}
