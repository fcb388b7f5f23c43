//! The boot sequence against the recording fake: the calls of a good boot,
//! each way of failing and its message, and the options that change the path.

use crate::boot::{boot, USB_DEVICES};
use crate::fake_sys::{Fake, ROOTFS_DEV};
use crate::prelude::*;
use crate::probe::tests::{ext_image, iso_image};
use crate::sys::{Kind, RAMFS_MAGIC};
use rustix::io::Errno;

const CD: &str = "console=ttyS0 root=live:CDLABEL=KILN_LIVE rd.live.image";

fn cd(cmdline: &str) -> Fake {
    Fake::new(cmdline).with_image().disk("sr0", false, 0, iso_image("KILN_LIVE"))
}

/// Runs the boot; the message it ended with (the fake's exec "fails").
fn run(f: &mut Fake) -> String {
    boot(f)
}

#[test]
fn good_boot_from_cd() {
    let mut f = cd(CD).disk("vda", false, 0, vec![0; 4096]);
    let msg = run(&mut f);
    assert_eq!(msg, "cannot run /init: exec format error"); // the fake's exec returns
    let expected = [
        "mkdir /proc",
        "mount /proc proc proc 0xe -",
        "mkdir /sys",
        "mount /sys sysfs sysfs 0xe -",
        "mkdir /dev",
        "mount /dev devtmpfs devtmpfs 0x2 mode=0755",
        "mkdir /run",
        "mount /run tmpfs tmpfs 0x6 mode=0755",
        "mkdir /run/initramfs/live",
        "mount /run/initramfs/live iso9660 /dev/sr0 0x1 -",
        "loop /run/initramfs/live/LiveOS/squashfs.img",
        "mkdir /run/rootfsbase",
        "mount /run/rootfsbase squashfs /dev/loop0 0x1 -",
        "mkdir /run/overlayfs",
        "mount /run/overlayfs tmpfs tmpfs 0x0 mode=0755,size=50%",
        "mkdir /run/overlayfs/upper",
        "mkdir /run/overlayfs/work",
        "mkdir /sysroot",
        "mount /sysroot overlay overlay 0x0 \
         lowerdir=/run/rootfsbase,upperdir=/run/overlayfs/upper,workdir=/run/overlayfs/work",
        "move /dev /sysroot/dev",
        "move /proc /sysroot/proc",
        "move /sys /sysroot/sys",
        "move /run /sysroot/run",
        "chdir /sysroot",
        "rm /bin/sh",
        "rmdir /bin",
        "rmdir /dev",
        "rm /init",
        "rmdir /proc",
        "rmdir /run",
        "rmdir /sys",
        "move . /",
        "chroot .",
        "chdir /",
        "exec /init",
    ];
    assert_eq!(f.calls, expected);
    assert_eq!(
        f.logs,
        [
            "found medium sr0 (iso9660 \"KILN_LIVE\")",
            "/run/initramfs/live/LiveOS/squashfs.img on /dev/loop0",
            "overlay: tmpfs (mode=0755,size=50%), changes stay in RAM",
            "switching root to /sysroot",
            "exec /init (0.000 s after boot)",
        ]
    );
    // The new root's mount points and the moved mounts are left.
    assert!(f.nodes.contains_key("/sysroot/run/overlayfs/upper"));
    assert_eq!(f.now, 0, "no waiting when the medium is there");
}

#[test]
fn waits_for_a_late_medium() {
    let mut f = Fake::new(CD).with_image().disk("sr0", false, 2050, iso_image("KILN_LIVE"));
    run(&mut f);
    assert_eq!(f.logs[0], "waiting up to 30 s for a medium labelled KILN_LIVE");
    assert_eq!(f.logs[1], "found medium sr0 (iso9660 \"KILN_LIVE\")");
    assert_eq!(f.now, 2100, "polled every 100 ms");
    assert!(f.calls.contains(&"exec /init".to_string()));
}

#[test]
fn wrong_label_lists_what_it_saw() {
    let mut f = Fake::new(CD)
        .with_image()
        .disk("sr0", false, 0, iso_image("OTHER"))
        .disk("vda", false, 0, vec![0; 4096])
        .disk("loop0", false, 0, vec![]) // unused loop devices are not listed
        .disk("sr1", false, 0, vec![])
        .disk("sr2", false, 0, vec![0; 4096])
        .fail("read /dev/sr2", Errno::NOMEDIUM);
    let msg = run(&mut f);
    assert_eq!(
        msg,
        "no medium labelled KILN_LIVE after 30 s; saw: sr0 (iso9660 \"OTHER\"), sr1 (no medium), sr2 (no medium), \
         vda (no label)"
    );
    assert_eq!(f.now, 30_000);
    assert!(f.calls_like("mount /run/initramfs").is_empty());
    let mut f = Fake::new("root=live:LABEL=X rd.timeout=0");
    assert_eq!(run(&mut f), "no medium labelled X after 0 s; saw: no block devices");
    assert_eq!(f.now, 0);
}

