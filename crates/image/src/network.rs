//! `[network]`: the guest's own interfaces, configured at boot.
//!
//! `dhcp = ["eth0"]` runs BusyBox's DHCP client for each interface named, as a kiln-init
//! service (`dhcp-eth0`, restarted whatever its exit, its log `/var/log/dhcp-eth0.log`).
//! Its script, [`DHCP_SCRIPT`], applies a lease with `ip`: the address, the default route
//! through the first router, and the DNS servers in [`RESOLV_CONF`]. That file is in
//! `/run` (a tmpfs) because the root may be read-only; `/etc/resolv.conf` is a symlink to
//! it, made at build time. With more than one interface, the last lease sets the default
//! route and the DNS servers.
//!
//! Needs Kiln's own root (its BusyBox with the `net` fragment: `udhcpc`, `ip`) and a
//! kernel with networking and `AF_PACKET` (`kernel/75-net.config`).

use crate::Result;
use kiln_init::config::Service;
use kiln_init::policy::Restart;
use kiln_initramfs::{Data, Tree};
use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Interfaces whose address, default route and DNS servers come from DHCP.
    #[serde(default, deserialize_with = "de_interfaces")]
    pub dhcp: Vec<String>,
}

/// The lease script in the guest (`udhcpc -s`).
pub const DHCP_SCRIPT: &str = "/etc/kiln/udhcpc.script";
/// Where the lease's DNS servers go; `/etc/resolv.conf` points here.
pub const RESOLV_CONF: &str = "/run/resolv.conf";
/// BusyBox's DHCP client, as `busybox --list-full` installs it.
pub const UDHCPC: &str = "/sbin/udhcpc";
/// The applets the service and its script run (paths as `--list-full` prints them).
const APPLETS: &[&str] = &["sbin/udhcpc", "sbin/ip", "bin/grep", "bin/mv"];
/// The prefix of each interface's service name.
pub const SERVICE_PREFIX: &str = "dhcp-";

/// udhcpc calls it with the event (`deconfig`, `bound`, `renew`, `leasefail`, `nak`) as
/// `$1` and the lease in the environment (`interface`, `ip`, `mask` as a prefix length,
/// `broadcast`, `router`, `dns`, `domain`). Every line it prints goes to the service's log.
const SCRIPT: &str = r#"#!/bin/sh
# Written by kiln-image for [network] dhcp: applies udhcpc's lease on $interface.
event=$1
address() {
    ip -4 addr flush dev "$interface"
    ip addr add "$ip${mask:+/$mask}" ${broadcast:+broadcast "$broadcast"} dev "$interface"
}
case $event in
deconfig)
    ip -4 addr flush dev "$interface"
    ip link set dev "$interface" up
    ;;
bound|renew)
    # A renewal that keeps the address leaves it (and its routes) alone.
    ip -4 -o addr show dev "$interface" | grep -q "inet $ip/" && [ "$event" = renew ] || address
    set -- $router
    [ -n "$1" ] && ip route replace default via "$1" dev "$interface"
    tmp=@RESOLV@.$interface
    { [ -n "$domain" ] && echo "search $domain"; for s in $dns; do echo "nameserver $s"; done; } > "$tmp" && mv -f "$tmp" @RESOLV@
    read -r up _ < /proc/uptime
    echo "$event: $interface $ip/$mask router ${1:-none} dns ${dns:-none} (uptime $up s)"
    ;;
esac
exit 0
"#;

/// Each interface name: a Linux interface name (at most 15 bytes) that can also name a
/// kiln-init service and its log, and appears once.
fn de_interfaces<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    for (i, n) in names.iter().enumerate() {
        let ok = (1..=15).contains(&n.len()) && n != "." && n != ".." && n.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !ok {
            return Err(serde::de::Error::custom(format!("network.dhcp: {n:?} is not an interface name (1-15 letters, digits, _ - .)")));
        }
        if names[..i].contains(n) {
            return Err(serde::de::Error::custom(format!("network.dhcp: {n:?} is listed twice")));
        }
    }
    Ok(names)
}

impl NetworkSpec {
    /// The kiln-init services: one DHCP client per interface, in the foreground (`-f`)
    /// so kiln-init supervises it, retrying for ever.
    pub fn services(&self) -> Vec<Service> {
        self.dhcp
            .iter()
            .map(|i| Service::new(&format!("{SERVICE_PREFIX}{i}"), Restart::Always, &[UDHCPC, "-f", "-i", i, "-s", DHCP_SCRIPT]))
            .collect()
    }

    /// Checks what the spec's other tables must allow: Kiln's own root, and no
    /// `[[init.services]]` with the name of a DHCP client's service.
    pub fn check(&self, own_root: bool, services: &[Service]) -> std::result::Result<(), String> {
        if self.dhcp.is_empty() {
            return Ok(());
        }
        if !own_root {
            return Err("network.dhcp: needs Kiln's own root (its BusyBox's udhcpc and ip), not rootfs.oci; configure the network in the image instead".into());
        }
        for s in self.services() {
            if services.iter().any(|o| o.name == s.name) {
                return Err(format!("network.dhcp: the service name {:?} is taken by an init.services entry", s.name));
            }
        }
        Ok(())
    }

    /// Adds the lease script and the `/etc/resolv.conf` symlink to a root built from
    /// BusyBox's `applets` (install paths, `sbin/ip`); nothing without interfaces.
    /// `shown` names the spec in errors.
    pub fn add(&self, tree: &mut Tree, applets: &[String], shown: &str) -> Result<()> {
        if self.dhcp.is_empty() {
            return Ok(());
        }
        if let Some(missing) = APPLETS.iter().find(|a| !applets.iter().any(|have| have == *a)) {
            return Err(crate::Error::Spec {
                path: shown.into(),
                message: format!("network.dhcp: BusyBox has no /{missing}; add \"net\" to busybox.fragments"),
            });
        }
        tree.file(DHCP_SCRIPT.trim_start_matches('/'), 0o755, Data::Bytes(script().into_bytes()))?;
        tree.symlink("etc/resolv.conf", RESOLV_CONF)?;
        Ok(())
    }
}

/// The lease script's text.
pub fn script() -> String {
    SCRIPT.replace("@RESOLV@", RESOLV_CONF)
}

#[cfg(test)]
#[path = "network_tests.rs"]
mod tests;
