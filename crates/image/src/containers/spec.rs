//! `[[containers]]` in an image spec: the containers the container OS runs, each an
//! OCI image plus `docker run`-like settings. Every value is checked as it is read, so
//! a bad one is reported with its line and key; what needs the whole list (unique
//! names, host ports) by [`check`], also with a line.

use kiln_ctr::manifest::{Port, Restart};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;

/// One `[[containers]]` table. Containers start in the order they are listed (and
/// stop in the reverse order).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    /// A DNS label (1-63 of `a-z`, `0-9`, `-`; a letter or digit at both ends): the
    /// hostname, and the name of its bundle, cgroup and network namespace.
    #[serde(deserialize_with = "de_name")]
    pub name: String,
    /// The image: a path (OCI layout directory, oci-archive or docker-save tar) or a
    /// built-in image (`kiln:busybox`).
    pub image: ImageRef,
    /// The platform to take from a multi-platform image (`os/arch[/variant]`).
    #[serde(default = "default_platform", deserialize_with = "crate::spec::de_platform")]
    pub platform: kiln_oci::Platform,
    /// Replaces the image's `Entrypoint` and clears its `Cmd` (`docker run --entrypoint`).
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's `Cmd` (the arguments after the image in `docker run`).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Set over the image's `Env`, in the order written.
    #[serde(default, deserialize_with = "de_env")]
    pub env: Vec<(String, String)>,
    /// The working directory (absolute); default the image's `WorkingDir`, else `/`.
    #[serde(default, deserialize_with = "de_workdir")]
    pub workdir: Option<String>,
    /// `uid[:gid]`, numbers only; default the image's `User`.
    #[serde(default)]
    pub user: Option<User>,
    /// Published ports: `"8080:80"` (tcp) or `"5353:53/udp"`.
    #[serde(default, deserialize_with = "de_ports")]
    pub ports: Vec<Port>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default = "default_restart")]
    pub restart: Restart,
    /// Seconds between the stop signal and SIGKILL.
    #[serde(default = "default_stop_timeout")]
    pub stop_timeout: u32,
    /// Memory limit in bytes (`"16m"`, `"1g"`, or a number of bytes); swap is not allowed.
    #[serde(default, deserialize_with = "de_opt_bytes")]
    pub memory: Option<u64>,
    /// The most processes (tasks) the container may have.
    #[serde(default, deserialize_with = "de_pids")]
    pub pids: Option<i64>,
    /// CPUs the container may use, e.g. 0.5 (`docker run --cpus`).
    #[serde(default, deserialize_with = "de_cpus")]
    pub cpus: Option<f64>,
    /// Whether the container joins the network (CNI bridge); without, it has only
    /// loopback.
    #[serde(default = "yes")]
    pub network: bool,
}

/// Where a container's image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// An OCI layout directory, oci-archive or docker-save tar: relative to the spec's
    /// directory (`ImageSpec::load` makes it absolute) or absolute.
    Path(PathBuf),
    /// An image Kiln makes itself: the name after `kiln:` (one of [`BUILTIN_IMAGES`]).
    Builtin(String),
    /// An image in a registry (`docker://HOST[:PORT]/NAME[:TAG][@sha256:DIGEST]`): the
    /// build tool pulls it (pinned by the spec's lock file) and puts the pulled OCI
    /// layout's `Path` here before anything reads it.
    Registry(kiln_registry::Reference),
}

impl ImageRef {
    /// The local image: a path (a registry image once pulled). A registry reference
    /// not yet pulled is a bug in the caller: it names itself in the error.
    pub fn path(&self) -> Result<&std::path::Path, String> {
        match self {
            ImageRef::Path(p) => Ok(p),
            other => Err(format!("{other}: not a local image (registry images are pulled before the build reads them)")),
        }
    }
}

/// The built-in images (`kiln:NAME`): `busybox` is Kiln's static BusyBox.
pub const BUILTIN_IMAGES: [&str; 1] = ["busybox"];

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Path(p) => write!(f, "{}", p.display()),
            ImageRef::Builtin(n) => write!(f, "kiln:{n}"),
            ImageRef::Registry(r) => write!(f, "{r}"),
        }
    }
}

impl std::str::FromStr for ImageRef {
    type Err = String;
    fn from_str(s: &str) -> Result<ImageRef, String> {
        if let Some(name) = s.strip_prefix("kiln:") {
            if BUILTIN_IMAGES.contains(&name) {
                return Ok(ImageRef::Builtin(name.into()));
            }
            let known: Vec<String> = BUILTIN_IMAGES.iter().map(|n| format!("kiln:{n}")).collect();
            return Err(format!("unknown built-in image {s:?}; built-in: {}", known.join(", ")));
        }
        if kiln_registry::Reference::is_reference(s) {
            return kiln_registry::Reference::parse(s).map(ImageRef::Registry);
        }
        if s.trim().is_empty() {
            return Err("empty image; give a path (OCI layout, oci-archive, docker save), a registry reference (docker://HOST/NAME:TAG) or kiln:busybox".into());
        }
        Ok(ImageRef::Path(PathBuf::from(s)))
    }
}

