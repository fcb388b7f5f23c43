//! Round trips through the real mksquashfs/unsquashfs (squashfs-tools).

use super::*;
use kiln_initramfs::{Data, Entry, Kind};
use std::os::unix::fs::MetadataExt;
use std::process::Command;

fn tools() -> bool {
    kiln_util::host::require(&["mksquashfs", "unsquashfs"], &[], "apt-get install squashfs-tools")
}

const CAP: &[u8] = b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";

fn sample() -> Tree {
    let mut t = Tree::new();
    t.dir("bin", 0o755).unwrap();
    let mut ping = Entry::new("bin/ping", 0o4755, Kind::File(Data::Bytes(b"ping!".to_vec())));
    ping.xattrs.insert("security.capability".into(), CAP.to_vec());
    t.insert(ping).unwrap();
    t.insert(Entry::new("bin/ping6", 0o4755, Kind::HardLink("bin/ping".into()))).unwrap();
    t.symlink("bin/sh", "busybox").unwrap();
    t.char_dev("dev/null", 0o666, 1, 3).unwrap();
    t.block_dev("dev/sda", 0o660, 8, 0).unwrap();
    t.insert(Entry::new("run/fifo", 0o600, Kind::Fifo)).unwrap();
    let mut home = Entry::new("home/user", 0o700, Kind::Dir);
    (home.uid, home.gid) = (1000, 1001);
    t.insert(home).unwrap();
    let long = format!("deep/{}/file", "d".repeat(120));
    t.file(&long, 0o644, Data::Bytes(b"long name".to_vec())).unwrap();
    t.symlink("deep/link", &"x/".repeat(80)).unwrap();
    t
}

fn build(tree: &Tree, dir: &Path, name: &str) -> std::path::PathBuf {
    let out = dir.join(name);
    write_squashfs(tree, &out, 1_700_000_000, &dir.join("logs")).unwrap();
    out
}

#[test]
fn every_kind_of_entry_survives_a_round_trip() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = build(&sample(), dir.path(), "root.img");
    let listing = Command::new("unsquashfs").arg("-lln").arg(&img).output().unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    let line = |p: &str| listing.lines().find(|l| l.ends_with(&format!("squashfs-root/{p}")) || l.contains(&format!("squashfs-root/{p} -> "))).unwrap_or_else(|| panic!("{p} missing in\n{listing}")).to_owned();
    assert!(line("bin/ping").starts_with("-rwsr-xr-x 0/0"), "{}", line("bin/ping"));
    assert!(line("dev/null").starts_with("crw-rw-rw- 0/0") && line("dev/null").contains("1,  3"), "{}", line("dev/null"));
    assert!(line("dev/sda").starts_with("brw-rw---- 0/0"), "{}", line("dev/sda"));
    assert!(line("run/fifo").starts_with("prw-------"), "{}", line("run/fifo"));
    assert!(line("home/user").starts_with("drwx------ 1000/1001"), "{}", line("home/user"));
    assert!(line("bin/sh").ends_with("bin/sh -> busybox"), "{}", line("bin/sh"));
    assert!(line("deep/link").ends_with(&"x/".repeat(80)), "{}", line("deep/link"));
    assert!(listing.lines().next().unwrap().starts_with("drwxr-xr-x 0/0"), "root: {listing}");
    assert!(listing.contains(&"d".repeat(120)), "long name lost:\n{listing}");

    // Contents, hard links and xattrs: extract (as root, what CI runs as, xattrs too).
    let x = dir.path().join("x");
    let ok = Command::new("unsquashfs").arg("-d").arg(&x).arg(&img).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(std::fs::read(x.join("bin/ping")).unwrap(), b"ping!");
    let (a, b) = (std::fs::metadata(x.join("bin/ping")).unwrap(), std::fs::metadata(x.join("bin/ping6")).unwrap());
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2), "ping6 is a hard link to ping");
    assert_eq!(a.mtime(), 1_700_000_000);
    if rustix::process::geteuid().is_root() {
        let mut buf = [0u8; 64];
        let n = rustix::fs::getxattr(x.join("bin/ping").as_path(), "security.capability", &mut buf).unwrap();
        assert_eq!(&buf[..n], CAP);
    }
}

#[test]
fn the_image_is_a_function_of_the_tree_and_the_epoch() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let one = std::fs::read(build(&sample(), dir.path(), "a.img")).unwrap();
    let two = std::fs::read(build(&sample(), dir.path(), "b.img")).unwrap();
    assert!(one == two, "two images of one tree differ");
    let mut other = sample();
    other.file("etc/extra", 0o644, Data::Bytes(b"x".to_vec())).unwrap();
    assert!(std::fs::read(build(&other, dir.path(), "c.img")).unwrap() != one);
}

#[test]
fn a_failing_mksquashfs_leaves_no_output_and_names_its_log() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A directory where the image should go: mksquashfs cannot write it.
    let out = dir.path().join("sub/root.img");
    std::fs::create_dir_all(kiln_util::tmp_name(&out)).unwrap();
    let err = write_squashfs(&sample(), &out, 0, &dir.path().join("logs")).unwrap_err();
    assert!(format!("{err:#}").contains("squashfs.log"), "{err:#}");
    assert!(!out.exists());
}