#[test]
fn nothing_to_do_without_root_live() {
    let mut f = cd("console=ttyS0 root=/dev/sda1 rd.live.dir=..");
    let msg = run(&mut f);
    assert!(msg.starts_with("nothing to do: no root=live:CDLABEL=LABEL"), "{msg}");
    assert_eq!(f.logs, ["ignoring 'rd.live.dir=..': expected a directory on the medium"]);
    assert_eq!(f.calls.len(), 8, "only the first mounts: {:?}", f.calls);
}

#[test]
fn by_device_path_and_mknod() {
    let mut f = Fake::new("root=live:/dev/sr0").with_image().disk("sr0", false, 0, iso_image("ANY"));
    f.block[0].node = false;
    run(&mut f);
    assert!(f.calls.contains(&"mknod /dev/sr0 8:0".to_string()));
    assert!(f.calls.contains(&"mount /run/initramfs/live iso9660 /dev/sr0 0x1 -".to_string()));
}

#[test]
fn hybrid_iso_on_a_disk_prefers_the_whole_disk() {
    let mut f = Fake::new(CD)
        .with_image()
        .disk("sda1", true, 0, iso_image("KILN_LIVE"))
        .disk("sda", false, 0, iso_image("KILN_LIVE"));
    run(&mut f);
    assert!(f.calls.contains(&"mount /run/initramfs/live iso9660 /dev/sda 0x1 -".to_string()));
}

#[test]
fn early_mount_failure() {
    let mut f = cd(CD).fail("mount /dev ", Errno::NODEV);
    assert_eq!(run(&mut f), "cannot mount devtmpfs on /dev: no such device");
    // Already mounted is fine.
    let mut f = cd(CD).fail("mount /proc ", Errno::BUSY);
    assert_eq!(run(&mut f), "cannot run /init: exec format error");
}

#[test]
fn medium_mount_failure() {
    let mut f = cd(CD).fail("mount /run/initramfs/live", Errno::INVAL);
    assert_eq!(
        run(&mut f),
        "cannot mount /dev/sr0 (iso9660) read-only on /run/initramfs/live: invalid argument"
    );
}

#[test]
fn no_image_on_the_medium() {
    let mut f = Fake::new(CD).disk("sr0", false, 0, iso_image("KILN_LIVE"));
    assert_eq!(run(&mut f), "no LiveOS/squashfs.img on /dev/sr0: no such file or directory");
    let mut f = Fake::new(&format!("{CD} rd.live.dir=boot rd.live.squashimg=root.img"))
        .disk("sr0", false, 0, iso_image("KILN_LIVE"));
    assert_eq!(run(&mut f), "no boot/root.img on /dev/sr0: no such file or directory");
}

#[test]
fn loop_failure() {
    let mut f = cd(CD).fail("loop ", Errno::NODEV);
    assert_eq!(
        run(&mut f),
        "cannot attach /run/initramfs/live/LiveOS/squashfs.img to a loop device: no such device"
    );
}

#[test]
fn corrupt_squashfs() {
    let mut f = cd(CD).fail("mount /run/rootfsbase", Errno::INVAL);
    assert_eq!(
        run(&mut f),
        "cannot mount /run/initramfs/live/LiveOS/squashfs.img (/dev/loop0) as squashfs on \
         /run/rootfsbase: invalid argument"
    );
}

#[test]
fn overlay_failures() {
    let mut f = cd(CD).fail("mount /run/overlayfs", Errno::NOMEM);
    assert_eq!(
        run(&mut f),
        "cannot mount tmpfs on /run/overlayfs (mode=0755,size=50%): cannot allocate memory"
    );
    let mut f = cd(CD).fail("mount /sysroot", Errno::NODEV);
    assert_eq!(
        run(&mut f),
        "cannot mount overlay on /sysroot (lowerdir=/run/rootfsbase,upperdir=/run/overlayfs/upper,\
         workdir=/run/overlayfs/work): no such device"
    );
}

#[test]
fn overlay_mount_options() {
    assert_eq!(
        crate::boot::overlay_options("/run/initramfs/overlayfs/p"),
        "lowerdir=/run/rootfsbase,upperdir=/run/initramfs/overlayfs/p/upper,\
         workdir=/run/initramfs/overlayfs/p/work"
    );
}

#[test]
fn overlay_size_cap() {
    let mut f = cd(&format!("{CD} rd.live.overlay.size=300"));
    run(&mut f);
    assert!(f.calls.contains(&"mount /run/overlayfs tmpfs tmpfs 0x0 mode=0755,size=300m".to_string()));
}

