//! Docker's default seccomp profile, in the OCI runtime form for x86_64.
//!
//! `moby-seccomp-default.json` beside this file is moby's `profiles/seccomp/default.json`
//! unchanged, from moby/moby commit 00f3d189e420d485e42d15fe494f96d272284e0e (the
//! profile of Docker Engine 25-27: `defaultErrnoRet` 1, AF_VSOCK sockets refused,
//! `CAP_BPF`/`CAP_PERFMON` rules). To update it, replace the file with a newer moby's
//! `profiles/seccomp/default.json` (generated there from `default_linux.go` by
//! `go generate`) and run this crate's tests; nothing else is derived by hand.
//!
//! [`default_profile`] converts it as moby's `setupSeccomp`
//! (`profiles/seccomp/seccomp_linux.go`) does on an amd64 host: the `archMap` entry of
//! `SCMP_ARCH_X86_64` gives the architectures; a rule is kept when its `includes`
//! (arches, capabilities, minimum kernel) all hold and none of its `excludes` does,
//! the capabilities being the container's bounding set; `comment`, `includes` and
//! `excludes` are dropped.

use serde::Deserialize;
use serde_json::{json, Value};

/// moby's `profiles/seccomp/default.json`, as shipped (see the module comment).
pub const MOBY_DEFAULT_PROFILE: &str = include_str!("moby-seccomp-default.json");

/// The kernel the guest runs (major, minor): the profile's `minKernel` rules are
/// resolved against it. sources.toml pins Linux 6.12 (a test checks they agree).
pub const GUEST_KERNEL: (u32, u32) = (6, 12);

/// moby's name of the native architecture (`runtime.GOARCH` amd64) and its libseccomp
/// name.
const ARCH: &str = "amd64";
const SECCOMP_ARCH: &str = "SCMP_ARCH_X86_64";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    arch_map: Vec<ArchMap>,
    syscalls: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    names: Vec<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Value>>,
    #[serde(default)]
    includes: Filter,
    #[serde(default)]
    excludes: Filter,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

fn kernel_at_least(min: &str, kernel: (u32, u32)) -> bool {
    let mut parts = min.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let want = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    kernel >= want
}

/// The profile as the OCI runtime spec's `linux.seccomp` (JSON), for a container whose
/// bounding capability set is `caps`, on a `kernel` (major, minor).
pub fn default_profile(caps: &[&str], kernel: (u32, u32)) -> Value {
    let profile: Profile = serde_json::from_str(MOBY_DEFAULT_PROFILE).expect("the shipped moby profile reads (a test checks it)");
    let mut architectures = Vec::new();
    if let Some(a) = profile.arch_map.iter().find(|a| a.architecture == SECCOMP_ARCH) {
        architectures.push(a.architecture.clone());
        architectures.extend(a.sub_architectures.clone().unwrap_or_default());
    }
    let has = |c: &String| caps.contains(&c.as_str());
    let mut syscalls = Vec::new();
    for r in &profile.syscalls {
        let (inc, exc) = (&r.includes, &r.excludes);
        let excluded = exc.arches.iter().any(|a| a == ARCH)
            || exc.caps.iter().any(has)
            || exc.min_kernel.as_deref().is_some_and(|m| kernel_at_least(m, kernel));
        let included = (inc.arches.is_empty() || inc.arches.iter().any(|a| a == ARCH))
            && inc.caps.iter().all(has)
            && inc.min_kernel.as_deref().is_none_or(|m| kernel_at_least(m, kernel));
        if excluded || !included {
            continue;
        }
        let mut s = json!({ "names": r.names, "action": r.action });
        if let Some(e) = r.errno_ret {
            s["errnoRet"] = json!(e);
        }
        if let Some(args) = r.args.as_ref().filter(|a| !a.is_empty()) {
            s["args"] = json!(args);
        }
        syscalls.push(s);
    }
    let mut out = json!({ "defaultAction": profile.default_action, "architectures": architectures, "syscalls": syscalls });
    if let Some(e) = profile.default_errno_ret {
        out["defaultErrnoRet"] = json!(e);
    }
    out
}

