//! What `docker run` makes of an image's config, shared by the build tool (each
//! `[[containers]]` bundle's `config.json`) and `kiln-ctr run` (a container run
//! from an unpacked image in the guest): the environment, the user (names resolved
//! against the image's own `/etc/passwd` and `/etc/group`, since the guest may have no
//! name service), and the run's `config.json`, made from the template the build writes
//! ([`RUN_TEMPLATE_PATH`]: Docker's defaults, with no process yet) by [`fill`].

use crate::manifest::{cgroup_path, netns_path};
use crate::{bail, Error, Result};
use serde_json::{json, Value};

/// The template of a `kiln-ctr run` container's `config.json`, written by the build tool
/// when the image has containers.
pub const RUN_TEMPLATE_PATH: &str = "/etc/kiln-ctr/run-template.json";
/// Where `kiln-ctr run` unpacks images: `RUN_DIR/NAME/{config.json,rootfs}` (tmpfs).
pub const RUN_DIR: &str = "/var/lib/kiln-ctr/run";

/// A container name: a DNS label (1-63 of `a-z`, `0-9`, `-`, a letter or digit at both
/// ends), as `[[containers]]` names are; it names a directory, a cgroup and a netns.
pub fn valid_name(n: &str) -> bool {
    let ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let b = n.as_bytes();
    !b.is_empty() && b.len() <= 63 && b.iter().all(|c| ok(*c) || *c == b'-') && ok(b[0]) && ok(b[b.len() - 1])
}

/// The `PATH` a container gets when its image sets none (Docker's `DefaultPathEnv`).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The environment, as Docker makes it: `PATH` (Docker's default) and `HOSTNAME`, then
/// the image's `Env` over them, then `overrides`; a name set again keeps its place and
/// takes the new value. An image entry without `=` unsets the name.
pub fn env(hostname: &str, image_env: &[String], overrides: &[(String, String)]) -> Vec<String> {
    let mut env: Vec<(String, String)> = vec![("PATH".into(), DEFAULT_PATH.into()), ("HOSTNAME".into(), hostname.into())];
    let mut set = |k: &str, v: Option<&str>| match (env.iter().position(|(n, _)| n == k), v) {
        (Some(i), Some(v)) => env[i].1 = v.to_string(),
        (None, Some(v)) => env.push((k.to_string(), v.to_string())),
        (Some(i), None) => {
            env.remove(i);
        }
        (None, None) => {}
    };
    for kv in image_env {
        match kv.split_once('=') {
            Some((k, v)) => set(k, Some(v)),
            None => set(kv, None),
        }
    }
    for (k, v) in overrides {
        set(k, Some(v));
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn entries(text: Option<&str>) -> Vec<Vec<&str>> {
    text.unwrap_or_default().lines().filter(|l| !l.starts_with('#')).map(|l| l.split(':').collect()).collect()
}

/// An image's `User` as `(uid, gid)`, or `None` for root (no `User`, `root`, `0`,
/// `0:0`, ...). Forms: `user`, `uid`, `user:group`, `uid:gid`, `uid:group`,
/// `user:gid`. A name is looked up in `passwd` (a group name in `group`); a user
/// without a group gets the primary group of its passwd entry, or 0 when it has none,
/// as Docker does. Errors say `the image's User ...`.
pub fn resolve_user(user: Option<&str>, passwd: Option<&str>, group: Option<&str>) -> Result<Option<(u32, u32)>> {
    let Some(user) = user.map(str::trim).filter(|u| !u.is_empty()) else { return Ok(None) };
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let users = entries(passwd);
    // passwd: name:x:uid:gid:...
    let by_name = users.iter().find(|f| f.len() > 3 && f[0] == u);
    let uid = match u.parse::<u32>() {
        Ok(n) => n,
        Err(_) => match by_name.and_then(|f| f[2].parse().ok()) {
            Some(n) => n,
            None => bail!("the image's User {user:?}: no user {u:?} in its /etc/passwd; use a number (User 1000:1000)"),
        },
    };
    let gid = match g.filter(|g| !g.is_empty()) {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => entries(group)
                .iter()
                .find(|f| f.len() > 2 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| Error(format!("the image's User {user:?}: no group {g:?} in its /etc/group; use a number")))?,
        },
        None => users.iter().find(|f| f.len() > 3 && f[2].parse() == Ok(uid)).and_then(|f| f[3].parse().ok()).unwrap_or(0),
    };
    Ok(if (uid, gid) == (0, 0) { None } else { Some((uid, gid)) })
}

/// The groups of `group` that list the user (named by its `passwd` entry) as a
/// member, as runc's `GetExecUser` finds them; Docker passes them with the primary
/// group as `additionalGids`.
pub fn supplementary_groups(uid: u32, passwd: Option<&str>, group: Option<&str>) -> Vec<u32> {
    let Some(name) = entries(passwd).into_iter().find(|f| f.len() > 3 && f[2].parse() == Ok(uid)).map(|f| f[0].to_string()) else {
        return Vec::new();
    };
    let mut gids: Vec<u32> = Vec::new();
    for f in entries(group) {
        if f.len() > 3 && f[3].split(',').any(|m| m.trim() == name) {
            if let Ok(g) = f[2].parse::<u32>() {
                if !gids.contains(&g) {
                    gids.push(g);
                }
            }
        }
    }
    gids
}

/// The process of a run: what [`fill`] puts into the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    /// The primary group first, then the supplementary ones.
    pub additional_gids: Vec<u32>,
}