impl<'de> Deserialize<'de> for ImageRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

/// `user = "uid[:gid]"`: without a gid, the primary group of the uid in the image's
/// `/etc/passwd`, else 0 (as Docker does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: Option<u32>,
}

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.gid {
            Some(g) => write!(f, "{}:{g}", self.uid),
            None => write!(f, "{}", self.uid),
        }
    }
}

impl<'de> Deserialize<'de> for User {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let bad = || de::Error::custom(format!("user {s:?}: must be \"uid\" or \"uid:gid\" (numbers)"));
        let (u, g) = match s.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (s.as_str(), None),
        };
        let num = |t: &str| if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) { t.parse::<u32>().ok() } else { None };
        let uid = num(u).ok_or_else(bad)?;
        let gid = match g {
            Some(g) => Some(num(g).ok_or_else(bad)?),
            None => None,
        };
        Ok(User { uid, gid })
    }
}

/// `volumes = [...]`: what is mounted into the container besides its image.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Volume {
    /// A fresh tmpfs (in RAM, empty at every start).
    Tmpfs {
        #[serde(deserialize_with = "de_target")]
        target: String,
        /// Bytes (`"1m"`); default the kernel's (half the RAM).
        #[serde(default, deserialize_with = "de_opt_bytes")]
        size: Option<u64>,
        /// Permission bits, e.g. `0o1777` (TOML octal); default the kernel's (1777).
        #[serde(default, deserialize_with = "de_mode")]
        mode: Option<u32>,
    },
    /// A directory of the guest, bind-mounted.
    Bind {
        #[serde(deserialize_with = "de_target")]
        source: String,
        #[serde(deserialize_with = "de_target")]
        target: String,
        #[serde(default)]
        readonly: bool,
    },
}

impl Volume {
    pub fn target(&self) -> &str {
        match self {
            Volume::Tmpfs { target, .. } | Volume::Bind { target, .. } => target,
        }
    }
}

fn default_platform() -> kiln_oci::Platform {
    kiln_oci::Platform::default()
}

fn default_restart() -> Restart {
    Restart::No
}

/// Docker's default: 10 s between the stop signal and SIGKILL.
pub const DEFAULT_STOP_TIMEOUT: u32 = 10;

fn default_stop_timeout() -> u32 {
    DEFAULT_STOP_TIMEOUT
}

fn yes() -> bool {
    true
}

/// Whether `name` can name a container: a DNS label of lower-case letters, digits
/// and `-`, at most 63, starting and ending with a letter or digit.
pub fn valid_container_name(name: &str) -> bool {
    // kiln-ctr's rule, which `run --name` checks in the guest too.
    kiln_ctr::run_spec::valid_name(name)
}

fn de_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if valid_container_name(&s) {
        Ok(s)
    } else {
        Err(de::Error::custom(format!(
            "container name {s:?}: 1-63 characters of a-z, 0-9 and -, starting and ending with a letter or digit"
        )))
    }
}

fn de_env<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    struct InOrder;
    impl<'de> Visitor<'de> for InOrder {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a table of NAME = \"value\" strings")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out: Vec<(String, String)> = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, String>()? {
                if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
                    return Err(de::Error::custom(format!("env {k:?}: a name is not empty and has no '=' (nor NUL)")));
                }
                out.push((k, v));
            }
            Ok(out)
        }
    }
    d.deserialize_map(InOrder)
}

fn de_workdir<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    de_target(d).map(Some)
}

/// An absolute path without `..` components or NUL.
fn de_target<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if !s.starts_with('/') || s.split('/').any(|c| c == "..") || s.contains('\0') {
        return Err(de::Error::custom(format!("{s:?}: an absolute path without \"..\" is needed")));
    }
    Ok(s)
}

fn de_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let m = u32::deserialize(d)?;
    if m > 0o7777 {
        return Err(de::Error::custom(format!("mode {m:#o}: at most 0o7777 (write it as a TOML octal number, 0o1777)")));
    }
    Ok(Some(m))
}

fn de_pids<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let n = i64::deserialize(d)?;
    if n < 1 {
        return Err(de::Error::custom(format!("pids {n}: at least 1")));
    }
    Ok(Some(n))
}

/// Docker's `--cpus` resolution: CFS quota per 100 ms period; the kernel's smallest
/// quota is 1 ms, so 0.01 CPU.
fn de_cpus<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let n = f64::deserialize(d)?;
    if !(0.01..=4096.0).contains(&n) {
        return Err(de::Error::custom(format!("cpus {n}: between 0.01 and 4096")));
    }
    Ok(Some(n))
}