fn deleted_anything(f: &Fake) -> bool {
    f.calls.iter().any(|c| c.starts_with("rm") || c.starts_with("move /"))
}

#[test]
fn init_choice() {
    // /init first; else /sbin/init; init= wins.
    let mut f = cd(CD);
    f.add("/sysroot/sbin/init", Kind::File, 2, b"");
    f.nodes.get_mut("/sysroot/sbin/init").unwrap().exec = true;
    run(&mut f);
    assert_eq!(f.calls.last().unwrap(), "exec /init");

    f = cd(&format!("{CD} init=/sbin/init"));
    f.add("/sysroot/sbin/init", Kind::File, 2, b"");
    f.nodes.get_mut("/sysroot/sbin/init").unwrap().exec = true;
    run(&mut f);
    assert_eq!(f.calls.last().unwrap(), "exec /sbin/init");

    f = cd(CD);
    f.nodes.remove("/sysroot/init");
    f.add("/sysroot/sbin/init", Kind::File, 2, b"");
    f.nodes.get_mut("/sysroot/sbin/init").unwrap().exec = true;
    run(&mut f);
    assert_eq!(f.calls.last().unwrap(), "exec /sbin/init");
}

#[test]
fn no_init_is_found_before_anything_is_deleted() {
    let mut f = cd(CD);
    f.nodes.remove("/sysroot/init");
    assert_eq!(
        run(&mut f),
        "no init in the live image: neither /init nor /sbin/init is an executable file"
    );
    assert!(!deleted_anything(&f));
    assert!(f.nodes.contains_key("/bin/sh"), "the rescue shell is still there");

    let mut f = cd(&format!("{CD} init=/bin/nope"));
    assert_eq!(
        run(&mut f),
        "init=/bin/nope: not an executable file in the live image: no such file or directory"
    );
    assert!(!deleted_anything(&f));

    let mut f = cd(CD);
    f.nodes.get_mut("/sysroot/init").unwrap().exec = false;
    assert!(run(&mut f).starts_with("no init in the live image"));
}

#[test]
fn switch_root_failures() {
    // Before anything is deleted.
    let mut f = cd(CD).fail("move /sys ", Errno::INVAL);
    assert_eq!(run(&mut f), "cannot move /sys to /sysroot/sys: invalid argument");
    assert!(f.nodes.contains_key("/bin/sh"));
    let mut f = cd(CD).fail("chdir /sysroot", Errno::ACCESS);
    assert_eq!(run(&mut f), "cannot change to /sysroot: permission denied");
    assert!(f.nodes.contains_key("/bin/sh"));
    // After it.
    let mut f = cd(CD).fail("move . /", Errno::INVAL);
    assert_eq!(run(&mut f), "cannot move /sysroot to /: invalid argument");
    let mut f = cd(CD).fail("chroot", Errno::PERM);
    assert_eq!(run(&mut f), "cannot chroot into /sysroot: operation not permitted");
    let mut f = cd(CD).fail("chdir /$", Errno::IO);
    assert_eq!(run(&mut f), "cannot change to / in the new root: input/output error");
    assert!(f.calls.contains(&"chroot .".to_string()));
    let mut f = cd(CD);
    f.exec_error = Errno::NOENT;
    assert_eq!(run(&mut f), "cannot run /init: no such file or directory");
}

#[test]
fn new_root_without_run_detaches_it() {
    let mut f = cd(CD);
    f.nodes.remove("/sysroot/run");
    run(&mut f);
    assert!(f.calls.contains(&"umount -l /run".to_string()));
    assert!(f.logs.contains(&"the live image has no directory /run; unmounting /run".to_string()));
}

#[test]
fn only_an_initramfs_is_deleted() {
    let mut f = cd(CD);
    f.root_fs_type = RAMFS_MAGIC;
    run(&mut f);
    assert!(f.calls.contains(&"rm /bin/sh".to_string()));
    let mut f = cd(CD);
    f.root_fs_type = 0xEF53;
    run(&mut f);
    assert!(!f.calls.iter().any(|c| c.starts_with("rm")));
    assert!(f.logs.contains(&"/ is not an initramfs (ramfs or tmpfs); leaving its files".to_string()));
    assert_eq!(f.calls.last().unwrap(), "exec /init");
}

#[test]
fn deletion_stays_on_the_initramfs() {
    let mut f = cd(CD);
    f.add("/mnt", Kind::Dir, ROOTFS_DEV, b"");
    f.add("/mnt/other", Kind::Dir, 9, b"");
    f.add("/mnt/other/keep", Kind::File, 9, b"");
    run(&mut f);
    assert!(f.nodes.contains_key("/mnt/other/keep"));
    assert!(!f.calls.contains(&"rm /mnt/other/keep".to_string()));
    assert!(f.logs.contains(&"could not delete 1 files of the initramfs".to_string()), "{:?}", f.logs);
}

