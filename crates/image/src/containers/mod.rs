//! `[[containers]]`: the containers an image runs under kiln-ctr, and what the build
//! writes for them: each container's OCI bundle `config.json` ([`config_json`]), its
//! entry in kiln-ctr's manifest ([`manifest_container`], [`manifest`]) and the CNI
//! network ([`conflist_json`]). Paths in the guest come from [`kiln_ctr::manifest`].
//!
//! - `spec.rs`: the spec tables and their checks.
//! - `runtime.rs`: the runtime config, Docker's defaults plus the container's settings.
//! - `seccomp.rs` + `moby-seccomp-default.json`: Docker's default seccomp profile.
//! - `cni.rs`: the conflist and the manifest.
//! - `bundle.rs`: a container's bundle and the shared files in the root tree.

mod bundle;
mod cni;
mod runtime;
mod seccomp;
mod spec;

pub use bundle::{add_bundle, add_shared};
pub use cni::{conflist, conflist_json, conflist_path, manifest, manifest_container, manifest_json, stop_signal, BRIDGE, CONFLIST_FILE, GATEWAY, NETWORK_NAME, SUBNET};
pub use runtime::{
    config_json, process_args, process_env, process_user, run_template_json, runtime_spec, spec_json, ContainerImage, CPU_PERIOD, DEFAULT_CAPABILITIES, DEFAULT_PATH, MASKED_PATHS,
    READONLY_PATHS,
};
pub use seccomp::{allows as seccomp_allows, default_profile as seccomp_profile, GUEST_KERNEL, MOBY_DEFAULT_PROFILE};
pub use spec::{check, parse_bytes, parse_port, valid_container_name, ContainerSpec, ImageRef, User, Volume, BUILTIN_IMAGES, DEFAULT_STOP_TIMEOUT, MIN_MEMORY};
