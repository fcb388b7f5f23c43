//! A CNI runtime (spec 1.0.0): runs the plugins of a network configuration list.
//!
//! Each plugin is executed as `BIN_DIR/TYPE` with `CNI_COMMAND`, `CNI_CONTAINERID`,
//! `CNI_NETNS`, `CNI_IFNAME`, `CNI_PATH` and a `PATH` that finds `iptables`; its
//! network configuration goes on stdin with `name` and `cniVersion` from the list,
//! the previous plugin's result as `prevResult`, and `runtimeConfig` holding only the
//! capabilities the plugin declares (here `portMappings`). ADD runs the plugins in
//! order and returns the last result; DEL runs them in reverse, goes on past errors
//! and tolerates a namespace that is gone; CHECK passes the cached result.

use crate::error::Context;
use crate::manifest::Port;
use crate::{bail, Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The `PATH` plugins get: the bridge and portmap plugins run `iptables`.
pub const PLUGIN_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// A network configuration list (`.conflist`), or a single configuration as one.
#[derive(Debug, Clone, PartialEq)]
pub struct NetList {
    pub name: String,
    pub cni_version: String,
    /// The plugins' configurations, in order, as written.
    pub plugins: Vec<Map<String, Value>>,
}

impl NetList {
    /// Reads a `.conflist` (or a single plugin's `.conf`).
    pub fn load(path: &Path) -> Result<NetList> {
        let text = std::fs::read_to_string(path).context(|| path.display().to_string())?;
        NetList::parse(&text).map_err(|e| Error(format!("{}: {e}", path.display())))
    }

    pub fn parse(text: &str) -> Result<NetList> {
        let v: Value = serde_json::from_str(text).map_err(|e| Error(e.to_string()))?;
        let Value::Object(top) = v else { bail!("not a JSON object") };
        let str_key = |k: &str| match top.get(k) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(Error(format!("`{k}` is missing or not a string"))),
        };
        let name = str_key("name")?;
        let cni_version = str_key("cniVersion")?;
        let plugins = match top.get("plugins") {
            Some(Value::Array(list)) => {
                let mut out = vec![];
                for (i, p) in list.iter().enumerate() {
                    match p {
                        Value::Object(m) if m.get("type").is_some_and(Value::is_string) => out.push(m.clone()),
                        _ => bail!("plugins[{i}]: not an object with a string `type`"),
                    }
                }
                out
            }
            Some(_) => bail!("`plugins` is not a list"),
            None if top.get("type").is_some_and(Value::is_string) => vec![top.clone()],
            None => bail!("neither `plugins` nor `type`"),
        };
        if plugins.is_empty() {
            bail!("`plugins` is empty");
        }
        Ok(NetList { name, cni_version, plugins })
    }

    /// The loopback plugin alone, bringing `lo` up in a namespace.
    pub fn loopback() -> NetList {
        let plugin = json!({"type": "loopback"}).as_object().cloned().unwrap_or_default();
        NetList { name: "kiln-loopback".into(), cni_version: "1.0.0".into(), plugins: vec![plugin] }
    }
}

/// Where the plugins are and what they run in.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// `CNI_PATH`: directories searched for a plugin's `type`.
    pub bin_dirs: Vec<PathBuf>,
    /// The `PATH` of the plugins.
    pub path_env: String,
}

impl Runtime {
    pub fn new(bin_dir: &str) -> Runtime {
        Runtime { bin_dirs: bin_dir.split(':').filter(|d| !d.is_empty()).map(PathBuf::from).collect(), path_env: PLUGIN_PATH.into() }
    }
}

/// What the plugins attach: a container's namespace and interface.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub container_id: String,
    pub netns: PathBuf,
    pub ifname: String,
    /// The `portMappings` capability's data.
    pub port_mappings: Vec<Port>,
}

