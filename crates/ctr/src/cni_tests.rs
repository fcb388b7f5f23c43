//! The CNI exchange against fake plugins: shell scripts that record their
//! environment and stdin and print a canned result or error object.

use super::*;
use std::os::unix::fs::PermissionsExt;

const FAKE: &str = r#"#!/bin/sh
d=$(dirname "$0"); n=$(basename "$0")
cat > "$d/$n.$CNI_COMMAND.stdin"
env | sort > "$d/$n.$CNI_COMMAND.env"
echo "$n $CNI_COMMAND" >> "$d/calls"
if [ -f "$d/$n.$CNI_COMMAND.fail" ]; then cat "$d/$n.$CNI_COMMAND.fail"; exit 1; fi
if [ -f "$d/$n.$CNI_COMMAND.out" ]; then cat "$d/$n.$CNI_COMMAND.out"; fi
exit 0
"#;

const BRIDGE_RESULT: &str = r#"{"cniVersion":"1.0.0",
  "interfaces":[{"name":"cni0","mac":"aa:bb"},{"name":"veth1","mac":"cc:dd"},{"name":"eth0","mac":"ee:ff","sandbox":"/run/kiln-ctr/netns/web"}],
  "ips":[{"address":"10.88.0.2/16","gateway":"10.88.0.1","interface":2}],
  "routes":[{"dst":"0.0.0.0/0"}],"dns":{}}"#;

const CONFLIST: &str = r#"{"cniVersion":"1.0.0","name":"kiln","plugins":[
  {"type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","subnet":"10.88.0.0/16"}},
  {"type":"portmap","capabilities":{"portMappings":true},"snat":true}]}"#;

struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new(plugins: &[&str]) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        for p in plugins {
            let path = dir.path().join(p);
            std::fs::write(&path, FAKE).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Fake { dir }
    }
    fn rt(&self) -> Runtime {
        Runtime::new(&self.dir.path().display().to_string())
    }
    fn set(&self, file: &str, text: &str) {
        std::fs::write(self.dir.path().join(file), text).unwrap();
    }
    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(file)).unwrap_or_default()
    }
    fn stdin(&self, file: &str) -> Value {
        serde_json::from_str(&self.read(file)).unwrap()
    }
    fn att(&self) -> Attachment {
        // An existing file stands in for the namespace.
        let netns = self.dir.path().join("netns");
        std::fs::write(&netns, "").unwrap();
        Attachment {
            container_id: "web".into(),
            netns,
            ifname: "eth0".into(),
            port_mappings: vec![Port { host_port: 8080, container_port: 80, protocol: "tcp".into() }],
        }
    }
}

#[test]
fn add_chains_results_and_injects_name_version_capabilities() {
    let f = Fake::new(&["bridge", "portmap"]);
    f.set("bridge.ADD.out", BRIDGE_RESULT);
    f.set("portmap.ADD.out", BRIDGE_RESULT);
    let list = NetList::parse(CONFLIST).unwrap();
    let att = f.att();
    let (raw, res) = add(&f.rt(), &list, &att).unwrap();
    assert_eq!(f.read("calls"), "bridge ADD\nportmap ADD\n");
    assert_eq!(res.container_ips(), ["10.88.0.2/16"]);
    assert_eq!(raw["ips"][0]["gateway"], "10.88.0.1");

    let b = f.stdin("bridge.ADD.stdin");
    assert_eq!(b["name"], "kiln");
    assert_eq!(b["cniVersion"], "1.0.0");
    assert_eq!(b["ipam"]["subnet"], "10.88.0.0/16");
    assert!(b.get("prevResult").is_none());
    assert!(b.get("runtimeConfig").is_none(), "bridge declares no capability");

    let p = f.stdin("portmap.ADD.stdin");
    assert_eq!(p["prevResult"]["ips"][0]["address"], "10.88.0.2/16");
    assert_eq!(p["runtimeConfig"], json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}));

    let env = f.read("bridge.ADD.env");
    for want in [
        "CNI_COMMAND=ADD".to_string(),
        "CNI_CONTAINERID=web".into(),
        format!("CNI_NETNS={}", att.netns.display()),
        "CNI_IFNAME=eth0".into(),
        format!("CNI_PATH={}", f.dir.path().display()),
        format!("PATH={PLUGIN_PATH}"),
    ] {
        assert!(env.lines().any(|l| l == want), "{want} not in\n{env}");
    }
}

