#!/bin/sh
# A real run of kiln-ctr on a build host (root, cgroup2 mountable, CNI plugins in
# /usr/lib/cni, iptables): two busybox containers, the bridge/portmap network, the
# CLI, exec (-t too), stop/start, shutdown. Everything runs in a private mount and
# network namespace; the host only gets empty mount points, removed at the end.
#
#   BUSYBOX=/path/to/static/busybox sh crates/ctr/guest/host-smoke.sh [path/to/kiln-ctr]
#
# The host's cgroup2 may have no memory controller (a v1/v2 hybrid): the containers
# set no limits, and the OOM path is not exercised here.
set -eu
K=$(realpath "${1:-target/guest/x86_64-unknown-linux-gnu/guest/kiln-ctr}")
BB=${BUSYBOX:?set BUSYBOX to a static busybox}
S=$(mktemp -d /tmp/kiln-ctr-smoke.XXXXXX)
mkdir -p "$S/etc" "$S/cni" "$S/log" "$S/lib" "$S/containers"
for c in web idle; do
  mkdir -p "$S/containers/$c/rootfs/bin" "$S/containers/$c/rootfs/proc" "$S/containers/$c/rootfs/dev" \
    "$S/containers/$c/rootfs/tmp" "$S/containers/$c/rootfs/sys"
  cp "$BB" "$S/containers/$c/rootfs/bin/busybox"
  for a in sh sleep echo cat true; do ln -sf busybox "$S/containers/$c/rootfs/bin/$a"; done
done
python3 - "$S" <<'EOF'
import json, sys
S = sys.argv[1]
def cfg(name, args):
    caps = ["CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_CHOWN", "CAP_SETUID", "CAP_SETGID"]
    return {"ociVersion": "1.0.2",
      "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": args, "env": ["PATH=/bin"], "cwd": "/",
                  "capabilities": {k: caps for k in ["bounding", "effective", "permitted"]}, "noNewPrivileges": True},
      "root": {"path": "rootfs"}, "hostname": name,
      "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                 {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
                 {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
                 {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}],
      "linux": {"cgroupsPath": "/kiln/" + name,
                "namespaces": [{"type": t} for t in ["pid", "ipc", "uts", "mount"]] + [{"type": "network", "path": "/run/kiln-ctr/netns/" + name}]}}
json.dump(cfg("web", ["/bin/sh", "-c", "trap 'echo caught SIGTERM, bye; exit 0' TERM; echo hello from web; while true; do sleep 1; done"]),
          open(S + "/containers/web/config.json", "w"))
json.dump(cfg("idle", ["/bin/sh", "-c", "echo idle starting; sleep 2; echo idle failing; exit 3"]), open(S + "/containers/idle/config.json", "w"))
json.dump({"containers": [
    {"name": "web", "bundle": "/containers/web", "restart": "always", "stop_timeout": 5, "stop_signal": "SIGTERM", "network": True,
     "ports": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]},
    {"name": "idle", "bundle": "/containers/idle", "restart": "on-failure", "stop_timeout": 2, "stop_signal": "SIGTERM", "network": False}],
  "network": {"name": "kiln", "conflist": "/etc/cni/net.d/10-kiln.conflist", "bin_dir": "/usr/lib/cni"}}, open(S + "/etc/containers.json", "w"))
json.dump({"cniVersion": "1.0.0", "name": "kiln", "plugins": [
    {"type": "bridge", "bridge": "kiln0", "isGateway": True, "ipMasq": True,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.0.0/16"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}]}, open(S + "/cni/10-kiln.conflist", "w"))
EOF
cat > "$S/inner.sh" <<EOF
set -u
S=$S; K=$K
mount -t tmpfs none /run
mount --bind \$S/etc /etc/kiln-ctr; mount --bind \$S/cni /etc/cni/net.d; mount --bind \$S/containers /containers
mount --bind \$S/log /var/log/containers; mount --bind \$S/lib /var/lib/cni
mount -t cgroup2 none /sys/fs/cgroup
\$K daemon > \$S/daemon.log 2>&1 &
D=\$!
trap 'kill -9 \$D 2>/dev/null' EXIT
sleep 4
echo "== list"; \$K list
echo "== logs web"; \$K logs web
echo "== exec"; \$K exec web /bin/echo hi from exec; echo "rc=\$?"
echo "== exec -t"; script -qec "\$K exec -t web /bin/sh -c 'echo in a tty; exit 4'" /dev/null </dev/null; echo "rc=\$?"
echo "== stop web"; \$K stop web; \$K list
echo "== start web"; \$K start web
echo "== unknown"; \$K stop nope; echo "rc=\$?"
echo "== SIGTERM"; kill -TERM \$D; wait \$D; echo "daemon rc=\$?"
cat \$S/daemon.log
EOF
made=""
for d in /containers /etc/kiln-ctr /etc/cni/net.d /var/log/containers /var/lib/cni; do
  [ -d "$d" ] || { mkdir -p "$d"; made="$d $made"; }
done
rc=0
timeout 120 unshare -m -n --propagation private sh "$S/inner.sh" || rc=$?
for d in $made; do rmdir "$d" 2>/dev/null || true; done
rmdir /etc/cni 2>/dev/null || true
rm -rf "$S"
exit $rc