/// A plugin's result (the parts kiln-ctr reads; the rest is kept in `raw`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CniResult {
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    #[serde(default)]
    pub ips: Vec<IpConfig>,
    #[serde(default)]
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpConfig {
    /// `10.88.0.2/16`.
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub dst: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
}

/// A CNI error object.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct CniError {
    #[serde(default)]
    pub code: u32,
    #[serde(default)]
    pub msg: String,
    #[serde(default)]
    pub details: String,
}

impl CniResult {
    /// The addresses of the interfaces inside the container (all of them if the
    /// result does not say which interface is where).
    pub fn container_ips(&self) -> Vec<String> {
        let inside = |i: &IpConfig| match i.interface.and_then(|n| self.interfaces.get(n)) {
            Some(iface) => iface.sandbox.as_deref().is_some_and(|s| !s.is_empty()),
            None => true,
        };
        self.ips.iter().filter(|i| inside(i)).map(|i| i.address.clone()).collect()
    }
}

/// ADD: runs the plugins in order, each one getting the previous result. Returns the
/// last plugin's result, raw (to cache for DEL and CHECK) and parsed.
pub fn add(rt: &Runtime, list: &NetList, att: &Attachment) -> Result<(Value, CniResult)> {
    let mut prev: Option<Value> = None;
    for plugin in &list.plugins {
        let conf = plugin_conf(list, plugin, prev.as_ref(), att);
        let out = exec(rt, list, plugin, "ADD", &conf, att, true)?;
        let Some(out) = out else { bail!("{}: ADD printed no result", who(list, plugin)) };
        prev = Some(out);
    }
    let raw = prev.unwrap_or(Value::Null);
    let parsed = serde_json::from_value(raw.clone()).map_err(|e| Error(format!("network {}: the ADD result does not parse: {e}", list.name)))?;
    Ok((raw, parsed))
}

