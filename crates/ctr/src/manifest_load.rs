//! Reading and checking the manifest: every error names the file and the key.

use crate::manifest::{Container, Manifest};
use crate::{bail, signals, Error, Result};
use std::path::Path;

impl Manifest {
    /// Reads and checks [`crate::manifest::MANIFEST_PATH`] (or another file).
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).map_err(|e| Error(format!("{}: {e}", path.display())))?;
        Manifest::parse(&text, &path.display().to_string())
    }

    /// Parses and checks manifest text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Manifest> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let m: Manifest = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path == "?" {
                Error(format!("{file}: {inner}"))
            } else {
                Error(format!("{file}: {path}: {inner}"))
            }
        })?;
        m.check().map_err(|e| Error(format!("{file}: {e}")))?;
        Ok(m)
    }

    /// The rules serde cannot say: names, signals, timeouts, ports, the network.
    pub fn check(&self) -> Result<()> {
        for (i, c) in self.containers.iter().enumerate() {
            let key = format!("containers[{i}]");
            check_name(&c.name).map_err(|e| Error(format!("{key}.name: {e}")))?;
            if self.containers[..i].iter().any(|o| o.name == c.name) {
                bail!("{key}.name: '{}' is used twice", c.name);
            }
            if c.bundle.is_empty() || !c.bundle.starts_with('/') {
                bail!("{key}.bundle: '{}' is not an absolute path", c.bundle);
            }
            if signals::parse(&c.stop_signal).is_none() {
                bail!("{key}.stop_signal: unknown signal '{}'", c.stop_signal);
            }
            if !(1..=86400).contains(&c.stop_timeout) {
                bail!("{key}.stop_timeout: {} is not between 1 and 86400 seconds", c.stop_timeout);
            }
            if c.network && self.network.is_none() {
                bail!("{key}.network: the container joins the network, but the manifest has no `network`");
            }
            for (j, p) in c.ports.iter().enumerate() {
                if !c.network {
                    bail!("{key}.ports[{j}]: a port needs `network: true`");
                }
                if p.protocol != "tcp" && p.protocol != "udp" {
                    bail!("{key}.ports[{j}].protocol: '{}' is not tcp or udp", p.protocol);
                }
                if p.host_port == 0 || p.container_port == 0 {
                    bail!("{key}.ports[{j}]: port 0");
                }
            }
        }
        Ok(())
    }

    /// The container called `name`, or an error listing the ones there are.
    pub fn get(&self, name: &str) -> Result<&Container> {
        self.containers.iter().find(|c| c.name == name).ok_or_else(|| Error(self.no_such(name)))
    }

    /// `no container named X; there are: a, b`.
    pub fn no_such(&self, name: &str) -> String {
        let names: Vec<&str> = self.containers.iter().map(|c| c.name.as_str()).collect();
        if names.is_empty() {
            format!("no container named {name}; there are none")
        } else {
            format!("no container named {name}; there are: {}", names.join(", "))
        }
    }
}

/// A container name is a file name, a libcontainer id and a CNI container id:
/// 1-64 letters, digits, `_ - .`, not starting with `.` or `-`.
pub fn check_name(name: &str) -> Result<()> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if name.is_empty() || name.len() > 64 || !ok_chars || name.starts_with(['.', '-']) {
        bail!("invalid name '{name}' (1-64 letters, digits, '_', '-', '.'; not starting with '.' or '-')");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
      "containers": [
        {"name": "web", "bundle": "/containers/web", "restart": "always", "stop_timeout": 10,
         "stop_signal": "SIGTERM", "network": true,
         "ports": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]},
        {"name": "hog", "bundle": "/containers/hog", "restart": "no", "stop_timeout": 2,
         "stop_signal": "SIGINT", "network": false, "memory_limit": 16777216}
      ],
      "network": {"name": "kiln", "conflist": "/etc/cni/net.d/10-kiln.conflist", "bin_dir": "/usr/lib/cni"}
    }"#;

    fn err(text: &str) -> String {
        Manifest::parse(text, "/etc/kiln-ctr/containers.json").unwrap_err().0
    }

    #[test]
    fn reads_a_good_manifest() {
        let m = Manifest::parse(GOOD, "m.json").unwrap();
        assert_eq!(m.containers.len(), 2);
        assert_eq!(m.get("hog").unwrap().memory_limit, Some(16 << 20));
    }

    #[test]
    fn type_errors_name_file_and_key() {
        let e = err(&GOOD.replace(r#""stop_timeout": 2"#, r#""stop_timeout": "2""#));
        assert!(e.starts_with("/etc/kiln-ctr/containers.json: containers[1].stop_timeout: invalid type"), "{e}");
        let e = err(&GOOD.replace(r#""restart": "no""#, r#""restart": "sometimes""#));
        assert!(e.contains("containers[1].restart: unknown variant `sometimes`"), "{e}");
        let e = err(&GOOD.replace(r#""hostPort": 8080"#, r#""hostPort": 80800"#));
        assert!(e.contains("containers[0].ports[0].hostPort"), "{e}");
    }

    #[test]
    fn missing_and_unknown_keys() {
        let e = err(&GOOD.replace(r#""stop_signal": "SIGINT","#, ""));
        assert!(e.contains("containers[1]: missing field `stop_signal`"), "{e}");
        let e = err(&GOOD.replace(r#""network": false"#, r#""network": false, "privileged": true"#));
        assert!(e.contains("containers[1].privileged: unknown field `privileged`"), "{e}");
        let e = err("{");
        assert!(e.starts_with("/etc/kiln-ctr/containers.json: EOF while parsing"), "{e}");
    }

    #[test]
    fn rules_beyond_types() {
        let e = err(&GOOD.replace(r#""name": "hog""#, r#""name": "web""#));
        assert!(e.ends_with("containers[1].name: 'web' is used twice"), "{e}");
        let e = err(&GOOD.replace(r#""name": "hog""#, r#""name": "../x""#));
        assert!(e.contains("containers[1].name: invalid name '../x'"), "{e}");
        let e = err(&GOOD.replace("SIGINT", "SIGNOPE"));
        assert!(e.ends_with("containers[1].stop_signal: unknown signal 'SIGNOPE'"), "{e}");
        let e = err(&GOOD.replace(r#""stop_timeout": 2"#, r#""stop_timeout": 0"#));
        assert!(e.contains("containers[1].stop_timeout: 0 is not between"), "{e}");
        let e = err(&GOOD.replace(r#""protocol": "tcp""#, r#""protocol": "sctp""#));
        assert!(e.contains("containers[0].ports[0].protocol: 'sctp'"), "{e}");
        let no_net = GOOD.split(r#"      "network": {"#).next().unwrap().trim_end().trim_end_matches(',').to_string() + "}";
        let e = err(&no_net);
        assert!(e.contains("containers[0].network: the container joins the network, but the manifest has no `network`"), "{e}");
    }

    #[test]
    fn unknown_names_list_the_others() {
        let m = Manifest::parse(GOOD, "m.json").unwrap();
        assert_eq!(m.get("db").unwrap_err().0, "no container named db; there are: web, hog");
    }
}