#[test]
fn live_ram_copies_and_releases_the_medium() {
    let mut f = cd(&format!("{CD} rd.live.ram"));
    run(&mut f);
    let i = |c: &str| f.calls.iter().position(|x| x == c).unwrap_or_else(|| panic!("no {c}"));
    let copy = i("copy /run/initramfs/live/LiveOS/squashfs.img /run/initramfs/squashfs.img");
    let umount = i("umount /run/initramfs/live");
    let attach = i("loop /run/initramfs/squashfs.img");
    assert!(copy < umount && umount < attach);
    assert!(f.logs.contains(&"rd.live.ram: copying LiveOS/squashfs.img into RAM".to_string()));
    assert!(f.logs.contains(&"copied 1 KiB; releasing /dev/sr0".to_string()), "{:?}", f.logs);
    assert_eq!(crate::boot::size_text(700 << 20), "700 MiB");
    assert_eq!(crate::boot::size_text(0), "0 KiB");
    let mut f = cd(&format!("{CD} rd.live.ram")).fail("copy", Errno::NOSPC);
    assert_eq!(
        run(&mut f),
        "cannot copy /run/initramfs/live/LiveOS/squashfs.img to /run/initramfs/squashfs.img: \
         no space left on device"
    );
}

const PERSIST: &str = "root=live:CDLABEL=KILN_LIVE rd.live.overlay=LABEL=KILN_DATA";

#[test]
fn persistence_on_an_ext4_disk() {
    let mut f = cd(PERSIST).disk("vdb", false, 0, ext_image("KILN_DATA"));
    run(&mut f);
    let p = "/run/initramfs/overlayfs/kiln-overlay";
    for c in [
        "mount /run/initramfs/overlayfs ext4 /dev/vdb 0x0 -".to_string(),
        format!("mkdir {p}/upper"),
        format!("mkdir {p}/work"),
        format!("mount /sysroot overlay overlay 0x0 lowerdir=/run/rootfsbase,upperdir={p}/upper,workdir={p}/work"),
    ] {
        assert!(f.calls.contains(&c), "no {c}: {:?}", f.calls);
    }
    assert!(f.calls_like("mount /run/overlayfs").is_empty());
    assert!(f.logs.contains(&format!("overlay: persistent, {p} on vdb (ext4 \"KILN_DATA\")")));
}

#[test]
fn persistence_device_missing_or_unusable() {
    let mut f = cd(PERSIST);
    run(&mut f);
    assert!(f
        .logs
        .contains(&"no device labelled KILN_DATA for rd.live.overlay; changes stay in RAM".to_string()));
    assert_eq!(f.now, 0, "no USB device: every disk is listed already, no waiting");
    assert!(f.calls.contains(&"mount /run/overlayfs tmpfs tmpfs 0x0 mode=0755,size=50%".to_string()));

    // With a USB device present, a stick may still come: looked for 5 s.
    let mut f = cd(PERSIST);
    f.add(&format!("{USB_DEVICES}/usb1"), Kind::Dir, 0, b"");
    run(&mut f);
    assert_eq!(f.now, 5000, "looked for it for 5 s");
    assert!(f.logs.contains(&"no device labelled KILN_DATA for rd.live.overlay; changes stay in RAM".to_string()));

    // Late, but within the 5 s.
    let mut f = cd(PERSIST).disk("vdb", false, 1200, ext_image("KILN_DATA"));
    f.add(&format!("{USB_DEVICES}/usb1"), Kind::Dir, 0, b"");
    run(&mut f);
    assert!(f.calls.contains(&"mount /run/initramfs/overlayfs ext4 /dev/vdb 0x0 -".to_string()));

    let mut f = cd(PERSIST).disk("vdb", false, 0, ext_image("KILN_DATA")).fail("mount /run/initramfs/overlayfs", Errno::UCLEAN);
    run(&mut f);
    assert!(f.logs.contains(
        &"cannot mount /dev/vdb (ext4) on /run/initramfs/overlayfs: structure needs cleaning; changes stay in RAM"
            .to_string()
    ));
    assert!(f.calls.contains(&"exec /init".to_string()));

    let mut f = cd("root=live:CDLABEL=KILN_LIVE rd.live.overlay=LABEL=KILN_LIVE");
    run(&mut f);
    assert!(f.logs.contains(
        &"/dev/sr0 (KILN_LIVE) for rd.live.overlay is iso9660; the overlay needs ext2/3/4; changes stay in RAM"
            .to_string()
    ));
}

#[test]
fn rd_break_runs_a_shell_before_switching() {
    let mut f = cd(&format!("{CD} rd.break"));
    run(&mut f);
    let shell = f.calls.iter().position(|c| c == "shell").unwrap();
    let moved = f.calls.iter().position(|c| c == "move /dev /sysroot/dev").unwrap();
    assert!(shell < moved);
}
