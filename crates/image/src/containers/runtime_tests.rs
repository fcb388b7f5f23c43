use super::*;
use oci_spec::runtime::{Capability, LinuxNamespaceType};
use std::path::PathBuf;

fn spec(extra: &str) -> ContainerSpec {
    toml::from_str(&format!("name = \"web\"\nimage = \"web.oci\"\n{extra}")).unwrap()
}

fn image() -> ImageConfig {
    ImageConfig {
        env: vec!["PATH=/usr/bin:/bin".into(), "LANG=C.UTF-8".into()],
        working_dir: Some("/srv".into()),
        entrypoint: vec!["/docker-entrypoint.sh".into()],
        cmd: vec!["nginx".into(), "-g".into(), "daemon off;".into()],
        ..ImageConfig::default()
    }
}

const PASSWD: &str = "root:x:0:0::/root:/bin/sh\nnginx:x:101:102::/:/bin/false\n";
const GROUP: &str = "root:x:0:\nnginx:x:102:\nstaff:x:50:nginx,other\nwww:x:33:nginx\n";

fn img(config: &ImageConfig) -> ContainerImage<'_> {
    ContainerImage { config, passwd: Some(PASSWD), group: Some(GROUP) }
}

fn json_of(c: &ContainerSpec, config: &ImageConfig) -> Value {
    serde_json::from_slice(&config_json(c, &img(config)).unwrap()).unwrap()
}

#[test]
fn entrypoint_and_command_as_docker_run() {
    let i = image();
    let args = |extra: &str| process_args(&spec(extra), &i).unwrap();
    assert_eq!(args(""), ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]);
    assert_eq!(args("command = [\"nginx\", \"-t\"]"), ["/docker-entrypoint.sh", "nginx", "-t"], "command replaces Cmd");
    assert_eq!(args("entrypoint = [\"/bin/sh\"]"), ["/bin/sh"], "entrypoint replaces Entrypoint and clears Cmd");
    assert_eq!(args("entrypoint = [\"/bin/sh\"]\ncommand = [\"-c\", \"echo hi\"]"), ["/bin/sh", "-c", "echo hi"]);
    assert_eq!(args("entrypoint = []\ncommand = [\"/bin/true\"]"), ["/bin/true"], "an empty entrypoint removes the image's");
    let e = process_args(&spec("entrypoint = []"), &i).unwrap_err().to_string();
    assert!(e.starts_with("container \"web\": nothing to run"), "{e}");
    let e = process_args(&spec(""), &ImageConfig::default()).unwrap_err().to_string();
    assert!(e.contains("\"web\"") && e.contains("set `command`"), "{e}");
}

#[test]
fn env_merges_over_the_image_and_docker_defaults() {
    let i = image();
    assert_eq!(process_env(&spec(""), &i), ["PATH=/usr/bin:/bin", "HOSTNAME=web", "LANG=C.UTF-8"]);
    let c = spec("env = { LANG = \"de_DE.UTF-8\", ZED = \"1\", PATH = \"/opt/bin\" }");
    assert_eq!(process_env(&c, &i), ["PATH=/opt/bin", "HOSTNAME=web", "LANG=de_DE.UTF-8", "ZED=1"]);
    let bare = ImageConfig { env: vec!["A=x=y".into(), "HOSTNAME".into()], ..ImageConfig::default() };
    assert_eq!(process_env(&spec(""), &bare), [format!("PATH={DEFAULT_PATH}"), "A=x=y".into()], "PATH default; NAME alone unsets");
}

#[test]
fn user_and_workdir() {
    let i = ImageConfig { user: Some("nginx".into()), ..image() };
    assert_eq!(process_user(&spec(""), &img(&i)).unwrap(), (101, 102), "the image's User, by name");
    assert_eq!(process_user(&spec("user = \"101\""), &img(&i)).unwrap(), (101, 102), "the primary group from passwd");
    assert_eq!(process_user(&spec("user = \"0:50\""), &img(&i)).unwrap(), (0, 50));
    assert_eq!(process_user(&spec("user = \"0\""), &img(&i)).unwrap(), (0, 0));
    let ghost = ImageConfig { user: Some("ghost".into()), ..image() };
    let e = process_user(&spec(""), &img(&ghost)).unwrap_err().to_string();
    assert!(e.starts_with("container \"web\": ") && e.contains("ghost"), "{e}");
    assert_eq!(json_of(&spec(""), &image())["process"]["cwd"], "/srv", "the image's WorkingDir");
    assert_eq!(json_of(&spec("workdir = \"/tmp\""), &image())["process"]["cwd"], "/tmp");
    assert_eq!(json_of(&spec(""), &ImageConfig { working_dir: None, ..image() })["process"]["cwd"], "/");
    let rel = ImageConfig { working_dir: Some("app".into()), ..image() };
    assert!(config_json(&spec(""), &img(&rel)).unwrap_err().to_string().contains("not absolute"));
}

