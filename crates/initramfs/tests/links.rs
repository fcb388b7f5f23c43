//! Ownership, FIFOs, file slices and hard links in the newc writer.

use std::io::Write;
use std::sync::Arc;

use kiln_initramfs::{read_newc, Data, Entry, Error, FileSlice, Kind, Tree};

fn bytes(s: &str) -> Data {
    Data::Bytes(s.as_bytes().to_vec())
}

#[test]
fn owners_and_fifos_are_written() {
    let mut tree = Tree::new();
    let mut e = Entry::new("home/u/f", 0o4755, Kind::File(bytes("x")));
    e.uid = 1000;
    e.gid = 100;
    tree.insert(e).unwrap();
    tree.insert(Entry::new("run/p", 0o600, Kind::Fifo)).unwrap();
    // A directory over a directory takes the new owner too.
    let mut d = Entry::new("home/u", 0o700, Kind::Dir);
    d.uid = 1000;
    tree.insert(d).unwrap();
    let read = read_newc(&tree.write_newc(Vec::new(), 7).unwrap()).unwrap();
    let get = |n: &str| read.iter().find(|e| e.name == n).unwrap();
    assert_eq!(
        (
            get("home/u/f").uid,
            get("home/u/f").gid,
            get("home/u/f").mode
        ),
        (1000, 100, 0o104755)
    );
    assert_eq!((get("home/u").uid, get("home/u").mode), (1000, 0o40700));
    assert_eq!((get("home").uid, get("run/p").mode), (0, 0o10600));
}

#[test]
fn file_slices_stream_their_range() {
    let mut spool = tempfile::tempfile().unwrap();
    spool.write_all(b"0123456789").unwrap();
    let file = Arc::new(spool);
    let slice = |offset, len| {
        Data::Slice(FileSlice {
            file: file.clone(),
            offset,
            len,
        })
    };
    let mut tree = Tree::new();
    tree.file("a", 0o644, slice(2, 3))
        .unwrap()
        .file("b", 0o644, slice(0, 0))
        .unwrap();
    let read = read_newc(&tree.write_newc(Vec::new(), 0).unwrap()).unwrap();
    assert_eq!(read[0].data, b"234");
    assert_eq!(read[1].data, b"");
    // A range past the end is an error naming the entry.
    tree.file("c", 0o644, slice(8, 5)).unwrap();
    let err = tree.write_newc(Vec::new(), 0).unwrap_err();
    assert!(
        matches!(&err, Error::ReadSlice { path, .. } if path == "c"),
        "{err}"
    );
}

#[test]
fn hard_links_share_an_inode_and_carry_the_data_last() {
    let mut tree = Tree::new();
    tree.file("bin/b", 0o755, bytes("busybox")).unwrap();
    tree.insert(Entry::new("bin/a", 0o755, Kind::HardLink("/bin/b".into())))
        .unwrap();
    tree.insert(Entry::new("sbin/c", 0o755, Kind::HardLink("bin/b".into())))
        .unwrap();
    tree.file("z", 0o644, bytes("z")).unwrap();
    let read = read_newc(&tree.write_newc(Vec::new(), 0).unwrap()).unwrap();
    let names: Vec<_> = read.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["bin", "bin/a", "bin/b", "sbin", "sbin/c", "z"]);
    let group: Vec<_> = read.iter().filter(|e| e.name.contains("bin/")).collect();
    assert!(
        group
            .iter()
            .all(|e| e.ino == 2 && e.nlink == 3 && e.is_file()),
        "{group:?}"
    );
    let sizes: Vec<_> = group.iter().map(|e| e.data.len()).collect();
    assert_eq!(sizes, [0, 0, 7], "the data goes on the last link only");
    assert_eq!(
        read[5].ino, 6,
        "other entries keep write-order inode numbers"
    );
    // Deterministic: same tree, same bytes.
    assert_eq!(
        tree.write_newc(Vec::new(), 0).unwrap(),
        tree.clone().write_newc(Vec::new(), 0).unwrap()
    );
}

#[test]
fn hard_links_must_name_a_regular_file() {
    let mut tree = Tree::new();
    tree.symlink("s", "x").unwrap();
    tree.insert(Entry::new("l", 0o644, Kind::HardLink("s".into())))
        .unwrap();
    let err = tree.write_newc(Vec::new(), 0).unwrap_err();
    assert!(
        matches!(&err, Error::HardLink { path, target } if path == "l" && target == "s"),
        "{err}"
    );
    let mut tree = Tree::new();
    tree.insert(Entry::new("l", 0o644, Kind::HardLink("missing".into())))
        .unwrap();
    assert!(tree.write_newc(Vec::new(), 0).is_err());
    let err = Tree::new()
        .insert(Entry::new("l", 0o644, Kind::HardLink("../x".into())))
        .unwrap_err();
    assert!(matches!(err, Error::ParentComponent { .. }), "{err}");
}
