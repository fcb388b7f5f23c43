#!/usr/bin/env python3
"""Boot Kiln's container OS ISO in QEMU (TCG is fine, ~1 min) and probe, through
the serial console, what RESULTS.md reports about the guest:

* seccomp mode of the web container's pid 1 and httpd, and of a `kiln-ctr exec`
  process (libcontainer 0.7's tenant builder drops linux.seccomp);
* whether a container can mknod and read a block device (the CD-ROM, 11:0) and
  write the kernel log through a c 1 11 node: Docker's device allow-list, which
  Kiln writes, denies both; without libcgroups' cgroupsv2_devices nothing
  enforces it on cgroup v2.

Usage: guest-probe.py [ISO] (default out/container.iso); needs pexpect
(python3-pexpect or pip) and qemu-system-x86_64. Prints the console log.
"""
import sys

import pexpect

iso = sys.argv[1] if len(sys.argv) > 1 else "out/container.iso"
p = pexpect.spawn(f"qemu-system-x86_64 -m 256 -nographic -snapshot -cdrom {iso} -no-reboot",
                  encoding="utf-8", codec_errors="replace", timeout=300)
p.logfile_read = sys.stdout
p.expect("kiln-init: boot complete in ")
p.sendline("")
p.expect("# ")
n = 0


def run(cmd, t=120):
    global n
    n += 1
    p.sendline(f"{cmd}; echo END{n}=$?")
    p.expect(rf"END{n}=\d+", timeout=t)


run("i=0; while ! kiln-ctr list | grep -q 'web *running'; do sleep 1; i=$((i+1)); [ $i -gt 120 ] && break; done; kiln-ctr list")
run("kiln-ctr exec web sh -c 'grep Seccomp: /proc/1/status /proc/self/status'")
run("for p in $(pidof httpd); do grep -H Seccomp: /proc/$p/status; done")
run("kiln-ctr exec web sh -c 'mknod /dev/kd b 11 0 && dd if=/dev/kd bs=2048 count=16 2>/dev/null | wc -c; echo blockread=$?'")
run("kiln-ctr exec web sh -c 'mknod /dev/km c 1 11 && echo kiln-probe-kmsg > /dev/km; echo kmsgwrite=$?'; echo in-dmesg=$(dmesg | grep -c kiln-probe-kmsg)")
p.sendline("poweroff")
p.expect(pexpect.EOF, timeout=90)
