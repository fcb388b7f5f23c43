//! The container OS (`images/container.toml`): kiln-ctr runs three containers from
//! Kiln's own BusyBox image on a CNI bridge, in at most 256 MiB, under SeaBIOS and
//! OVMF. Everything the script expects is computed in the guest (by the containers,
//! the kernel or kiln-ctr), never the echo of what it types.

use super::cases::{boot, cmd, machine, never, Case};
use super::host_http::HostHttp;
use super::live::cell;
use crate::artifacts::{self, Artifacts};
use crate::ctx::Ctx;
use anyhow::{Context, Result};
use kiln_vm::{Accel, Step};
use std::time::Duration;

/// The image spec of these cases.
pub const IMAGE: &str = "container";
/// The memory the issue allows the container OS.
pub const MEMORY_MIB: u32 = 256;
/// Firmware × medium.
pub const CELLS: [&str; 2] = ["seabios-cd", "ovmf-cd"];

pub fn names() -> Vec<String> {
    CELLS.iter().map(|c| format!("container-{c}")).collect()
}

/// Whether `--only` selects a container case (the image is built only then).
pub fn wanted(only: &[String]) -> bool {
    only.is_empty() || names().iter().any(|n| only.iter().any(|o| n.contains(o.as_str())))
}

pub fn build(ctx: &Ctx) -> Result<Artifacts> {
    artifacts::build(ctx, IMAGE, true).context("building images/container.toml")
}

/// Each case gets its own host-side HTTP server (a free port on 127.0.0.1, a body no
/// one typed) for the guest to fetch through its DHCP-configured uplink, and its own
/// registry to pull from (`registry.rs`).
pub fn cases(a: &Artifacts, accel: Accel) -> Result<Vec<Case>> {
    let iso = a.iso.clone().context("built with an ISO")?;
    CELLS
        .iter()
        .map(|c| {
            let (fw, medium) = cell(c, &iso);
            let mut m = machine(fw, medium, accel);
            m.memory_mib = Some(MEMORY_MIB);
            let host = HostHttp::start(host_body())?;
            let reg = super::registry::start(&a.busybox_binary)?;
            let steps = steps(host.port, &host.body, &reg);
            Ok(Case { name: format!("container-{c}"), machine: m, steps, host: Some(Box::new((host, reg))) })
        })
        .collect()
}

/// A body the guest can only print by fetching it: a random number (std's randomly
/// seeded hasher), so no earlier run's output can match either.
fn host_body() -> String {
    use std::hash::{BuildHasher, Hasher};
    format!("kiln-host-{}", std::collections::hash_map::RandomState::new().build_hasher().finish())
}

/// A command that may take a while (a container starting again after a back-off).
fn slow(c: &str, expect: &[&str]) -> Step {
    Step::Command { cmd: c.into(), expect: expect.iter().map(|s| s.to_string()).collect(), timeout: Duration::from_secs(90) }
}

/// The field of `kiln-ctr list`'s row for a container: `$(field web 2)` is its state.
const FIELD: &str = "field() { kiln-ctr list | awk -v n=\"$1\" -v f=\"$2\" '$1 == n { print $f }'; }";
/// Waits (up to 60 s) until a container's state is the given word.
const UNTIL: &str = "until_state() { i=0; while [ \"$(field $1 2)\" != \"$2\" ] && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done; }";

/// The uplink: eth0 configured by DHCP from QEMU's user-mode network (no `-nic`
/// option: QEMU's default NIC), with a default route and DNS server, reaching the
/// host's loopback, where `body` is served on `port`.
fn uplink_steps(port: u16, body: &str) -> Vec<Step> {
    vec![
        // Waits (up to 60 s) for the lease script's default route.
        slow("i=0; until ip -4 route show default | grep -q via || [ $i -ge 60 ]; do sleep 1; i=$((i+1)); done; echo eth0=$(ip -4 -o addr show eth0 | awk '{ print $4 }')", &["eth0=10.0.2.15/24"]),
        cmd("echo default=$(ip -4 route show default | awk '{ print $3, $5 }') dns=$(awk '$1 == \"nameserver\" { print $2 }' /etc/resolv.conf)", &["default=10.0.2.2 eth0 dns=10.0.2.3"]),
        // udhcpc's own account, and the lease script's line with the uptime it took.
        cmd("grep -h -e obtained -e '^bound:' /var/log/dhcp-eth0.log", &["lease of 10.0.2.15 obtained", "bound: eth0 10.0.2.15/24 router 10.0.2.2"]),
        cmd(&format!("echo host-says=$(wget -q -O- http://10.0.2.2:{port}/)"), &[&format!("host-says={body}")]),
    ]
}

