//! What an image is: `images/NAME.toml` (kernel fragments and command line, BusyBox,
//! init configuration, network, ISO settings), and the root file system built from it.

pub mod containers;
pub mod contract;
pub mod iso_yaml;
mod live;
pub mod network;
mod oci_rootfs;
mod oci_user;
mod rootfs;
mod spec;

pub use oci_rootfs::{check_size, init_config, oci_rootfs, unpacked_size, OciInputs, BUSYBOX_DIR, SERVICE_NAME};
pub use live::live_initramfs;
pub use rootfs::{rootfs, RootfsInputs};
pub use spec::{
    valid_fs_label, valid_name, Budget, BusyboxBase, BusyboxSpec, ImageSpec, InitSpec, IsoLayout, IsoSpec, KernelSpec, MenuEntry, RootMode, RootfsSpec, RunMode,
    CTR_BINARY, CTR_SERVICE, CTR_STOP_MARGIN_SECS, DEFAULT_MAX_INITRAMFS_BYTES, LIVE_FRAGMENT, PERSIST_FRAGMENT,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    Spec { path: String, message: String },
    #[error("image {name:?} not found: no {path}; available: {available}")]
    NotFound { name: String, path: String, available: String },
    #[error("invalid image name {name:?}: a name is 1-64 characters of a-z, 0-9, - and _, starting with a letter or digit; available: {available}")]
    InvalidName { name: String, available: String },
    #[error("contract mode: {message}")]
    Contract { message: String },
    #[error("container {name:?}: {message}")]
    Container { name: String, message: String },
    #[error("container image: {message}")]
    Oci { message: String },
    #[error(transparent)]
    Tree(#[from] kiln_initramfs::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
