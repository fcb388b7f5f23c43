//! Path normalization, implicit parents, replacement rules and ordering.

use kiln_initramfs::{Data, Entry, Error, Kind, Tree};

fn bytes(s: &str) -> Data {
    Data::Bytes(s.as_bytes().to_vec())
}

fn paths(tree: &Tree) -> Vec<&str> {
    tree.iter().map(|e| e.path.as_str()).collect()
}

#[test]
fn paths_are_normalized_and_parents_created() {
    let mut tree = Tree::new();
    tree.file("/usr//./bin/tool/", 0o755, bytes("x")).unwrap();
    assert_eq!(paths(&tree), ["usr", "usr/bin", "usr/bin/tool"]);
    let tool = tree.get("usr/bin/tool").unwrap();
    assert_eq!(tool.path, "usr/bin/tool");
    assert_eq!(tool.mode, 0o755);
    for dir in ["usr", "/usr/bin", "./usr/bin/"] {
        let entry = tree.get(dir).unwrap();
        assert_eq!((entry.mode, &entry.kind), (0o755, &Kind::Dir), "{dir}");
    }
    assert_eq!(tree.len(), 3);
    assert!(!tree.is_empty());
    assert!(tree.get("..").is_none());
}

#[test]
fn invalid_paths_are_rejected() {
    let mut tree = Tree::new();
    let err = tree.dir("a/../etc", 0o755).unwrap_err();
    assert!(matches!(err, Error::ParentComponent { ref path } if path == "a/../etc"));
    assert!(err.to_string().contains("\"a/../etc\""), "{err}");
    for path in ["", "/", "//", "./", ".", "a\0b"] {
        let err = tree.dir(path, 0o755).unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }), "{path:?}: {err}");
    }
    let long = "x".repeat(4096);
    assert!(matches!(
        tree.dir(&long, 0o755),
        Err(Error::InvalidPath { .. })
    ));
    assert!(tree.is_empty());
}

/// Found by the round-trip property test (tests/prop.rs): the kernel, like
/// `read_newc`, ends an archive at an entry named `TRAILER!!!` and skips it, so a
/// top-level file or directory of that name (and its contents) vanished at boot.
#[test]
fn top_level_trailer_name_is_rejected() {
    let mut tree = Tree::new();
    for path in ["TRAILER!!!", "/TRAILER!!!", "./TRAILER!!!/", "TRAILER!!!/init"] {
        let err = tree.file(path, 0o644, bytes("x")).unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }), "{path:?}: {err}");
        assert!(err.to_string().contains("end of a newc archive"), "{err}");
    }
    assert!(tree.is_empty());
    // Anywhere else it is an ordinary name and survives the round trip.
    tree.file("etc/TRAILER!!!", 0o644, bytes("x")).unwrap();
    tree.dir("TRAILER!!", 0o755).unwrap();
    let archive = tree.write_newc(Vec::new(), 0).unwrap();
    let names: Vec<_> = kiln_initramfs::read_newc(&archive)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["TRAILER!!", "etc", "etc/TRAILER!!!"]);
}

#[test]
fn non_directory_parent_is_an_error_naming_both_paths() {
    let mut tree = Tree::new();
    tree.file("bin/busybox", 0o755, bytes("elf")).unwrap();
    tree.symlink("lib", "usr/lib").unwrap();
    let before = tree.len();
    for (path, parent) in [("bin/busybox/x/y", "bin/busybox"), ("lib/libc.so", "lib")] {
        let err = tree.file(path, 0o644, bytes("")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("{path:?}")) && msg.contains(&format!("{parent:?}")),
            "{msg}"
        );
        assert!(matches!(err, Error::ParentNotDir { .. }));
    }
    // Nothing was added, not even the implicit `bin/busybox/x`.
    assert_eq!(tree.len(), before);
}

#[test]
fn insert_replaces_non_directories() {
    let mut tree = Tree::new();
    tree.file("etc/hostname", 0o644, bytes("a")).unwrap();
    tree.symlink("etc/hostname", "/proc/sys/kernel/hostname")
        .unwrap();
    assert_eq!(
        tree.get("etc/hostname").unwrap().kind,
        Kind::Symlink("/proc/sys/kernel/hostname".into())
    );
    tree.insert(Entry::new("/etc/hostname", 0o600, Kind::File(bytes("b"))))
    .unwrap();
    let entry = tree.get("etc/hostname").unwrap();
    assert_eq!((entry.mode, &entry.kind), (0o600, &Kind::File(bytes("b"))));
    // A directory may replace a file too.
    tree.dir("etc/hostname", 0o700).unwrap();
    assert!(tree.get("etc/hostname").unwrap().is_dir());
    assert_eq!(tree.len(), 2);
}

#[test]
fn directories_keep_contents_and_are_not_replaced_by_files() {
    let mut tree = Tree::new();
    tree.file("root/.profile", 0o644, bytes("")).unwrap();
    assert_eq!(tree.get("root").unwrap().mode, 0o755);
    tree.dir("root", 0o700).unwrap();
    assert_eq!(tree.get("root").unwrap().mode, 0o700);
    assert!(tree.get("root/.profile").is_some());
    let err = tree.symlink("root", "/tmp").unwrap_err();
    assert!(
        matches!(err, Error::IsDir { ref path } if path == "root"),
        "{err}"
    );
    assert!(tree.get("root").unwrap().is_dir());
}