/// DEL: runs the plugins in reverse with the cached ADD result as `prevResult`; an
/// error does not stop the others (the first one is returned at the end). A
/// namespace that is gone is passed as an empty `CNI_NETNS`, as the spec allows.
pub fn del(rt: &Runtime, list: &NetList, att: &Attachment, prev: Option<&Value>) -> Result<()> {
    let mut att = att.clone();
    if !att.netns.exists() {
        att.netns = PathBuf::new();
    }
    let mut first_err = None;
    for plugin in list.plugins.iter().rev() {
        let conf = plugin_conf(list, plugin, prev, &att);
        if let Err(e) = exec(rt, list, plugin, "DEL", &conf, &att, false) {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// CHECK: runs the plugins in order with the cached ADD result.
pub fn check(rt: &Runtime, list: &NetList, att: &Attachment, prev: &Value) -> Result<()> {
    for plugin in &list.plugins {
        let conf = plugin_conf(list, plugin, Some(prev), att);
        exec(rt, list, plugin, "CHECK", &conf, att, false)?;
    }
    Ok(())
}

/// VERSION: the versions a plugin supports (`supportedVersions`).
pub fn version(rt: &Runtime, plugin_type: &str) -> Result<Vec<String>> {
    let list = NetList { name: String::new(), cni_version: "1.0.0".into(), plugins: vec![] };
    let plugin = json!({"type": plugin_type}).as_object().cloned().unwrap_or_default();
    let att = Attachment { container_id: String::new(), netns: PathBuf::new(), ifname: String::new(), port_mappings: vec![] };
    let conf = json!({"cniVersion": "1.0.0"});
    let out = exec(rt, &list, &plugin, "VERSION", &conf, &att, true)?.unwrap_or(Value::Null);
    Ok(out["supportedVersions"].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default())
}

/// A plugin's stdin: its own configuration plus `name`, `cniVersion`, `prevResult`
/// and the `runtimeConfig` of the capabilities it declares.
pub fn plugin_conf(list: &NetList, plugin: &Map<String, Value>, prev: Option<&Value>, att: &Attachment) -> Value {
    let mut conf = plugin.clone();
    conf.insert("name".into(), Value::String(list.name.clone()));
    conf.insert("cniVersion".into(), Value::String(list.cni_version.clone()));
    if let Some(prev) = prev {
        conf.insert("prevResult".into(), prev.clone());
    }
    let wants_ports = plugin.get("capabilities").and_then(|c| c.get("portMappings")).and_then(Value::as_bool).unwrap_or(false);
    if wants_ports && !att.port_mappings.is_empty() {
        let ports = serde_json::to_value(&att.port_mappings).unwrap_or(Value::Null);
        conf.insert("runtimeConfig".into(), json!({ "portMappings": ports }));
    }
    Value::Object(conf)
}

/// `CNI plugin bridge (ADD, network kiln)`.
fn who(list: &NetList, plugin: &Map<String, Value>) -> String {
    let t = plugin.get("type").and_then(Value::as_str).unwrap_or("?");
    if list.name.is_empty() {
        format!("CNI plugin {t}")
    } else {
        format!("CNI plugin {t} (network {})", list.name)
    }
}

/// Runs one plugin; returns its parsed stdout when `want_output` (ADD, VERSION).
fn exec(rt: &Runtime, list: &NetList, plugin: &Map<String, Value>, cmd: &str, conf: &Value, att: &Attachment, want_output: bool) -> Result<Option<Value>> {
    let who = who(list, plugin);
    let t = plugin.get("type").and_then(Value::as_str).unwrap_or_default();
    if t.is_empty() || t.contains('/') {
        bail!("{who}: bad plugin type {t:?}");
    }
    let Some(bin) = rt.bin_dirs.iter().map(|d| d.join(t)).find(|p| p.is_file()) else {
        let dirs: Vec<String> = rt.bin_dirs.iter().map(|d| d.display().to_string()).collect();
        bail!("{who}: no plugin {t} in {}", dirs.join(":"));
    };
    let cni_path: Vec<String> = rt.bin_dirs.iter().map(|d| d.display().to_string()).collect();
    let mut child = Command::new(&bin)
        .env_clear()
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", &att.container_id)
        .env("CNI_NETNS", &att.netns)
        .env("CNI_IFNAME", &att.ifname)
        .env("CNI_PATH", cni_path.join(":"))
        .env("PATH", &rt.path_env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context(|| format!("{who}: running {}", bin.display()))?;
    let input = serde_json::to_vec(conf).unwrap_or_default();
    if let Some(mut stdin) = child.stdin.take() {
        // A plugin that exits without reading its stdin is judged by its exit status.
        let _ = stdin.write_all(&input);
    }
    let out = child.wait_with_output().context(|| format!("{who}: waiting for {}", bin.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let status = out.status.code().map_or_else(|| format!("{}", out.status), |c| format!("exit status {c}"));
        return Err(Error(match serde_json::from_str::<CniError>(stdout.trim()) {
            Ok(e) if !e.msg.is_empty() || e.code != 0 => {
                let details = if e.details.is_empty() { String::new() } else { format!(" ({})", e.details) };
                format!("{who}: {cmd} failed: {}{details} [CNI error {}]", e.msg, e.code)
            }
            _ => format!("{who}: {cmd} failed ({status}): {}", first_words(if stderr.trim().is_empty() { &stdout } else { &stderr })),
        }));
    }
    if !want_output {
        return Ok(None);
    }
    let v = serde_json::from_str(stdout.trim()).map_err(|e| Error(format!("{who}: {cmd} printed something that is not JSON ({e}): {}", first_words(&stdout))))?;
    Ok(Some(v))
}

/// The first 300 characters of a plugin's output, on one line.
fn first_words(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.is_empty() {
        return "no output".into();
    }
    one.chars().take(300).collect()
}

#[cfg(test)]
#[path = "cni_tests.rs"]
mod tests;