#[test]
fn del_runs_in_reverse_with_the_cached_result_and_goes_on_past_errors() {
    let f = Fake::new(&["bridge", "portmap"]);
    let list = NetList::parse(CONFLIST).unwrap();
    let prev: Value = serde_json::from_str(BRIDGE_RESULT).unwrap();
    f.set("portmap.DEL.fail", r#"{"code":999,"msg":"iptables: no chain"}"#);
    let e = del(&f.rt(), &list, &f.att(), Some(&prev)).unwrap_err().0;
    assert_eq!(e, "CNI plugin portmap (network kiln): DEL failed: iptables: no chain [CNI error 999]");
    assert_eq!(f.read("calls"), "portmap DEL\nbridge DEL\n", "bridge still ran");
    assert_eq!(f.stdin("bridge.DEL.stdin")["prevResult"]["ips"][0]["address"], "10.88.0.2/16");
}

#[test]
fn del_tolerates_a_missing_netns() {
    let f = Fake::new(&["bridge", "portmap"]);
    let list = NetList::parse(CONFLIST).unwrap();
    let mut att = f.att();
    att.netns = f.dir.path().join("gone");
    del(&f.rt(), &list, &att, None).unwrap();
    assert!(f.read("bridge.DEL.env").lines().any(|l| l == "CNI_NETNS="));
    assert!(f.stdin("bridge.DEL.stdin").get("prevResult").is_none());
}

#[test]
fn add_errors_name_the_plugin() {
    let f = Fake::new(&["bridge", "portmap"]);
    let list = NetList::parse(CONFLIST).unwrap();
    f.set("bridge.ADD.fail", r#"{"cniVersion":"1.0.0","code":11,"msg":"failed to allocate","details":"range full"}"#);
    let e = add(&f.rt(), &list, &f.att()).unwrap_err().0;
    assert_eq!(e, "CNI plugin bridge (network kiln): ADD failed: failed to allocate (range full) [CNI error 11]");
    assert_eq!(f.read("calls"), "bridge ADD\n", "portmap never ran");

    // Not an error object: the plugin's stderr (or stdout) is quoted.
    std::fs::write(f.dir.path().join("bridge.ADD.fail"), "panic: oops\n").unwrap();
    let e = add(&f.rt(), &list, &f.att()).unwrap_err().0;
    assert_eq!(e, "CNI plugin bridge (network kiln): ADD failed (exit status 1): panic: oops");

    // A missing plugin.
    let list = NetList::parse(&CONFLIST.replace("portmap", "tuning")).unwrap();
    std::fs::remove_file(f.dir.path().join("bridge.ADD.fail")).unwrap();
    f.set("bridge.ADD.out", BRIDGE_RESULT);
    let e = add(&f.rt(), &list, &f.att()).unwrap_err().0;
    assert_eq!(e, format!("CNI plugin tuning (network kiln): no plugin tuning in {}", f.dir.path().display()));

    // A result that is not JSON.
    f.set("bridge.ADD.out", "hello");
    let e = add(&f.rt(), &list, &f.att()).unwrap_err().0;
    assert!(e.starts_with("CNI plugin bridge (network kiln): ADD printed something that is not JSON"), "{e}");
}

#[test]
fn check_passes_the_cached_result() {
    let f = Fake::new(&["bridge", "portmap"]);
    let list = NetList::parse(CONFLIST).unwrap();
    let prev: Value = serde_json::from_str(BRIDGE_RESULT).unwrap();
    check(&f.rt(), &list, &f.att(), &prev).unwrap();
    assert_eq!(f.read("calls"), "bridge CHECK\nportmap CHECK\n");
    assert_eq!(f.stdin("portmap.CHECK.stdin")["prevResult"], prev);
}

#[test]
fn version_and_loopback() {
    let f = Fake::new(&["loopback"]);
    f.set("loopback.VERSION.out", r#"{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}"#);
    assert_eq!(version(&f.rt(), "loopback").unwrap(), ["0.4.0", "1.0.0"]);
    f.set("loopback.ADD.out", r#"{"cniVersion":"1.0.0","interfaces":[{"name":"lo","sandbox":"/x"}],"ips":[{"address":"127.0.0.1/8","interface":0}]}"#);
    let (_, res) = add(&f.rt(), &NetList::loopback(), &f.att()).unwrap();
    assert_eq!(res.container_ips(), ["127.0.0.1/8"]);
    let conf = f.stdin("loopback.ADD.stdin");
    assert_eq!(conf, json!({"type": "loopback", "name": "kiln-loopback", "cniVersion": "1.0.0"}));
}

#[test]
fn conflist_errors() {
    assert!(NetList::parse(r#"{"name":"x","cniVersion":"1.0.0","plugins":[]}"#).unwrap_err().0.contains("empty"));
    assert!(NetList::parse(r#"{"name":"x","plugins":[{"type":"bridge"}]}"#).unwrap_err().0.contains("cniVersion"));
    assert!(NetList::parse(r#"{"name":"x","cniVersion":"1.0.0","plugins":[{"bridge":1}]}"#).unwrap_err().0.contains("plugins[0]"));
    let single = NetList::parse(r#"{"name":"x","cniVersion":"1.0.0","type":"bridge"}"#).unwrap();
    assert_eq!(single.plugins.len(), 1);
}