#[test]
fn modes_targets_and_device_numbers_are_validated() {
    let mut tree = Tree::new();
    tree.file("bin/su", 0o4755, bytes("")).unwrap();
    tree.dir("tmp", 0o1777).unwrap();
    let err = tree.file("x", 0o100644, bytes("")).unwrap_err();
    assert!(
        matches!(err, Error::InvalidMode { mode: 0o100644, .. }),
        "{err}"
    );
    assert!(matches!(
        tree.symlink("y", ""),
        Err(Error::InvalidTarget { .. })
    ));
    assert!(matches!(
        tree.symlink("y", "a\0b"),
        Err(Error::InvalidTarget { .. })
    ));
    tree.char_dev("dev/max", 0o600, 4095, (1 << 20) - 1)
        .unwrap();
    let err = tree.char_dev("dev/big", 0o600, 4096, 0).unwrap_err();
    assert!(
        matches!(err, Error::InvalidDevice { major: 4096, .. }),
        "{err}"
    );
    assert!(matches!(
        tree.block_dev("dev/b", 0o600, 8, 1 << 20),
        Err(Error::InvalidDevice { .. })
    ));
    assert_eq!(paths(&tree), ["bin", "bin/su", "dev", "dev/max", "tmp"]);
}

#[test]
fn remove_takes_whole_subtrees() {
    let mut tree = Tree::new();
    for path in ["a/b/c", "a/d", "a-b", "ab", "a.txt"] {
        tree.file(path, 0o644, bytes(path)).unwrap();
    }
    assert_eq!(tree.remove("a-b").unwrap().kind, Kind::File(bytes("a-b")));
    let removed = tree.remove("/a/").unwrap();
    assert_eq!((removed.path.as_str(), removed.kind), ("a", Kind::Dir));
    assert_eq!(paths(&tree), ["a.txt", "ab"]);
    assert!(tree.remove("a").is_none());
    assert!(tree.remove("..").is_none());
}

#[test]
fn directories_precede_their_contents() {
    let mut tree = Tree::new();
    for path in ["a-b", "a/b/c", "a.c/d", "a/b-c", "b", "a0", "a b"] {
        tree.file(path, 0o644, bytes("")).unwrap();
    }
    // Plain byte order would give "a", "a b", "a-b", "a.c", ..., "a/b":
    // the contents of `a` would be separated from it.
    assert_eq!(
        paths(&tree),
        ["a", "a/b", "a/b/c", "a/b-c", "a b", "a-b", "a.c", "a.c/d", "a0", "b"]
    );
    let all = paths(&tree);
    for (i, path) in all.iter().enumerate() {
        if let Some((parent, _)) = path.rsplit_once('/') {
            let pos = all.iter().position(|p| *p == parent).unwrap();
            assert!(pos < i, "{parent} after {path}");
            // Everything between a directory and its child is inside it.
            assert!(all[pos + 1..i]
                .iter()
                .all(|p| p.starts_with(&format!("{parent}/"))));
        }
    }
}

#[test]
fn error_messages_are_lowercase() {
    let mut tree = Tree::new();
    tree.file("f", 0o644, bytes("")).unwrap();
    let errors = [
        tree.dir("", 0o755).unwrap_err(),
        tree.dir("..", 0o755).unwrap_err(),
        tree.dir("f/g", 0o755).unwrap_err(),
        tree.dir("d", 0o777_777).unwrap_err(),
        tree.symlink("s", "").unwrap_err(),
        tree.char_dev("c", 0o600, 1 << 12, 0).unwrap_err(),
    ];
    for err in errors {
        let msg = err.to_string();
        assert!(msg.starts_with(|c: char| c.is_ascii_lowercase()), "{msg}");
    }
}

#[test]
fn data_debug_does_not_dump_contents() {
    assert_eq!(
        format!("{:?}", Data::Bytes(vec![0; 1000])),
        "Bytes(<1000 bytes>)"
    );
    assert_eq!(Data::from(&b"ab"[..]), Data::Bytes(b"ab".to_vec()));
}

#[test]
fn graft_puts_a_tree_below_a_prefix_with_links_reaimed() {
    let mut image = Tree::new();
    image.dir("bin", 0o755).unwrap();
    image.file("bin/busybox", 0o4755, bytes("bb")).unwrap();
    image.symlink("bin/sh", "/bin/busybox").unwrap();
    image
        .insert(Entry { uid: 1000, gid: 1000, ..Entry::new("bin/cat", 0o755, Kind::HardLink("bin/busybox".into())) })
        .unwrap();
    let mut root = Tree::new();
    root.file("etc/passwd", 0o644, bytes("root")).unwrap();
    root.graft("/containers/web/rootfs", image).unwrap();
    let paths: Vec<&str> = root.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["containers", "containers/web", "containers/web/rootfs", "containers/web/rootfs/bin", "containers/web/rootfs/bin/busybox",
         "containers/web/rootfs/bin/cat", "containers/web/rootfs/bin/sh", "etc", "etc/passwd"]
    );
    let cat = root.get("containers/web/rootfs/bin/cat").unwrap();
    assert_eq!(cat.kind, Kind::HardLink("containers/web/rootfs/bin/busybox".into()));
    assert_eq!((cat.uid, cat.gid), (1000, 1000));
    assert_eq!(root.get("containers/web/rootfs/bin/busybox").unwrap().mode, 0o4755);
    assert_eq!(root.get("containers/web/rootfs/bin/sh").unwrap().kind, Kind::Symlink("/bin/busybox".into()));
    assert!(root.graft("f/../..", Tree::new()).is_err());
}
