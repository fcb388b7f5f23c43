//! The manifest: what the build tool writes into the image and kiln-ctr reads.
//!
//! Layout in the guest (the paths are constants here so both sides agree):
//! - [`MANIFEST_PATH`]: this manifest (JSON), containers in start order.
//! - `/containers/NAME/config.json` + `/containers/NAME/rootfs/`: the OCI bundle.
//!   The network namespace in `config.json` is [`netns_path`]`(NAME)`, made by
//!   kiln-ctr before the container is created and handed to the CNI plugins.
//! - [`CNI_CONF_DIR`]`/10-kiln.conflist` and the plugins in [`CNI_BIN_DIR`].
//! - State under [`STATE_DIR`], logs in [`LOG_DIR`]`/NAME.log`.

use serde::{Deserialize, Serialize};

pub const MANIFEST_PATH: &str = "/etc/kiln-ctr/containers.json";
pub const BUNDLES_DIR: &str = "/containers";
pub const STATE_DIR: &str = "/run/kiln-ctr";
pub const LOG_DIR: &str = "/var/log/containers";
pub const CNI_CONF_DIR: &str = "/etc/cni/net.d";
pub const CNI_BIN_DIR: &str = "/usr/lib/cni";
/// The cgroup v2 parent of every container: `/sys/fs/cgroup/kiln/NAME`.
pub const CGROUP_PARENT: &str = "/kiln";

/// The network namespace file of a container, bind-mounted by kiln-ctr.
pub fn netns_path(name: &str) -> String {
    format!("{STATE_DIR}/netns/{name}")
}

/// The OCI bundle directory of a container.
pub fn bundle_path(name: &str) -> String {
    format!("{BUNDLES_DIR}/{name}")
}

/// The cgroup path of a container (the `linux.cgroupsPath` of its config.json).
pub fn cgroup_path(name: &str) -> String {
    format!("{CGROUP_PARENT}/{name}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// In start order; they stop in the reverse order.
    pub containers: Vec<Container>,
    /// The CNI network containers join (the `name` of the conflist), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// The conflist's `name`.
    pub name: String,
    /// The conflist file, e.g. `/etc/cni/net.d/10-kiln.conflist`.
    pub conflist: String,
    /// Where the plugins are (`CNI_PATH`).
    pub bin_dir: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    pub name: String,
    /// The OCI bundle, `/containers/NAME`.
    pub bundle: String,
    pub restart: Restart,
    /// Seconds between the stop signal and SIGKILL.
    pub stop_timeout: u32,
    /// The signal that asks the container to stop, e.g. "SIGTERM" (an image's
    /// `StopSignal`, else SIGTERM).
    pub stop_signal: String,
    /// Whether the container joins the network (else it has a network namespace
    /// with only loopback).
    pub network: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// The memory limit in bytes, for reports (the limit itself is in config.json).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    No,
    OnFailure,
    Always,
}

/// A published port: the CNI `portMappings` capability's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Port {
    pub host_port: u16,
    pub container_port: u16,
    /// "tcp" or "udp".
    pub protocol: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_json() {
        let m = Manifest {
            containers: vec![Container {
                name: "web".into(),
                bundle: bundle_path("web"),
                restart: Restart::OnFailure,
                stop_timeout: 10,
                stop_signal: "SIGTERM".into(),
                network: true,
                ports: vec![Port { host_port: 8080, container_port: 80, protocol: "tcp".into() }],
                memory_limit: Some(16 << 20),
            }],
            network: Some(Network { name: "kiln".into(), conflist: format!("{CNI_CONF_DIR}/10-kiln.conflist"), bin_dir: CNI_BIN_DIR.into() }),
        };
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains(r#""restart":"on-failure""#), "{json}");
        assert!(json.contains(r#""hostPort":8080"#), "{json}");
        assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), m);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = serde_json::from_str::<Manifest>(r#"{"containers":[],"bogus":1}"#).unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }
}
