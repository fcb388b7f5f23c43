//! `inspect`'s view of a bundle's config.json: the facts an operator asks about.

use serde_json::{json, Map, Value};

/// The key facts of an OCI runtime config: the process, the root, the namespaces,
/// the cgroup and its limits.
pub fn config_facts(config: &Value) -> Value {
    let p = &config["process"];
    let linux = &config["linux"];
    let res = &linux["resources"];
    let namespaces: Map<String, Value> = linux["namespaces"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|ns| {
                    let t = ns["type"].as_str()?;
                    Some((t.to_string(), ns.get("path").cloned().unwrap_or(Value::Null)))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut facts = json!({
        "args": p["args"],
        "env": p["env"],
        "cwd": p["cwd"],
        "user": {"uid": p["user"]["uid"], "gid": p["user"]["gid"]},
        "terminal": p["terminal"],
        "root": config["root"],
        "hostname": config["hostname"],
        "namespaces": namespaces,
        "cgroupsPath": linux["cgroupsPath"],
        "memory_limit": res["memory"]["limit"],
        "pids_limit": res["pids"]["limit"],
        "cpu": res["cpu"],
    });
    // Drop what the config does not say, so the output shows only real facts.
    if let Value::Object(m) = &mut facts {
        m.retain(|_, v| !v.is_null());
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_key_facts() {
        let config = json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["/bin/httpd", "-f"], "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 33, "gid": 33}},
            "root": {"path": "rootfs", "readonly": true},
            "hostname": "web",
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
            "linux": {
                "cgroupsPath": "/kiln/web",
                "resources": {"memory": {"limit": 16777216}, "pids": {"limit": 64}},
                "namespaces": [{"type": "pid"}, {"type": "network", "path": "/run/kiln-ctr/netns/web"}]
            }
        });
        let f = config_facts(&config);
        assert_eq!(f["args"], json!(["/bin/httpd", "-f"]));
        assert_eq!(f["memory_limit"], json!(16777216));
        assert_eq!(f["pids_limit"], json!(64));
        assert_eq!(f["namespaces"]["network"], json!("/run/kiln-ctr/netns/web"));
        assert_eq!(f["namespaces"]["pid"], Value::Null);
        assert_eq!(f["cgroupsPath"], json!("/kiln/web"));
        assert!(f.get("cpu").is_none());
        assert!(f.get("mounts").is_none());
    }
}