fn de_ports<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Port>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    v.iter().map(|s| parse_port(s).map_err(de::Error::custom)).collect()
}

/// `"HOST:CONTAINER"` or `"HOST:CONTAINER/udp"` (or `/tcp`), ports 1-65535.
pub fn parse_port(s: &str) -> Result<Port, String> {
    let bad = |why: &str| format!("port {s:?}: {why}; write \"HOST:CONTAINER\" or \"HOST:CONTAINER/udp\", e.g. \"8080:80\"");
    let (ports, protocol) = match s.split_once('/') {
        Some((p, proto @ ("tcp" | "udp"))) => (p, proto),
        Some(_) => return Err(bad("the protocol is tcp or udp")),
        None => (s, "tcp"),
    };
    let (h, c) = ports.split_once(':').ok_or_else(|| bad("two ports are needed"))?;
    let num = |t: &str| -> Result<u16, String> {
        match t.parse::<u16>() {
            Ok(n) if n > 0 && t.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => Err(bad(&format!("{t:?} is not a port (1-65535)"))),
        }
    };
    Ok(Port { host_port: num(h)?, container_port: num(c)?, protocol: protocol.into() })
}

fn de_opt_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    let n = match Raw::deserialize(d)? {
        Raw::N(n) => n,
        Raw::S(s) => parse_bytes(&s).map_err(de::Error::custom)?,
    };
    if n == 0 {
        return Err(de::Error::custom("a size of 0 bytes"));
    }
    Ok(Some(n))
}

/// A size as Docker writes it: a whole number and an optional unit `k`, `m`, `g` or
/// `t` (powers of 1024, any case, optionally followed by `b` or `ib`): `"16m"`, `"1g"`,
/// `"512KiB"`, `"4096"`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let bad = || format!("size {s:?}: a whole number with an optional unit k, m, g or t (\"16m\", \"1g\")");
    let t = s.trim().to_ascii_lowercase();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = t.split_at(digits);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let unit = unit.trim_start();
    let unit = unit.strip_suffix("ib").or_else(|| unit.strip_suffix('b')).unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(bad()),
    };
    n.checked_mul(1u64 << shift).ok_or_else(|| format!("size {s:?}: too large"))
}

/// Docker's smallest memory limit (6 MiB): less does not start a process.
pub const MIN_MEMORY: u64 = 6 << 20;

/// The checks that need more than one value or container. `text` is the spec's text,
/// to name the line of the container at fault. Errors read `line N, key `...`: ...`.
pub fn check(containers: &[ContainerSpec], text: &str) -> Result<(), String> {
    let line = |i: usize| name_line(text, i);
    let mut host_ports: Vec<(u16, &str, &str)> = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let at = |key: &str, msg: String| format!("line {}, key `containers.{key}`: container {:?}: {msg}", line(i), c.name);
        if let Some(j) = containers[..i].iter().position(|o| o.name == c.name) {
            return Err(at("name", format!("the name is taken by the container on line {}", line(j))));
        }
        if let Some(m) = c.memory.filter(|m| *m < MIN_MEMORY) {
            return Err(at("memory", format!("{m} bytes; the least is 6m ({MIN_MEMORY} bytes)")));
        }
        if !c.ports.is_empty() && !c.network {
            return Err(at("ports", "ports are published on the network; remove them or set network = true".into()));
        }
        for p in &c.ports {
            if let Some((_, other, _)) = host_ports.iter().find(|(h, _, proto)| *h == p.host_port && *proto == p.protocol) {
                return Err(at("ports", format!("host port {}/{} is already published by {other:?}", p.host_port, p.protocol)));
            }
            host_ports.push((p.host_port, &c.name, &p.protocol));
        }
        let mut targets: Vec<&str> = Vec::new();
        for v in &c.volumes {
            let t = v.target().trim_end_matches('/');
            if t.is_empty() {
                return Err(at("volumes", "a volume cannot be mounted on /".into()));
            }
            if targets.contains(&t) {
                return Err(at("volumes", format!("two volumes on {t}")));
            }
            targets.push(t);
        }
        if let Some(e) = c.entrypoint.iter().chain(&c.command).flatten().find(|a| a.contains('\0')) {
            return Err(at("command", format!("{e:?} contains NUL")));
        }
    }
    Ok(())
}

/// The line of the `name` key of the `index`th container (1 when it cannot be found).
fn name_line(text: &str, index: usize) -> usize {
    #[derive(Deserialize)]
    struct Names {
        #[serde(default)]
        containers: Vec<NameOnly>,
    }
    #[derive(Deserialize)]
    struct NameOnly {
        name: toml::Spanned<String>,
    }
    toml::from_str::<Names>(text)
        .ok()
        .and_then(|n| n.containers.get(index).map(|c| text[..c.name.span().start].matches('\n').count() + 1))
        .unwrap_or(1)
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
