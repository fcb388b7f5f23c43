//! A container's network, as the shim and `kiln-ctr run` both make it: the network
//! namespace file ([`crate::netns`]), then CNI ADD of loopback and, when the container
//! joins it, the manifest's network; torn down in reverse (CNI DEL with each ADD's
//! cached result, then the namespace file).

use crate::netns;
use kiln_ctr::cni::{self, Attachment, NetList, Runtime};
use kiln_ctr::manifest::{self, Manifest, Port};
use kiln_ctr::{bail, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub struct Network {
    att: Attachment,
    /// The networks attached so far with their ADD results, for DEL.
    attached: Vec<(NetList, Runtime, Value)>,
}

impl Network {
    /// The network of container `name` (namespace [`manifest::netns_path`]`(name)`,
    /// interface `eth0`), not made yet.
    pub fn new(name: &str, ports: Vec<Port>) -> Network {
        let att = Attachment { container_id: name.to_string(), netns: PathBuf::from(manifest::netns_path(name)), ifname: "eth0".into(), port_mappings: ports };
        Network { att, attached: Vec::new() }
    }

    /// Makes the namespace file and attaches loopback, then the manifest's network
    /// when `join`. Returns the container's addresses.
    pub fn attach(&mut self, m: &Manifest, join: bool) -> Result<Vec<String>> {
        std::fs::create_dir_all("/var/lib/cni").map_err(|e| kiln_ctr::Error(format!("creating /var/lib/cni: {e}")))?;
        netns::create(&self.att.netns)?;
        let bin_dir = m.network.as_ref().map_or(manifest::CNI_BIN_DIR.to_string(), |n| n.bin_dir.clone());
        let mut lists = vec![NetList::loopback()];
        if join {
            let Some(net) = &m.network else { bail!("the manifest has no network") };
            let list = NetList::load(Path::new(&net.conflist))?;
            if list.name != net.name {
                bail!("{}: the network is called '{}', the manifest says '{}'", net.conflist, list.name, net.name);
            }
            lists.push(list);
        }
        let mut ips = vec![];
        for list in lists {
            let rt = Runtime::new(&bin_dir);
            let (raw, res) = cni::add(&rt, &list, &self.att)?;
            if list.name != NetList::loopback().name {
                ips.extend(res.container_ips());
            }
            self.attached.push((list, rt, raw));
        }
        Ok(ips)
    }

    /// Each attached network with its ADD result (the shim's `cni.json`).
    pub fn results(&self) -> Vec<Value> {
        self.attached.iter().map(|(l, _, r)| json!({"network": l.name, "result": r})).collect()
    }

    /// CNI DEL in reverse (each network with its cached result), then the namespace
    /// file; errors are printed, not returned (everything is tried).
    pub fn teardown(&mut self) {
        while let Some((list, rt, raw)) = self.attached.pop() {
            if let Err(e) = cni::del(&rt, &list, &self.att, Some(&raw)) {
                eprintln!("kiln-ctr: {}: {e}", self.att.container_id);
            }
        }
        netns::remove(&self.att.netns);
    }
}