#[test]
fn config_reads_back_as_an_oci_spec_with_dockers_defaults() {
    let c = spec("memory = \"16m\"\npids = 64\ncpus = 0.5\nvolumes = [{ type = \"tmpfs\", target = \"/www\", size = \"1m\", mode = 0o1777 }, { type = \"bind\", source = \"/var/lib/web\", target = \"/data\" }, { type = \"bind\", source = \"/etc/web\", target = \"/etc/web\", readonly = true }]");
    let i = image();
    let bytes = config_json(&c, &img(&i)).unwrap();
    let s: Spec = serde_json::from_slice(&bytes).expect("valid OCI runtime config");
    assert_eq!(s, runtime_spec(&c, &img(&i)).unwrap());
    let root = s.root().as_ref().unwrap();
    assert_eq!((root.path(), root.readonly()), (&PathBuf::from("rootfs"), Some(true)));
    assert_eq!(s.hostname().as_deref(), Some("web"));
    let p = s.process().as_ref().unwrap();
    assert_eq!(p.no_new_privileges(), Some(true));
    assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
    assert_eq!(p.terminal(), Some(false));
    let caps = p.capabilities().as_ref().unwrap();
    let want: std::collections::HashSet<Capability> = DEFAULT_CAPABILITIES.iter().map(|c| serde_json::from_value(json!(c)).unwrap()).collect();
    assert_eq!(want.len(), 14);
    assert_eq!(caps.bounding().as_ref(), Some(&want));
    assert_eq!(caps.effective().as_ref(), Some(&want));
    assert_eq!(caps.permitted().as_ref(), Some(&want));
    assert_eq!((caps.inheritable(), caps.ambient()), (&None, &None));
    assert!(!want.contains(&Capability::SysAdmin) && !want.contains(&Capability::NetAdmin));
    let rl = &p.rlimits().as_ref().unwrap()[0];
    assert_eq!((rl.hard(), rl.soft()), (1024, 1024));

    let linux = s.linux().as_ref().unwrap();
    assert_eq!(linux.cgroups_path().as_deref(), Some(std::path::Path::new("/kiln/web")));
    let ns = linux.namespaces().as_ref().unwrap();
    let types: Vec<LinuxNamespaceType> = ns.iter().map(|n| n.typ()).collect();
    for t in [LinuxNamespaceType::Pid, LinuxNamespaceType::Ipc, LinuxNamespaceType::Uts, LinuxNamespaceType::Mount, LinuxNamespaceType::Cgroup, LinuxNamespaceType::Network] {
        assert!(types.contains(&t), "{t:?}");
    }
    assert!(!types.contains(&LinuxNamespaceType::User));
    let net = ns.iter().find(|n| n.typ() == LinuxNamespaceType::Network).unwrap();
    assert_eq!(net.path().as_deref(), Some(std::path::Path::new("/run/kiln-ctr/netns/web")));
    assert_eq!(linux.masked_paths().as_ref().unwrap(), &MASKED_PATHS.map(String::from).to_vec());
    assert!(MASKED_PATHS.contains(&"/proc/kcore") && MASKED_PATHS.contains(&"/sys/devices/virtual/powercap"));
    assert_eq!(linux.readonly_paths().as_ref().unwrap(), &READONLY_PATHS.map(String::from).to_vec());

    let r = linux.resources().as_ref().unwrap();
    let mem = r.memory().as_ref().unwrap();
    assert_eq!((mem.limit(), mem.swap()), (Some(16 << 20), Some(16 << 20)), "swap = memory: no swap");
    assert_eq!(r.pids().as_ref().unwrap().limit(), 64);
    let cpu = r.cpu().as_ref().unwrap();
    assert_eq!((cpu.quota(), cpu.period()), (Some(50_000), Some(100_000)));
    let dev = r.devices().as_ref().unwrap();
    assert!(!dev[0].allow() && dev[0].typ().is_none() && dev[0].access().as_deref() == Some("rwm"), "deny all first");
    let allowed: Vec<(Option<i64>, Option<i64>)> = dev.iter().filter(|d| d.allow() && d.access().as_deref() == Some("rwm")).map(|d| (d.major(), d.minor())).collect();
    for (major, minor) in [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2)] {
        assert!(allowed.contains(&(Some(major), Some(minor))), "{major}:{minor}");
    }
    assert!(allowed.contains(&(Some(136), None)), "the ptys");
    assert!(!allowed.contains(&(Some(10), Some(200))) && !allowed.contains(&(Some(10), Some(229))), "no tun, no fuse");

    let mounts = s.mounts().as_ref().unwrap();
    let at = |d: &str| mounts.iter().find(|m| m.destination() == &PathBuf::from(d)).unwrap_or_else(|| panic!("no mount on {d}"));
    let opts = |d: &str| at(d).options().clone().unwrap_or_default();
    for d in ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"] {
        at(d);
    }
    assert_eq!(at("/proc").typ().as_deref(), Some("proc"));
    for o in ["ro", "nosuid", "noexec", "nodev"] {
        assert!(opts("/sys").contains(&o.to_string()), "/sys {o}");
        assert!(opts("/sys/fs/cgroup").contains(&o.to_string()), "/sys/fs/cgroup {o}");
    }
    assert_eq!(at("/www").typ().as_deref(), Some("tmpfs"));
    assert_eq!(opts("/www"), ["nosuid", "nodev", "size=1048576", "mode=1777"]);
    assert_eq!(at("/data").typ().as_deref(), Some("bind"));
    assert_eq!(at("/data").source().as_deref(), Some(std::path::Path::new("/var/lib/web")));
    assert_eq!(opts("/data"), ["rbind", "rw"]);
    assert_eq!(opts("/etc/web"), ["rbind", "ro"]);
    let order: Vec<_> = mounts.iter().map(|m| m.destination().to_string_lossy().into_owned()).collect();
    assert_eq!(&order[order.len() - 3..], ["/www", "/data", "/etc/web"], "volumes after the defaults, as listed");

    let sysctl = linux.sysctl().as_ref().unwrap();
    assert_eq!(sysctl.get("net.ipv4.ip_unprivileged_port_start").map(String::as_str), Some("0"));
    assert_eq!(sysctl.get("net.ipv4.ping_group_range").map(String::as_str), Some("0 2147483647"));
    let sc = linux.seccomp().as_ref().expect("Docker's seccomp profile");
    let v = serde_json::to_value(sc).unwrap();
    assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(v["defaultErrnoRet"], 1);
    assert!(seccomp::allows(&v, "read") && seccomp::allows(&v, "execve"));
    assert!(!seccomp::allows(&v, "mount") && !seccomp::allows(&v, "unshare") && !seccomp::allows(&v, "kexec_load"));
}