/// The process of a run of an image, as `docker run IMAGE [CMD...]` makes it: the
/// image's `Entrypoint` followed by `cmd` (when given) or the image's `Cmd`; Docker's
/// environment; `WorkingDir` or `/`; `User` resolved with the image's `passwd` and
/// `group` files.
pub struct ImageRun<'a> {
    pub name: &'a str,
    pub entrypoint: &'a [String],
    pub image_cmd: &'a [String],
    pub cmd: &'a [String],
    pub image_env: &'a [String],
    pub working_dir: Option<&'a str>,
    pub user: Option<&'a str>,
    pub passwd: Option<&'a str>,
    pub group: Option<&'a str>,
}

impl ImageRun<'_> {
    pub fn process(&self) -> Result<Process> {
        let cmd = if self.cmd.is_empty() { self.image_cmd } else { self.cmd };
        let args: Vec<String> = self.entrypoint.iter().chain(cmd).cloned().collect();
        if args.first().is_none_or(|a| a.is_empty()) {
            bail!("nothing to run: the image has no Entrypoint or Cmd; give a command after --");
        }
        let cwd = self.working_dir.filter(|d| !d.is_empty()).unwrap_or("/").to_string();
        if !cwd.starts_with('/') {
            bail!("the image's WorkingDir {cwd:?} is not absolute");
        }
        let (uid, gid) = resolve_user(self.user, self.passwd, self.group)?.unwrap_or((0, 0));
        let mut additional_gids = vec![gid];
        additional_gids.extend(supplementary_groups(uid, self.passwd, self.group).into_iter().filter(|g| *g != gid));
        Ok(Process { args, env: env(self.name, self.image_env, &[]), cwd, uid, gid, additional_gids })
    }
}

/// The run's `config.json` from the template: the process, the hostname `name`, the
/// root `rootfs` (beside the config), the cgroup [`cgroup_path`]`(name)`, and the
/// network namespace kiln-ctr made ([`netns_path`]`(name)`) when `network`, else a
/// fresh one (loopback only, as a `network = false` container). A non-root user keeps
/// only the bounding capability set, as Docker gives it (execve drops the others).
pub fn fill(template: &Value, name: &str, p: &Process, network: bool) -> Result<Value> {
    let mut v = template.clone();
    let Some(process) = v.get_mut("process").and_then(Value::as_object_mut) else { bail!("the run template has no process") };
    process.insert("args".into(), json!(p.args));
    process.insert("env".into(), json!(p.env));
    process.insert("cwd".into(), json!(p.cwd));
    process.insert("user".into(), json!({ "uid": p.uid, "gid": p.gid, "additionalGids": p.additional_gids }));
    if p.uid != 0 {
        let bounding = process.get("capabilities").and_then(|c| c.get("bounding")).cloned().unwrap_or(json!([]));
        process.insert("capabilities".into(), json!({ "bounding": bounding }));
    }
    v["hostname"] = json!(name);
    v["root"] = json!({ "path": "rootfs", "readonly": false });
    let Some(linux) = v.get_mut("linux").and_then(Value::as_object_mut) else { bail!("the run template has no linux section") };
    linux.insert("cgroupsPath".into(), json!(cgroup_path(name)));
    let Some(namespaces) = linux.get_mut("namespaces").and_then(Value::as_array_mut) else { bail!("the run template has no namespaces") };
    namespaces.retain(|n| n["type"] != "network");
    namespaces.push(if network { json!({ "type": "network", "path": netns_path(name) }) } else { json!({ "type": "network" }) });
    Ok(v)
}

#[cfg(test)]
#[path = "run_spec_tests.rs"]
mod tests;
