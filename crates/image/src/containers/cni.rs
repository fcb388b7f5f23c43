//! The containers' network (a CNI conflist) and their entries in kiln-ctr's manifest.

use super::spec::ContainerSpec;
use kiln_ctr::manifest::{bundle_path, Container, Manifest, Network, CNI_BIN_DIR, CNI_CONF_DIR};
use serde_json::{json, Value};

/// The CNI network's name (the conflist's `name`).
pub const NETWORK_NAME: &str = "kiln";
/// The conflist's file name in [`CNI_CONF_DIR`].
pub const CONFLIST_FILE: &str = "10-kiln.conflist";
/// The bridge's subnet and gateway (Podman's and nerdctl's default network).
pub const SUBNET: &str = "10.88.0.0/16";
pub const GATEWAY: &str = "10.88.0.1";
/// The bridge device in the guest.
pub const BRIDGE: &str = "cni0";

/// The guest path of the conflist: `/etc/cni/net.d/10-kiln.conflist`.
pub fn conflist_path() -> String {
    format!("{CNI_CONF_DIR}/{CONFLIST_FILE}")
}

/// The CNI network every container with `network = true` joins: a bridge with the
/// host as gateway, masquerading out, hairpin on (a container reaches its own
/// published port), addresses from host-local IPAM with a default route; then portmap,
/// which publishes the ports kiln-ctr passes in the `portMappings` capability.
/// CNI spec 1.0.0; the keys of the bridge, host-local and portmap plugins of
/// containernetworking/plugins 1.x. (serde_json writes the keys sorted.)
pub fn conflist() -> Value {
    json!({
        "cniVersion": "1.0.0",
        "name": NETWORK_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{ "subnet": SUBNET, "gateway": GATEWAY }]],
                    "routes": [{ "dst": "0.0.0.0/0" }]
                }
            },
            { "type": "portmap", "capabilities": { "portMappings": true } }
        ]
    })
}

/// [`conflist`] as the file's bytes (pretty JSON and a newline).
pub fn conflist_json() -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(&conflist()).expect("a JSON value serialises");
    out.push(b'\n');
    out
}

/// Normalises an image's `StopSignal` to the form kiln-ctr reads, `SIGNAME`:
/// `"quit"` and `"SIGQUIT"` become `"SIGQUIT"`; a number stays a number. No signal:
/// `SIGTERM`, as Docker.
pub fn stop_signal(image_signal: Option<&str>) -> String {
    match image_signal.map(str::trim).filter(|s| !s.is_empty()) {
        None => "SIGTERM".into(),
        Some(s) if s.bytes().all(|b| b.is_ascii_digit()) => s.into(),
        Some(s) => {
            let up = s.to_ascii_uppercase();
            if up.starts_with("SIG") {
                up
            } else {
                format!("SIG{up}")
            }
        }
    }
}

/// A container's entry in kiln-ctr's manifest; `image_stop_signal` is its image's
/// `StopSignal` (`kiln_oci::ImageConfig::stop_signal`).
pub fn manifest_container(c: &ContainerSpec, image_stop_signal: Option<&str>) -> Container {
    Container {
        name: c.name.clone(),
        bundle: bundle_path(&c.name),
        restart: c.restart,
        stop_timeout: c.stop_timeout,
        stop_signal: stop_signal(image_stop_signal),
        network: c.network,
        ports: c.ports.clone(),
        memory_limit: c.memory,
    }
}

/// The manifest: the containers in start order (as listed), and the network when any
/// of them joins it.
pub fn manifest(containers: Vec<Container>) -> Manifest {
    let network = containers.iter().any(|c| c.network).then(|| Network {
        name: NETWORK_NAME.into(),
        conflist: conflist_path(),
        bin_dir: CNI_BIN_DIR.into(),
    });
    Manifest { containers, network }
}

/// The manifest as the bytes of [`kiln_ctr::manifest::MANIFEST_PATH`].
pub fn manifest_json(m: &Manifest) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(m).expect("the manifest serialises");
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::spec::ContainerSpec;
    use kiln_ctr::manifest::{Port, Restart};

    fn spec(toml_text: &str) -> ContainerSpec {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn conflist_shape() {
        let c = conflist();
        assert_eq!(c["cniVersion"], "1.0.0");
        assert_eq!(c["name"], "kiln");
        let bridge = &c["plugins"][0];
        assert_eq!(bridge["type"], "bridge");
        assert_eq!(bridge["bridge"], "cni0");
        assert_eq!((bridge["isGateway"].as_bool(), bridge["ipMasq"].as_bool(), bridge["hairpinMode"].as_bool()), (Some(true), Some(true), Some(true)));
        assert_eq!(bridge["ipam"]["type"], "host-local");
        assert_eq!(bridge["ipam"]["ranges"], json!([[{ "subnet": "10.88.0.0/16", "gateway": "10.88.0.1" }]]));
        assert_eq!(bridge["ipam"]["routes"], json!([{ "dst": "0.0.0.0/0" }]));
        assert_eq!(c["plugins"][1], json!({ "type": "portmap", "capabilities": { "portMappings": true } }));
        assert_eq!(c["plugins"].as_array().unwrap().len(), 2);
        let bytes = conflist_json();
        assert_eq!(bytes, conflist_json());
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), c);
        assert_eq!(conflist_path(), "/etc/cni/net.d/10-kiln.conflist");
    }

    #[test]
    fn manifest_entries_and_network() {
        let web = spec("name = \"web\"\nimage = \"web.oci\"\nports = [\"8080:80\"]\nrestart = \"always\"\nmemory = \"16m\"\nstop_timeout = 3\n");
        let batch = spec("name = \"batch\"\nimage = \"kiln:busybox\"\nnetwork = false\n");
        let w = manifest_container(&web, Some("quit"));
        assert_eq!(w.bundle, "/containers/web");
        assert_eq!((w.restart, w.stop_timeout, w.stop_signal.as_str(), w.network), (Restart::Always, 3, "SIGQUIT", true));
        assert_eq!(w.ports, [Port { host_port: 8080, container_port: 80, protocol: "tcp".into() }]);
        assert_eq!(w.memory_limit, Some(16 << 20));
        let b = manifest_container(&batch, None);
        assert_eq!((b.restart, b.stop_timeout, b.stop_signal.as_str(), b.network, b.memory_limit), (Restart::No, 10, "SIGTERM", false, None));
        let m = manifest(vec![w.clone(), b.clone()]);
        assert_eq!(m.containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["web", "batch"], "start order = listed order");
        let net = m.network.clone().unwrap();
        assert_eq!((net.name.as_str(), net.conflist.as_str(), net.bin_dir.as_str()), ("kiln", "/etc/cni/net.d/10-kiln.conflist", "/usr/lib/cni"));
        assert_eq!(manifest(vec![b]).network, None, "no container on the network: no network");
        let bytes = manifest_json(&m);
        assert_eq!(serde_json::from_slice::<Manifest>(&bytes).unwrap(), m);
    }

    #[test]
    fn stop_signals() {
        assert_eq!(stop_signal(None), "SIGTERM");
        assert_eq!(stop_signal(Some("")), "SIGTERM");
        assert_eq!(stop_signal(Some("SIGQUIT")), "SIGQUIT");
        assert_eq!(stop_signal(Some("winch")), "SIGWINCH");
        assert_eq!(stop_signal(Some("15")), "15");
    }
}