/// Whether `profile` (the OCI form) lets `name` through without conditions on its
/// arguments: some `SCMP_ACT_ALLOW` rule names it and has no `args`.
pub fn allows(profile: &Value, name: &str) -> bool {
    profile["syscalls"].as_array().into_iter().flatten().any(|s| {
        s["action"] == "SCMP_ACT_ALLOW" && s["args"].is_null() && s["names"].as_array().is_some_and(|n| n.iter().any(|x| x == name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::runtime::DEFAULT_CAPABILITIES;

    fn x86() -> Value {
        default_profile(&DEFAULT_CAPABILITIES, GUEST_KERNEL)
    }

    #[test]
    fn the_shipped_file_is_mobys_profile() {
        let raw: Value = serde_json::from_str(MOBY_DEFAULT_PROFILE).unwrap();
        assert_eq!(raw["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(raw["defaultErrnoRet"], 1);
        // Every rule is one moby's setupSeccomp understands.
        let p: Profile = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(p.syscalls.len(), raw["syscalls"].as_array().unwrap().len());
        // Written by Go's json.MarshalIndent with tabs: no trailing newline, tabs.
        assert!(MOBY_DEFAULT_PROFILE.starts_with("{\n\t\"defaultAction\""));
        assert_eq!(MOBY_DEFAULT_PROFILE.len(), 12782, "the file as moby ships it, byte for byte");
    }

    #[test]
    fn x86_64_form_of_the_default_profile() {
        let p = x86();
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(p["defaultErrnoRet"], 1, "EPERM");
        assert_eq!(p["architectures"], json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]));
        for ok in ["read", "write", "execve", "arch_prctl", "modify_ldt", "chroot", "futex", "io_uring_setup", "landlock_create_ruleset"] {
            assert!(allows(&p, ok), "{ok}");
        }
        // Only with CAP_SYS_ADMIN, CAP_SYS_BOOT, CAP_SYS_MODULE, ..., or other arches.
        for denied in ["mount", "umount2", "unshare", "setns", "reboot", "init_module", "bpf", "kexec_load", "open_by_handle_at", "perf_event_open", "clock_settime", "swapcontext", "set_tls", "acct", "syslog", "keyctl", "add_key", "userfaultfd"] {
            assert!(!allows(&p, denied), "{denied}");
        }
        // On kernels >= 4.8 seccomp cannot be bypassed with ptrace, so Docker allows it.
        assert!(allows(&p, "ptrace"));
        assert!(!allows(&x86_on((4, 4)), "ptrace"));
        let all = |name: &str| p["syscalls"].as_array().unwrap().iter().filter(|s| s["names"].as_array().unwrap().iter().any(|n| n == name)).cloned().collect::<Vec<_>>();
        // clone: only without namespace flags; clone3: ENOSYS so glibc falls back to clone.
        let clone = all("clone");
        assert_eq!(clone.len(), 1, "{clone:?}");
        assert_eq!(clone[0]["args"], json!([{ "index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ" }]));
        let clone3 = all("clone3");
        assert_eq!(clone3, [json!({ "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 })]);
        assert_eq!(all("personality").len(), 5, "personality with the five allowed values");
        assert_eq!(all("socket")[0]["args"][0]["value"], 40, "every family but AF_VSOCK");
    }

    fn x86_on(kernel: (u32, u32)) -> Value {
        default_profile(&DEFAULT_CAPABILITIES, kernel)
    }

    #[test]
    fn capability_rules_follow_the_bounding_set() {
        let admin: Vec<&str> = DEFAULT_CAPABILITIES.iter().copied().chain(["CAP_SYS_ADMIN"]).collect();
        let p = default_profile(&admin, GUEST_KERNEL);
        assert!(allows(&p, "mount") && allows(&p, "clone") && allows(&p, "unshare"));
        assert!(!p["syscalls"].as_array().unwrap().iter().any(|s| s["names"][0] == "clone3" && s["action"] == "SCMP_ACT_ERRNO"));
        assert!(!allows(&default_profile(&[], GUEST_KERNEL), "chroot"), "chroot needs CAP_SYS_CHROOT");
    }

    #[test]
    fn guest_kernel_is_the_pinned_one() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sources.toml");
        let text = std::fs::read_to_string(root).unwrap();
        let v: toml::Value = toml::from_str(&text).unwrap();
        let version = v["linux"]["version"].as_str().unwrap();
        let (major, minor) = (GUEST_KERNEL.0.to_string(), GUEST_KERNEL.1.to_string());
        assert!(version.starts_with(&format!("{major}.{minor}.")) || version == format!("{major}.{minor}"), "{version} vs {GUEST_KERNEL:?}");
    }
}