#[test]
fn limits_and_network_are_optional() {
    let v = json_of(&spec("network = false"), &image());
    let net = v["linux"]["namespaces"].as_array().unwrap().iter().find(|n| n["type"] == "network").unwrap().clone();
    assert_eq!(net, json!({ "type": "network" }), "a fresh namespace: loopback only");
    let r = &v["linux"]["resources"];
    assert!(r["memory"].is_null() && r["pids"].is_null() && r["cpu"].is_null());
    assert!(r["devices"].is_array());
    let cpus = json_of(&spec("cpus = 1.5"), &image());
    assert_eq!(cpus["linux"]["resources"]["cpu"], json!({ "quota": 150_000, "period": 100_000 }));
}

#[test]
fn non_root_users_get_only_the_bounding_set() {
    let v = json_of(&spec("user = \"1000:1000\""), &image());
    assert_eq!(v["process"]["user"], json!({ "uid": 1000, "gid": 1000, "additionalGids": [1000] }));
    let nginx = json_of(&spec("user = \"101\""), &image());
    assert_eq!(nginx["process"]["user"], json!({ "uid": 101, "gid": 102, "additionalGids": [102, 50, 33] }), "member of staff and www");
    let caps = &v["process"]["capabilities"];
    assert_eq!(caps["bounding"].as_array().unwrap().len(), 14);
    assert!(caps["effective"].is_null() && caps["permitted"].is_null());
}

#[test]
fn same_input_same_bytes() {
    let c = spec("memory = \"32m\"\nports = [\"8080:80\"]\nenv = { B = \"2\", A = \"1\" }");
    let i = image();
    let first = config_json(&c, &img(&i)).unwrap();
    for _ in 0..20 {
        // Capabilities are hash sets in oci-spec: each Spec has its own hasher seed.
        assert_eq!(config_json(&c, &img(&i)).unwrap(), first);
    }
    let v: Value = serde_json::from_slice(&first).unwrap();
    let bounding: Vec<&str> = v["process"]["capabilities"]["bounding"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    let mut sorted = bounding.clone();
    sorted.sort();
    assert_eq!(bounding, sorted);
    assert!(first.ends_with(b"}\n"));
}
