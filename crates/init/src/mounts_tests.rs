use super::*;
use crate::fake_sys::Fake;
use rustix::io::Errno;

const ALL: &[&str] = &[
    "proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "cgroup2", "ext4",
];

#[test]
fn mounts_table_in_order() {
    let mut f = Fake::with_fs(ALL);
    let mounted = mount_all(&mut f, &[]).unwrap();
    let want = [
        "/proc",
        "/sys",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/run",
        "/tmp",
        "/sys/fs/cgroup",
    ];
    assert_eq!(mounted, want);
    assert_eq!(f.mounted_targets(), want);
    assert!(f.logs.is_empty(), "{:?}", f.logs);
    assert!(f.calls.contains(&"mkdir /dev/pts".to_string()));
    assert!(f
        .calls
        .contains(&"mount /tmp tmpfs tmpfs 0x6 mode=1777".to_string()));
    assert!(f.calls.contains(&"mount /proc proc proc 0xe -".to_string()));
}

#[test]
fn unsupported_fs_skipped_and_reported_once() {
    // No devpts, no cgroup2 (optional: silent).
    let mut f = Fake::with_fs(&["proc", "sysfs", "devtmpfs", "tmpfs"]);
    let mounted = mount_all(&mut f, &[]).unwrap();
    assert_eq!(
        mounted,
        ["/proc", "/sys", "/dev", "/dev/shm", "/run", "/tmp"]
    );
    assert_eq!(
        f.logs,
        ["skipping mount /dev/pts (devpts): not supported by this kernel"]
    );
}

#[test]
fn enodev_and_einval_mean_unsupported_for_table() {
    let mut f = Fake::with_fs(ALL);
    f.fail.insert("/dev/pts", Errno::NODEV);
    f.fail.insert("/run", Errno::INVAL);
    let mounted = mount_all(&mut f, &[]).unwrap();
    assert!(!mounted.contains(&"/run".to_string()));
    assert_eq!(
        f.logs,
        [
            "skipping mount /dev/pts (devpts): not supported by this kernel",
            "skipping mount /run (tmpfs): not supported by this kernel"
        ]
    );
}

#[test]
fn already_mounted_is_fine() {
    let mut f = Fake::with_fs(ALL);
    f.mounts_text = "devtmpfs /dev devtmpfs rw 0 0\n".into();
    f.fail.insert("/tmp", Errno::BUSY);
    let mounted = mount_all(&mut f, &[]).unwrap();
    assert!(!mounted.contains(&"/dev".to_string()));
    assert!(!mounted.contains(&"/tmp".to_string()));
    assert!(mounted.contains(&"/dev/pts".to_string()));
    assert!(f.logs.is_empty());
}

#[test]
fn essential_failure_is_fatal() {
    let mut f = Fake::with_fs(ALL);
    f.fail.insert("/sys", Errno::PERM);
    let err = mount_all(&mut f, &[]).unwrap_err();
    assert!(
        err.starts_with("essential mount /sys (sysfs) failed"),
        "{err}"
    );
    // Nothing after the failure was attempted.
    assert_eq!(f.mounted_targets(), ["/proc"]);

    let mut f = Fake::with_fs(&["proc", "sysfs", "tmpfs"]);
    let err = mount_all(&mut f, &[]).unwrap_err();
    assert_eq!(
        err,
        "essential mount /dev (devtmpfs) not supported by this kernel"
    );

    let mut f = Fake::with_fs(ALL);
    f.fail.insert("/proc", Errno::NOENT);
    assert!(mount_all(&mut f, &[]).is_err());
}

#[test]
fn non_essential_failure_is_reported() {
    let mut f = Fake::with_fs(ALL);
    f.fail.insert("/dev/shm", Errno::ACCESS);
    let mounted = mount_all(&mut f, &[]).unwrap();
    assert_eq!(mounted.len(), 7);
    assert_eq!(f.logs.len(), 1);
    assert!(
        f.logs[0].starts_with("mount /dev/shm (tmpfs) failed: "),
        "{:?}",
        f.logs
    );
}

