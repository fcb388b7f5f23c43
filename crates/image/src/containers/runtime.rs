//! A container's OCI runtime `config.json`: what Docker (moby's `oci/defaults.go` and
//! `daemon/oci_linux.go`) and `runc spec` give a container by default, with the
//! container's settings and its image's config applied as `docker run` does.

use super::seccomp;
use super::spec::{ContainerSpec, Volume};
use crate::{Error, Result};
use kiln_ctr::manifest::{cgroup_path, netns_path};
use kiln_oci::ImageConfig;
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

/// The `PATH` a container gets when neither its image nor its spec sets one
/// (Docker's `DefaultPathEnv`).
pub const DEFAULT_PATH: &str = kiln_ctr::run_spec::DEFAULT_PATH;

/// The capabilities Docker and containerd give a container (moby `oci/caps`
/// `DefaultCapabilities`, containerd `oci.defaultUnixCaps`).
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Paths of `/proc` and `/sys` hidden from the container: moby's `oci/defaults.go`
/// list plus `/sys/devices/virtual/powercap`, as `docker inspect` shows a container's
/// `HostConfig.MaskedPaths` (the newest engines also mask `/proc/interrupts`).
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths of `/proc` the container sees read-only (moby `oci/defaults.go`, `runc spec`).
pub const READONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The CFS period of `cpus` (Docker's `--cpus`): 100 ms.
pub const CPU_PERIOD: u64 = 100_000;

/// What the config needs from a container's image.
#[derive(Debug, Clone, Copy)]
pub struct ContainerImage<'a> {
    /// `Env`, `WorkingDir`, `User`, `Entrypoint`, `Cmd`, `StopSignal`.
    pub config: &'a ImageConfig,
    /// The image's `/etc/passwd` and `/etc/group`, to resolve names in `User` (and a
    /// uid's primary group).
    pub passwd: Option<&'a str>,
    pub group: Option<&'a str>,
}

fn err(c: &ContainerSpec, message: String) -> Error {
    Error::Container { name: c.name.clone(), message }
}

