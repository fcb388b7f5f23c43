#!/usr/bin/env bash
# Run runc 1.1.5's bats integration suite (Debian's source package) against
# youki 0.7.0 (crates.io; the runc-compatible CLI over libcontainer 0.7.0, the
# runtime kiln-ctr embeds) and against Debian's runc as a baseline, offline.
# See README.md beside this file. Not part of .ci/run: slow and host-dependent.
#
# Usage: ci/conformance/run-bats.sh [youki|youki-runcspec|runc ...] [-- bats-file ...]
#   youki           youki's CLI as is
#   youki-runcspec  youki for everything but `spec`, which Debian's runc writes:
#                   `youki spec` differs from `runc spec` (terminal false, hostname
#                   youki, no ambient caps) and the suite builds every bundle
#                   from `$RUNC spec`, so this separates runtime behaviour from
#                   that one CLI default
#   runc            Debian's runc, the baseline
#   KILN_CONFORMANCE_CACHE  cache dir (default ~/.cache/kiln/conformance)
#   BATS_TEST_TIMEOUT       per-test timeout in seconds (default 30)
#   KILN_BATS_ALL=1         also run the files skipped by default (see SKIP_FILES)
#   CONFORMANCE_CGROUP2=0   run on the host's own cgroup layout instead of a
#                           private mount namespace with cgroup2 at /sys/fs/cgroup
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${KILN_CONFORMANCE_CACHE:-$HOME/.cache/kiln/conformance}
YOUKI_VERSION=0.7.0
YOUKI_FEATURES=v2,seccomp # what kiln-ctr enables on libcontainer: v2, libseccomp
RUNC_SRC_PKG=runc         # bookworm: 1.1.5+ds1-1+deb12u1
# runc's own cases take under 2 s each here (whole files under 20 s), except
# where they hang.
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-30}

runtimes=()
files=()
while [ $# -gt 0 ]; do
	case $1 in
	--) shift; files=("$@"); break ;;
	youki | youki-runcspec | runc) runtimes+=("$1") ;;
	*) echo "usage: $0 [youki|youki-runcspec|runc ...] [-- file.bats ...]" >&2; exit 2 ;;
	esac
	shift