fn steps(port: u16, body: &str, reg: &super::registry::GuestRegistry) -> Vec<Step> {
    let mut s = boot();
    s.extend(uplink_steps(port, body));
    s.extend(reg.steps());
    s.push(cmd(&format!("{FIELD}; {UNTIL}; echo defined=$((1+1))"), &["defined=2"]));
    s.extend([
        // Both long-running containers come up with an address on the bridge (hog, too,
        // runs for a moment before its OOM kill: only web and client are counted).
        slow("until_state web running; until_state client running; kiln-ctr list | awk '($1 == \"web\" || $1 == \"client\") && $2 == \"running\" && $4 ~ /^10[.]88[.]/ { n++ } END { print \"addressed=\" n+0 }'", &["addressed=2"]),
        cmd("W=$(field web 4); W=${W%/*}; C=$(field client 4); C=${C%/*}; echo addresses=$(echo $W $C | grep -c '^10[.]88[.][0-9]*[.][0-9]* 10[.]88[.]')", &["addresses=1"]),
        // The client fetches what web computed, by web's CNI address; both ping.
        cmd("echo fetched=$(kiln-ctr exec client wget -q -O - http://$W/answer)", &["fetched=42"]),
        cmd("kiln-ctr exec client ping -c 1 -W 5 $W >/dev/null && kiln-ctr exec web ping -c 1 -W 5 $C >/dev/null && echo pings=$((1+1))", &["pings=2"]),
        // The published port (portmap's DNAT) from the container OS itself.
        cmd("echo via-port=$(wget -q -O - http://10.88.0.1:8080/answer)", &["via-port=42"]),
        // `kiln-ctr run $R` (the image pulled from the host's registry, `registry.rs`),
        // in the foreground; then nothing left behind.
        // A stop (SIGTERM to kiln-ctr): SIGTERM to the container's init, which ignores
        // it (PID 1 without a handler), then SIGKILL after 10 s: 128+9.
        slow(
            "kiln-ctr run --name sig $R -- sleep 600 & p=$!; i=0; until [ -d /sys/fs/cgroup/kiln/sig ] || [ $i -ge 60 ]; do sleep 1; i=$((i+1)); done; kill $p; wait $p; echo status=$?",
            &["status=137"],
        ),
        // The build-time containers' safety: its hostname, seccomp, no_new_privs, its
        // own PID namespace (its shell is PID 1), Docker's capabilities.
        slow(
            "kiln-ctr run --name probe $R -- sh -c 'echo host=$(hostname) pid=$$ $(grep -c -E \"^(Seccomp:.2|NoNewPrivs:.1|CapEff:.00000000a80425fb)$\" /proc/self/status)'",
            &["host=probe pid=1 3"],
        ),
        // --network: on the default network, it reaches web by its CNI address.
        slow("kiln-ctr run --network $R -- sh -c \"echo net=\\$(wget -q -O - http://$W/answer)\"", &["net=42"]),
        cmd("kiln-ctr run --name web $R -- true; echo rc=$?", &["web is a container of the manifest", "rc=1"]),
        cmd("echo left=$(ls /var/lib/kiln-ctr/run | wc -l) netns=$(ls /run/kiln-ctr/netns | grep -c '^run-') cgroups=$(ls /sys/fs/cgroup/kiln | grep -c -e '^run-' -e '^probe$' -e '^sig$')", &["left=0 netns=0 cgroups=0"]),
        // The limits reached the kernel.
        cmd("echo mem=$(cat /sys/fs/cgroup/kiln/web/memory.max) pids=$(cat /sys/fs/cgroup/kiln/web/pids.max)", &["mem=33554432 pids=64"]),
        // Isolation: its own PID namespace, a read-only root.
        // kiln-ctr (the daemon, the shims) runs on the host, never in a container.
        cmd("echo host-sees=$(( $(cat /proc/[0-9]*/comm | grep -c '^kiln-ctr$') > 0 )) web-sees=$(kiln-ctr exec web sh -c \"cat /proc/[0-9]*/comm | grep -c '^kiln-ctr$'\") pid1=$(kiln-ctr exec web cat /proc/1/comm)", &["host-sees=1 web-sees=0 pid1=sh"]),
        cmd("kiln-ctr exec web sh -c 'touch /etc/written; echo rc=$?'", &["Read-only file system", "rc=1"]),
        // The system's own root is read-only too; its state is in tmpfs.
        cmd("touch /etc/written; echo rc=$? var=$(awk '$2 == \"/var\" { print $3 }' /proc/mounts)", &["Read-only file system", "rc=1 var=tmpfs"]),
        // Docker's seccomp profile holds for the container's init and for exec'd
        // processes (libcontainer's exec drops it; kiln-ctr's executor loads it).
        cmd("echo exec-seccomp=$(kiln-ctr exec web awk '/^Seccomp:/ { print $2 }' /proc/self/status) init-seccomp=$(awk '/^Seccomp:/ { print $2 }' /proc/$(field web 3)/status)", &["exec-seccomp=2 init-seccomp=2"]),
        cmd("kiln-ctr exec web unshare -U -r true; echo rc=$?", &["Operation not permitted", "rc=1"]),
        // The device rules hold (cgroup v2 BPF): a node made in the container's /dev
        // for the CD-ROM or the kernel log cannot be opened.
        cmd("kiln-ctr exec web sh -c 'mknod /dev/cd b 11 0 && mknod /dev/klog c 1 11 && dd if=/dev/cd of=/dev/null count=1; echo x > /dev/klog; echo rc=$?'", &["can't open '/dev/cd': Operation not permitted", "can't create /dev/klog: Operation not permitted", "rc=1"]),
        // Stop, then start; the policy does not undo a stop.
        slow("kiln-ctr stop client; sleep 2; echo state=$(field client 2)", &["state=stopped"]),
        slow("kiln-ctr start client; until_state client running; echo state=$(field client 2)", &["state=running"]),
        // Clear errors for a wrong state and an unknown name.
        cmd("kiln-ctr stop hog; echo rc=$?", &["hog is not running", "rc=1"]),
        cmd("kiln-ctr logs nosuch; echo rc=$?", &["no container named nosuch", "rc=1"]),
        // Killed from inside: web's httpd dies, its script exits 1, on-failure brings
        // it back; its log holds both starts.
        slow(
            "kiln-ctr exec web killall httpd; i=0; while [ $(grep -c serving /var/log/containers/web.log) -lt 2 ] && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done; until_state web running; echo starts=$(grep -c serving /var/log/containers/web.log) restarts=$(field web 5)",
            &["starts=2 restarts=1"],
        ),
        cmd("echo ended=$(kiln-ctr logs web | grep -c 'httpd ended')", &["ended=1"]),
        // Over its memory limit: OOM-killed, and reported as such.
        slow("until_state hog oom-killed; echo hog=$(field hog 2)", &["hog=oom-killed"]),
        cmd("echo oom-reported=$(grep -c 'hog was killed by the OOM killer' /var/log/kiln-ctr.log)", &["oom-reported=1"]),
    ]);
    // Shutdown: each container's SIGTERM handler ran (its last log line, computed in
    // the container) before the power-off.
    let expect = [
        "kiln-ctr: stopped client (SIGTERM",
        "\"client: SIGTERM handled 42\"",
        "kiln-ctr: stopped web (SIGTERM",
        "\"web: SIGTERM handled 42\"",
        "kiln-init: powering off",
        "reboot: Power down",
    ];
    s.push(Step::Exit { cmd: "poweroff".into(), status: 0, expect: expect.map(String::from).to_vec(), timeout: Duration::from_secs(90) });
    s.push(Step::Never("panicked".into()));
    s.extend(never());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expects_nothing_it_types_and_ends_the_machine() {
        let s = steps(8000, &host_body(), &super::super::registry::GuestRegistry::example());
        super::super::cases::assert_expects_no_typed_text("container", &s);
        assert!(super::super::cases::ends_the_machine(&s));
    }
}