#[test]
fn extra_mounts_after_table_in_order() {
    let extra = [
        ExtraMount {
            source: "/dev/vda".into(),
            target: "/data".into(),
            fstype: "ext4".into(),
            options: None,
        },
        ExtraMount {
            source: "none".into(),
            target: "/mnt/t".into(),
            fstype: "tmpfs".into(),
            options: Some("size=1m".into()),
        },
        ExtraMount {
            source: "share".into(),
            target: "/mnt/9p".into(),
            fstype: "9p".into(),
            options: None,
        },
        ExtraMount {
            source: "x".into(),
            target: "/mnt/bad".into(),
            fstype: "tmpfs".into(),
            options: Some("bogus".into()),
        },
        ExtraMount {
            source: "ro-scratch".into(),
            target: "/mnt/ro".into(),
            fstype: "tmpfs".into(),
            options: Some("ro,nosuid,size=64k,nodev".into()),
        },
        ExtraMount {
            source: "flags-only".into(),
            target: "/mnt/f".into(),
            fstype: "tmpfs".into(),
            options: Some("noexec".into()),
        },
    ];
    let mut f = Fake::with_fs(ALL);
    f.fail.insert("/mnt/bad", Errno::INVAL);
    let mounted = mount_all(&mut f, &extra).unwrap();
    assert_eq!(
        &mounted[MOUNT_TABLE.len()..],
        ["/data", "/mnt/t", "/mnt/ro", "/mnt/f"]
    );
    // Flag words become MS_* flags (ro 0x1, nosuid 0x2, nodev 0x4, noexec 0x8),
    // the rest is the file system's data; no data at all is NULL.
    assert!(f
        .calls
        .contains(&"mount /mnt/ro tmpfs ro-scratch 0x7 size=64k".to_string()));
    assert!(f
        .calls
        .contains(&"mount /mnt/f tmpfs flags-only 0x8 -".to_string()));
    assert!(f
        .calls
        .contains(&"mount /mnt/t tmpfs none 0x0 size=1m".to_string()));
    assert!(f.calls.contains(&"mkdir /mnt/t".to_string()));
    assert_eq!(
        f.logs,
        [
            "skipping mount /mnt/9p (9p): not supported by this kernel",
            "mount /mnt/bad (tmpfs) failed: invalid argument"
        ]
    );
}

#[test]
fn remount_changes_flags_without_mkdir_or_fs_checks() {
    let extra = [
        ExtraMount { source: "state".into(), target: "/var".into(), fstype: "tmpfs".into(), options: Some("mode=0755".into()) },
        ExtraMount { source: "none".into(), target: "/".into(), fstype: "none".into(), options: Some("remount,ro".into()) },
        ExtraMount { source: "none".into(), target: "/boot".into(), fstype: "none".into(), options: Some("remount,ro".into()) },
    ];
    let mut f = Fake::with_fs(ALL);
    f.fail.insert("/boot", Errno::INVAL);
    let mounted = mount_all(&mut f, &extra).unwrap();
    // The remounts are not new mounts: shutdown has nothing more to unmount.
    assert_eq!(&mounted[MOUNT_TABLE.len()..], ["/var"]);
    // MS_RDONLY | MS_REMOUNT, after the tmpfs it keeps writable.
    let var = f.calls.iter().position(|c| c == "mount /var tmpfs state 0x0 mode=0755").unwrap();
    let root = f.calls.iter().position(|c| c == "mount / none none 0x21 -").unwrap();
    assert!(var < root, "{:?}", f.calls);
    assert!(!f.calls.contains(&"mkdir /".to_string()), "{:?}", f.calls);
    assert_eq!(f.logs, ["remount /boot failed: invalid argument"]);
}

#[test]
fn parse_helpers() {
    assert_eq!(
        parse_filesystems("nodev\tsysfs\n\text4\n"),
        ["sysfs", "ext4"]
    );
    assert!(is_mounted("proc /proc proc rw 0 0\n", "/proc", "proc"));
    assert!(!is_mounted("proc /proc proc rw 0 0\n", "/sys", "sysfs"));
}