done
[ ${#runtimes[@]} -gt 0 ] || runtimes=(youki youki-runcspec runc)

[ "$(id -u)" -eq 0 ] || { echo "must run as root (the suite's root mode)" >&2; exit 1; }
mkdir -p "$CACHE"
log() { printf '== %s\n' "$*" >&2; }

# --- host packages (Debian) -------------------------------------------------
need=()
for p in bats busybox-static jq gcc libc6-dev dpkg-dev libseccomp-dev pkg-config runc python3 iproute2 util-linux; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	log "apt-get install ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- runc source (tests/integration) from Debian's source package ----------
if [ ! -d "$CACHE/src/runc/tests/integration" ]; then
	if ! apt-get source --print-uris "$RUNC_SRC_PKG" >/dev/null 2>&1; then
		log "adding a deb-src entry for bookworm"
		cat >/etc/apt/sources.list.d/kiln-conformance-src.sources <<-'EOF'
			Types: deb-src
			URIs: http://deb.debian.org/debian
			Suites: bookworm bookworm-updates
			Components: main
			Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
		EOF
		apt-get update -qq
	fi
	log "apt-get source $RUNC_SRC_PKG"
	rm -rf "$CACHE/src" && mkdir -p "$CACHE/src"
	(cd "$CACHE/src" && apt-get source --download-only "$RUNC_SRC_PKG" >/dev/null 2>&1 &&
		dpkg-source -x ./*.dsc runc >/dev/null)
fi
RUNC_SRC=$CACHE/src/runc

# --- youki from crates.io ----------------------------------------------------
YOUKI=$CACHE/youki-$YOUKI_VERSION/bin/youki
if [[ " ${runtimes[*]} " == *" youki"* && ! -x "$YOUKI" ]]; then
	log "cargo install youki@$YOUKI_VERSION --features $YOUKI_FEATURES (several minutes)"
	cargo install --locked --root "$CACHE/youki-$YOUKI_VERSION" "youki@$YOUKI_VERSION" \
		--no-default-features --features "$YOUKI_FEATURES"
fi
RUNC_BIN=$(command -v runc)

# --- offline test images ----------------------------------------------------
# helpers.bash untars $BUSYBOX_IMAGE into each bundle's rootfs. Upstream's is
# docker-library's busybox (glibc) rootfs; this is the same shape from
# Debian's busybox-static: /bin/busybox plus a hard link per applet, and the
# docker image's /etc/passwd and /etc/group.
IMAGES=$CACHE/images
# No /proc or /sys in it, like upstream's: mask.bats makes them symlinks to
# check that the runtime refuses to mount proc/sysfs over a symlink, and with
# directories there `ln -s` would create a link inside instead.
BUSYBOX_IMAGE=$IMAGES/busybox-static-rootfs.tar.xz
if [ ! -e "$BUSYBOX_IMAGE" ]; then
	log "building $BUSYBOX_IMAGE from busybox-static"
	mkdir -p "$IMAGES"
	r=$(mktemp -d)
	mkdir -p "$r"/{bin,dev,etc,home,root,tmp,usr/sbin,var/spool/mail,var/www}
	chmod 755 "$r" # mktemp's 0700 would end up on the rootfs and lock out uid != 0
	chmod 1777 "$r/tmp"
	chmod 700 "$r/root"
	cp /bin/busybox "$r/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ -e "$r/bin/$a" ] || ln "$r/bin/busybox" "$r/bin/$a"
	done
	cat >"$r/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/sh
		daemon:x:1:1:daemon:/usr/sbin:/bin/false
		bin:x:2:2:bin:/bin:/bin/false
		sys:x:3:3:sys:/dev:/bin/false
		sync:x:4:100:sync:/bin:/bin/sync
		mail:x:8:8:mail:/var/spool/mail:/bin/false
		www-data:x:33:33:www-data:/var/www:/bin/false
		operator:x:37:37:Operator:/var:/bin/false
		nobody:x:65534:65534:nobody:/home:/bin/false
	EOF
	cat >"$r/etc/group" <<-'EOF'
		root:x:0:
		daemon:x:1:
		bin:x:2:
		sys:x:3:
		adm:x:4:
		tty:x:5:
		disk:x:6:
		lp:x:7:
		mail:x:8:
		kmem:x:9:
		wheel:x:10:root
		cdrom:x:11:
		dialout:x:18:
		floppy:x:19:
		video:x:28:
		audio:x:29:
		tape:x:32:
		www-data:x:33:
		operator:x:37:
		utmp:x:43:
		plugdev:x:46:
		staff:x:50:
		lock:x:54:
		netdev:x:82:
		users:x:100:
		nogroup:x:65534:
	EOF
	tar -C "$r" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cJf "$BUSYBOX_IMAGE.tmp" .
	mv "$BUSYBOX_IMAGE.tmp" "$BUSYBOX_IMAGE"
	rm -rf "$r"
fi
# Only hooks.bats (1 case) uses the Debian image; it needs ldconfig and a
# glibc userland. Not provided: point it at busybox so the case runs and is
# reported (as failing) instead of aborting the file.
DEBIAN_IMAGE=${DEBIAN_IMAGE:-$BUSYBOX_IMAGE}

# --- a working copy of the suite wired to the offline pieces ----------------
# helpers.bash finds get-images.sh and contrib/cmd/* relative to itself, so
# the suite is copied and those are replaced; the .bats files are untouched.
RESULTS=$CACHE/results
stamp=$(date -u +%Y%m%dT%H%M%SZ)
WORK=$RESULTS/$stamp/suite
mkdir -p "$WORK/tests" "$WORK/contrib/cmd/recvtty"
cp -a "$RUNC_SRC/tests/integration" "$WORK/tests/integration"
cat >"$WORK/tests/integration/get-images.sh" <<EOF
#!/bin/sh
# Offline replacement written by ci/conformance/run-bats.sh.
echo BUSYBOX_IMAGE=$BUSYBOX_IMAGE
echo DEBIAN_IMAGE=$DEBIAN_IMAGE
EOF
chmod +x "$WORK/tests/integration/get-images.sh"
gcc -O2 -o "$WORK/contrib/cmd/recvtty/recvtty" "$HERE/recvtty.c"
# Not provided: contrib/cmd/seccompagent (seccomp-notify*.bats) and
# contrib/cmd/sd-helper (systemd only); the cases that need them fail/skip.

# Skipped by default because what they test is absent here, so every case fails
# and several hang until their timeout: checkpoint.bats needs criu (not
# installed; youki only has an experimental `checkpointt`, Kiln does not
# checkpoint), seccomp-notify*.bats need contrib/cmd/seccompagent (Go, not
# packaged). runc fails all of them here too.
SKIP_FILES=" checkpoint.bats seccomp-notify.bats seccomp-notify-compat.bats "
cat >"$WORK/youki-runcspec" <<EOF
#!/bin/sh
# \`spec\` by Debian's runc, everything else by youki (written by run-bats.sh).
for a in "\$@"; do
	case \$a in
	spec) exec $RUNC_BIN "\$@" ;;
	-*) ;;
	*) case \$prev in --root | --log | --log-format | --log-level | -r | -l) ;; *) break ;; esac ;;
	esac
	prev=\$a
done
exec $YOUKI "\$@"
EOF
chmod +x "$WORK/youki-runcspec"

if [ ${#files[@]} -eq 0 ]; then
	while read -r f; do
		[[ -z "${KILN_BATS_ALL:-}" && "$SKIP_FILES" == *" $f "* ]] && continue
		files+=("$f")
	done < <(cd "$WORK/tests/integration" && ls ./*.bats | sed 's|^\./||')
fi

# A runtime that hangs keeps bats' output pipe open, so bats' own per-test
# timeout cannot finish the test: kill runtime processes of this run (their
# --root is under the run's TMPDIR) older than the test timeout, with their
# children. Only processes this run started match.
watchdog() {
	local tmp=$1 limit=$((BATS_TEST_TIMEOUT + 10)) pid kids
	while sleep 5; do
		for pid in $(pgrep -f -- "--root $tmp/"); do
			[ "$(ps -o etimes= -p "$pid" 2>/dev/null || echo 0)" -gt "$limit" ] || continue
			kids=$(pgrep -P "$pid" || true)
			echo "watchdog: killing $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) ${kids:+and children $kids}" >&2
			kill -9 "$pid" $kids 2>/dev/null || true
		done
	done
}

# --- run --------------------------------------------------------------------
for rt in "${runtimes[@]}"; do
	case $rt in
	youki) bin=$YOUKI ;;
	youki-runcspec) bin=$WORK/youki-runcspec ;;
	runc) bin=$RUNC_BIN ;;
	esac
	out=$RESULTS/$stamp/$rt
	mkdir -p "$out"
	"$bin" --version 2>&1 | head -1 >"$out/VERSION" || true
	log "running ${#files[@]} files with RUNC=$bin -> $out"
	t0=$(date +%s)
	for f in "${files[@]}"; do
		# Each file in a private mount namespace where /sys/fs/cgroup is the
		# unified hierarchy (the guest kernel is cgroup v2 only), fresh tmpdir.
		# Under script(1) so there is a controlling tty: the default spec has
		# terminal=true and foreground `run` attaches it (runc's CI does the same).
		inner='if [ "${CONFORMANCE_CGROUP2:-1}" = 1 ]; then mount -t cgroup2 cgroup2 /sys/fs/cgroup || exit 1; fi
			cd "$1" && bats --tap --timing "$2" >"$3.tap" 2>"$3.err"
			# empty cgroups a failed case left (youki leaves sub-cgroups behind)
			find /sys/fs/cgroup/runc-cgroups-integration-test -depth -type d -exec rmdir {} + 2>/dev/null
			true'
		f0=$(date +%s)
		tmp=$(mktemp -d "/tmp/kiln-bats-$rt.XXXXXX")
		# a+x, as helpers.bash makes its own dirs: in userns.bats the
		# container's root is an unprivileged host uid that must reach the
		# bundle through it.
		chmod 755 "$tmp"
		watchdog "$tmp" 2>>"$out/${f%.bats}.watchdog" &
		wd=$!
		TMPDIR=$tmp RUNC=$bin CONFORMANCE_CGROUP2=${CONFORMANCE_CGROUP2:-1} timeout 1800 \
			script -qefc "$(printf '%q ' unshare --mount --propagation private \
				bash -c "$inner" _ "$WORK/tests/integration" "$f" "$out/${f%.bats}")" /dev/null \
			</dev/null >"$out/${f%.bats}.tty" 2>&1 || true
		kill "$wd" 2>/dev/null || true
		wait "$wd" 2>/dev/null || true
		rm -rf "$tmp"
		[ -s "$out/${f%.bats}.watchdog" ] || rm -f "$out/${f%.bats}.watchdog"
		echo "$(( $(date +%s) - f0 ))" >"$out/${f%.bats}.secs"
	done
	echo "$(( $(date +%s) - t0 ))" >"$out/total.secs"
done
ln -sfn "$stamp" "$RESULTS/latest"

# --- summary ----------------------------------------------------------------
"$HERE/summarize.sh" "$RESULTS/$stamp"