/// The program and its arguments, as `docker run` makes them: the image's
/// `Entrypoint` + `Cmd`; `command` replaces `Cmd`; `entrypoint` replaces `Entrypoint`
/// and drops the image's `Cmd` (then `command`, if given, follows it). Nothing to run
/// is an error.
pub fn process_args(c: &ContainerSpec, image: &ImageConfig) -> Result<Vec<String>> {
    let entrypoint = c.entrypoint.clone().unwrap_or_else(|| image.entrypoint.clone());
    let cmd = match (&c.command, &c.entrypoint) {
        (Some(cmd), _) => cmd.clone(),
        (None, Some(_)) => Vec::new(),
        (None, None) => image.cmd.clone(),
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() || args[0].is_empty() {
        return Err(err(c, "nothing to run: the image has no Entrypoint or Cmd; set `command` (or `entrypoint`)".into()));
    }
    Ok(args)
}

/// The environment, as Docker makes it ([`kiln_ctr::run_spec::env`]): `PATH` (Docker's
/// default) and `HOSTNAME`, then the image's `Env` over them, then the spec's `env`.
pub fn process_env(c: &ContainerSpec, image: &ImageConfig) -> Vec<String> {
    kiln_ctr::run_spec::env(&c.name, &image.env, &c.env)
}

/// The user the process runs as: the spec's `user`, else the image's `User`, resolved
/// against the image's `/etc/passwd` and `/etc/group`; root is `(0, 0)`.
pub fn process_user(c: &ContainerSpec, image: &ContainerImage) -> Result<(u32, u32)> {
    let user = c.user.map(|u| u.to_string()).or_else(|| image.config.user.clone());
    let resolved = crate::oci_user::resolve_user(user.as_deref(), image.passwd, image.group)
        .map_err(|e| err(c, e.to_string().replace("container image: ", "")))?;
    Ok(resolved.unwrap_or((0, 0)))
}

/// The container's OCI runtime configuration (the bundle's `config.json`): the root
/// file system `rootfs` read-only; the image's program, environment, working
/// directory and user with the spec's overrides; Docker's capabilities, mounts, masked
/// and read-only paths, device rules and seccomp profile; `no_new_privileges`;
/// `RLIMIT_NOFILE` 1024 as `runc spec`; Docker's network sysctls; new pid, ipc, uts, mount and cgroup
/// namespaces and the network namespace kiln-ctr makes ([`netns_path`]; a fresh one
/// with only loopback when `network = false`); the cgroup [`cgroup_path`] with the
/// memory (no swap), pids and CPU limits.
pub fn runtime_spec(c: &ContainerSpec, image: &ContainerImage) -> Result<Spec> {
    let value = spec_value(c, image)?;
    serde_json::from_value(value).map_err(|e| err(c, format!("config.json does not read back as an OCI runtime spec: {e}")))
}

/// [`runtime_spec`] as the bytes of `config.json`: pretty JSON, the same bytes for the
/// same inputs (capability sets sorted).
pub fn config_json(c: &ContainerSpec, image: &ContainerImage) -> Result<Vec<u8>> {
    let spec = runtime_spec(c, image)?;
    spec_json(&spec).map_err(|e| err(c, e))
}

/// A runtime spec as deterministic JSON bytes: oci-spec keeps capabilities in hash
/// sets, so they are sorted here; everything else is in the struct's order.
pub fn spec_json(spec: &Spec) -> std::result::Result<Vec<u8>, String> {
    let mut v = serde_json::to_value(spec).map_err(|e| e.to_string())?;
    // Hash maps too: whatever serde_json's map keeps, the keys are written sorted.
    if let Some(sysctl) = v.pointer_mut("/linux/sysctl").and_then(Value::as_object_mut) {
        let mut entries: Vec<(String, Value)> = std::mem::take(sysctl).into_iter().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        sysctl.extend(entries);
    }
    if let Some(caps) = v.pointer_mut("/process/capabilities").and_then(Value::as_object_mut) {
        for set in caps.values_mut() {
            if let Some(list) = set.as_array_mut() {
                list.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
    let mut out = serde_json::to_vec_pretty(&v).map_err(|e| e.to_string())?;
    out.push(b'\n');
    Ok(out)
}

/// The template of `kiln-ctr run`'s `config.json`
/// ([`kiln_ctr::run_spec::RUN_TEMPLATE_PATH`]): a container with no settings, as
/// [`runtime_spec`] makes it (Docker's capabilities, mounts, masked and read-only paths,
/// device rules, seccomp profile, `no_new_privileges`, `RLIMIT_NOFILE`, sysctls,
/// namespaces; no resource limits, as `docker run` gives none), with the process,
/// hostname and cgroup left for kiln-ctr ([`kiln_ctr::run_spec::fill`]). Its root is
/// writable: a run's root is a private copy of the image on tmpfs, deleted after the
/// run, so writes reach neither the image nor another run; images expect to write
/// (`/tmp`, `/run`), and the runtime can make the mount points an image lacks (the
/// build-time bundles make them at build time because their root is read-only).
pub fn run_template_json() -> Result<Vec<u8>> {
    let text = "name = \"run-template\"\n[kernel]\nfragments = []\n[busybox]\nfragments = []\n\
                [[containers]]\nname = \"run\"\nimage = \"kiln:busybox\"\nnetwork = false\n";
    let c = crate::ImageSpec::parse("the kiln-ctr run template", text)?.containers.remove(0);
    let config = ImageConfig { cmd: vec!["sh".into()], ..ImageConfig::default() };
    let mut v = spec_value(&c, &ContainerImage { config: &config, passwd: None, group: None })?;
    v["process"]["args"] = json!([]);
    v["process"]["env"] = json!([]);
    v["hostname"] = json!("");
    v["root"]["readonly"] = json!(false);
    v["linux"]["cgroupsPath"] = json!("");
    let spec: Spec = serde_json::from_value(v).map_err(|e| err(&c, format!("the run template does not read back as an OCI runtime spec: {e}")))?;
    spec_json(&spec).map_err(|e| err(&c, e))
}

fn spec_value(c: &ContainerSpec, image: &ContainerImage) -> Result<Value> {
    let args = process_args(c, image.config)?;
    let env = process_env(c, image.config);
    let cwd = c.workdir.clone().or_else(|| image.config.working_dir.clone()).unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(err(c, format!("the image's WorkingDir {cwd:?} is not absolute; set `workdir`")));
    }
    let (uid, gid) = process_user(c, image)?;
    let mut gids = vec![gid];
    gids.extend(kiln_ctr::run_spec::supplementary_groups(uid, image.passwd, image.group).into_iter().filter(|g| *g != gid));
    // Docker gives a non-root user only the bounding set: execve drops the others.
    let capabilities = if uid == 0 {
        json!({ "bounding": DEFAULT_CAPABILITIES, "effective": DEFAULT_CAPABILITIES, "permitted": DEFAULT_CAPABILITIES })
    } else {
        json!({ "bounding": DEFAULT_CAPABILITIES })
    };
    let mut mounts = default_mounts();
    for v in &c.volumes {
        mounts.push(match v {
            Volume::Tmpfs { target, size, mode } => {
                let mut options = vec!["nosuid".to_string(), "nodev".into()];
                options.extend(size.map(|s| format!("size={s}")));
                options.extend(mode.map(|m| format!("mode={m:o}")));
                json!({ "destination": target, "type": "tmpfs", "source": "tmpfs", "options": options })
            }
            Volume::Bind { source, target, readonly } => {
                let options = ["rbind", if *readonly { "ro" } else { "rw" }];
                json!({ "destination": target, "type": "bind", "source": source, "options": options })
            }
        });
    }
    let network = if c.network { json!({ "type": "network", "path": netns_path(&c.name) }) } else { json!({ "type": "network" }) };
    let namespaces = json!([{ "type": "pid" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" }, network]);
    let mut resources = json!({ "devices": device_rules() });
    if let Some(m) = c.memory {
        // Swap is memory + swap in the OCI spec: the same value allows no swap.
        resources["memory"] = json!({ "limit": m, "swap": m });
    }
    if let Some(n) = c.pids {
        resources["pids"] = json!({ "limit": n });
    }
    if let Some(cpus) = c.cpus {
        resources["cpu"] = json!({ "quota": (cpus * CPU_PERIOD as f64).round() as i64, "period": CPU_PERIOD });
    }
    let seccomp = seccomp::default_profile(&DEFAULT_CAPABILITIES, seccomp::GUEST_KERNEL);
    Ok(json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": uid, "gid": gid, "additionalGids": gids },
            "args": args,
            "env": env,
            "cwd": cwd,
            "capabilities": capabilities,
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": c.name,
        "mounts": mounts,
        "linux": {
            "resources": resources,
            "cgroupsPath": cgroup_path(&c.name),
            "namespaces": namespaces,
            "seccomp": seccomp,
            // Docker's for a container with its own network namespace: ping without
            // CAP_NET_RAW, and any port without CAP_NET_BIND_SERVICE.
            "sysctl": { "net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "0" },
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS
        }
    }))
}

/// Docker's and `runc spec`'s mounts, in their order.
fn default_mounts() -> Vec<Value> {
    let m = |dest: &str, typ: &str, src: &str, opts: &[&str]| json!({ "destination": dest, "type": typ, "source": src, "options": opts });
    vec![
        m("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        m("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
        m("/dev/pts", "devpts", "devpts", &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        m("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
        // Type `cgroup` as Docker and `runc spec` write it: on a cgroup v2 host (the
        // guest) the runtime mounts cgroup2, the container's own subtree through its
        // cgroup namespace.
        m("/sys/fs/cgroup", "cgroup", "cgroup", &["nosuid", "noexec", "nodev", "relatime", "ro"]),
        m("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
        m("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
    ]
}

/// The device cgroup: deny everything, then allow what runc allows every container
/// (libcontainer `AllowedDevices`, without tun/tap): mknod of any device, and
/// null, zero, full, random, urandom, tty, console, ptmx and the ptys.
fn device_rules() -> Value {
    let allow = |typ: &str, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = json!({ "allow": true, "type": typ, "access": access });
        if let Some(m) = major {
            r["major"] = json!(m);
        }
        if let Some(m) = minor {
            r["minor"] = json!(m);
        }
        r
    };
    json!([
        { "allow": false, "access": "rwm" },
        allow("c", None, None, "m"),
        allow("b", None, None, "m"),
        allow("c", Some(1), Some(3), "rwm"),
        allow("c", Some(1), Some(5), "rwm"),
        allow("c", Some(1), Some(7), "rwm"),
        allow("c", Some(1), Some(8), "rwm"),
        allow("c", Some(1), Some(9), "rwm"),
        allow("c", Some(5), Some(0), "rwm"),
        allow("c", Some(5), Some(1), "rwm"),
        allow("c", Some(5), Some(2), "rwm"),
        allow("c", Some(136), None, "rwm"),
    ])
}

#[cfg(test)]
#[path = "runtime_tests.rs"]
mod tests;
