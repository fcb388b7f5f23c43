use super::*;
use crate::Entry;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

fn is_root() -> bool {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::metadata(tmp.path()).unwrap().uid() == 0
}

#[test]
fn writes_files_dirs_links_and_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("rootfs");
    let mut t = Tree::new();
    t.dir("ro", 0o555).unwrap();
    t.file("ro/inside", 0o644, Data::Bytes(b"kept".to_vec())).unwrap();
    t.file("bin/su", 0o4755, Data::Bytes(vec![7; 100_000])).unwrap();
    t.insert(Entry::new("bin/su2", 0o755, Kind::HardLink("bin/su".into()))).unwrap();
    t.symlink("bin/sh", "/bin/busybox").unwrap();
    t.symlink("etc/passwd", "../../../../etc/shadow").unwrap();
    t.insert(Entry::new("run/fifo", 0o640, Kind::Fifo)).unwrap();
    t.write_dir(&dest, DirOptions::default()).unwrap();

    assert_eq!(std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777, 0o755);
    assert_eq!(std::fs::read(dest.join("ro/inside")).unwrap(), b"kept");
    assert_eq!(std::fs::metadata(dest.join("ro")).unwrap().permissions().mode() & 0o7777, 0o555);
    let su = std::fs::metadata(dest.join("bin/su")).unwrap();
    assert_eq!(su.permissions().mode() & 0o7777, 0o4755);
    assert_eq!(su.len(), 100_000);
    assert_eq!(std::fs::metadata(dest.join("bin/su2")).unwrap().ino(), su.ino());
    assert_eq!(su.nlink(), 2);
    assert_eq!(std::fs::read_link(dest.join("bin/sh")).unwrap().to_str(), Some("/bin/busybox"));
    assert_eq!(std::fs::read_link(dest.join("etc/passwd")).unwrap().to_str(), Some("../../../../etc/shadow"));
    let fifo = std::fs::symlink_metadata(dest.join("run/fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.permissions().mode() & 0o7777, 0o640);
    // So the temporary directory can be removed.
    std::fs::set_permissions(dest.join("ro"), std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn the_destination_must_be_new() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Tree::new();
    t.file("a", 0o644, Data::Bytes(b"x".to_vec())).unwrap();
    let e = t.write_dir(tmp.path(), DirOptions::default()).unwrap_err();
    assert!(matches!(e, Error::WriteDir { .. }), "{e}");
}

/// A hard link whose target's parent is a symlink of the tree (to a directory outside
/// the destination) is refused, not followed: nothing outside is linked or written.
#[test]
fn never_follows_a_symlink_to_reach_a_hard_link_target() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), b"host").unwrap();
    let mut t = Tree::new();
    t.symlink("escape", outside.to_str().unwrap()).unwrap();
    t.insert(Entry::new("stolen", 0o644, Kind::HardLink("escape/secret".into()))).unwrap();
    let e = t.write_dir(&tmp.path().join("rootfs"), DirOptions::default()).unwrap_err();
    assert!(matches!(e, Error::HardLink { .. }), "{e}");
    assert!(!tmp.path().join("rootfs/stolen").exists());
    assert_eq!(std::fs::metadata(outside.join("secret")).unwrap().nlink(), 1);
}

/// The walk to a parent refuses a symlink at any component (`O_NOFOLLOW`), so a
/// directory swapped for a symlink under the writer is not followed either.
#[test]
fn open_dir_refuses_a_symlinked_component() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("real")).unwrap();
    std::os::unix::fs::symlink("real", tmp.path().join("link")).unwrap();
    let root = rfs::openat(CWD, c(tmp.path().to_str().unwrap()).as_c_str(), OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
    assert!(open_dir(root.as_fd(), "real", false).is_ok());
    assert!(open_dir(root.as_fd(), "link", false).is_err());
    assert!(open_dir(root.as_fd(), "link/x", false).is_err());
}

#[test]
fn owners_and_device_nodes_as_root() {
    if !is_root() {
        eprintln!("skipped: needs root (mknod, chown)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("rootfs");
    let mut t = Tree::new();
    t.char_dev("dev/null", 0o666, 1, 3).unwrap();
    let mut f = Entry::new("home/app/f", 0o4750, Kind::File(Data::Bytes(b"x".to_vec())));
    (f.uid, f.gid) = (1000, 1001);
    t.insert(f).unwrap();
    let mut l = Entry::new("home/app/l", 0o777, Kind::Symlink("f".into()));
    (l.uid, l.gid) = (1002, 1003);
    t.insert(l).unwrap();
    let mut d = Entry::new("home/app", 0o700, Kind::Dir);
    (d.uid, d.gid) = (1000, 1000);
    t.insert(d).unwrap();
    t.write_dir(&dest, DirOptions { owners: true }).unwrap();
    let null = std::fs::symlink_metadata(dest.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!((rfs::major(null.rdev()), rfs::minor(null.rdev())), (1, 3));
    let f = std::fs::metadata(dest.join("home/app/f")).unwrap();
    // The mode after the owner: chown would have cleared setuid.
    assert_eq!((f.uid(), f.gid(), f.permissions().mode() & 0o7777), (1000, 1001, 0o4750));
    let l = std::fs::symlink_metadata(dest.join("home/app/l")).unwrap();
    assert_eq!((l.uid(), l.gid()), (1002, 1003));
    let d = std::fs::metadata(dest.join("home/app")).unwrap();
    assert_eq!((d.uid(), d.permissions().mode() & 0o7777), (1000, 0o700));
}
