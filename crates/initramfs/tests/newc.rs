//! Writing newc archives and reading them back.

use std::path::PathBuf;

use kiln_initramfs::{read_newc, Data, Error, ReadEntry, Tree};

const MTIME: u32 = 1_700_000_000;

fn scratch(name: &str, contents: &[u8]) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn sample(host_file: PathBuf) -> Tree {
    let mut tree = Tree::new();
    tree.dir("dev", 0o755).unwrap();
    tree.char_dev("dev/console", 0o600, 5, 1).unwrap();
    tree.block_dev("dev/vda", 0o660, 254, 0).unwrap();
    tree.file("init", 0o755, Data::Bytes(b"#!/bin/sh\nexec sh\n".to_vec()))
        .unwrap();
    tree.file("bin/busybox", 0o755, Data::Path(host_file))
        .unwrap();
    tree.symlink("bin/sh", "busybox").unwrap();
    tree.dir("tmp", 0o1777).unwrap();
    tree.file("etc/empty", 0o644, Data::Bytes(Vec::new()))
        .unwrap();
    tree
}

#[allow(clippy::too_many_arguments)]
fn expected(
    name: &str,
    ino: u32,
    mode: u32,
    nlink: u32,
    rdev: (u32, u32),
    data: &[u8],
) -> ReadEntry {
    ReadEntry {
        name: name.to_owned(),
        mode,
        ino,
        nlink,
        uid: 0,
        gid: 0,
        mtime: MTIME,
        rdev_major: rdev.0,
        rdev_minor: rdev.1,
        data: data.to_vec(),
    }
}

#[test]
fn round_trip_preserves_every_field() {
    let elf: Vec<u8> = (0..10_001u32).map(|i| (i * 7) as u8).collect();
    let tree = sample(scratch("round_trip_busybox", &elf));
    let archive = tree.write_newc(Vec::new(), MTIME).unwrap();
    assert_eq!(&archive[..6], b"070701");
    assert_eq!(archive.len() % 4, 0);

    let entries = read_newc(&archive).unwrap();
    let want = [
        expected("bin", 1, 0o040755, 2, (0, 0), b""),
        expected("bin/busybox", 2, 0o100755, 1, (0, 0), &elf),
        expected("bin/sh", 3, 0o120777, 1, (0, 0), b"busybox"),
        expected("dev", 4, 0o040755, 2, (0, 0), b""),
        expected("dev/console", 5, 0o020600, 1, (5, 1), b""),
        expected("dev/vda", 6, 0o060660, 1, (254, 0), b""),
        expected("etc", 7, 0o040755, 2, (0, 0), b""),
        expected("etc/empty", 8, 0o100644, 1, (0, 0), b""),
        expected("init", 9, 0o100755, 1, (0, 0), b"#!/bin/sh\nexec sh\n"),
        expected("tmp", 10, 0o041777, 2, (0, 0), b""),
    ];
    assert_eq!(entries, want);
    assert!(entries[0].is_dir() && entries[1].is_file() && entries[2].is_symlink());
    assert_eq!(
        (entries[9].file_type(), entries[9].permissions()),
        (0o040000, 0o1777)
    );
}

#[test]
fn identical_input_gives_identical_bytes() {
    let host = scratch("deterministic_busybox", b"\x7fELF...");
    let a = sample(host.clone()).write_newc(Vec::new(), MTIME).unwrap();
    // Same entries, added in a different order.
    let mut tree = Tree::new();
    tree.file("etc/empty", 0o644, Data::Bytes(Vec::new()))
        .unwrap();
    tree.dir("tmp", 0o1777).unwrap();
    tree.symlink("bin/sh", "busybox").unwrap();
    tree.file("bin/busybox", 0o755, Data::Path(host)).unwrap();
    tree.file("init", 0o755, Data::Bytes(b"#!/bin/sh\nexec sh\n".to_vec()))
        .unwrap();
    tree.block_dev("dev/vda", 0o660, 254, 0).unwrap();
    tree.char_dev("dev/console", 0o600, 5, 1).unwrap();
    let b = tree.write_newc(Vec::new(), MTIME).unwrap();
    assert_eq!(a, b);
    let c = tree.write_newc(Vec::new(), MTIME).unwrap();
    assert_eq!(a, c);
    assert_ne!(a, tree.write_newc(Vec::new(), MTIME + 1).unwrap());
}

#[test]
fn empty_tree_writes_only_the_trailer() {
    let archive = Tree::new().write_newc(Vec::new(), MTIME).unwrap();
    // 110-byte header + "TRAILER!!!\0" padded to a multiple of 4.
    assert_eq!(archive.len(), 124);
    assert_eq!(&archive[..6], b"070701");
    assert_eq!(&archive[110..121], b"TRAILER!!!\0");
    assert_eq!(archive, cpio::newc::trailer(Vec::new()).unwrap());
    assert!(read_newc(&archive).unwrap().is_empty());
}

#[test]
fn headers_are_aligned_and_written_in_tree_order() {
    let mut tree = Tree::new();
    for (path, len) in [("a-b", 1), ("a/b", 2), ("a/c/d", 3), ("a.e", 5), ("abc", 0)] {
        tree.file(path, 0o644, Data::Bytes(vec![b'x'; len]))
            .unwrap();
    }
    let archive = tree.write_newc(Vec::new(), 0).unwrap();
    let entries = read_newc(&archive).unwrap();
    let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["a", "a/b", "a/c", "a/c/d", "a-b", "a.e", "abc"]);
    let tree_order: Vec<_> = tree.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(names, tree_order);
    assert!(entries
        .iter()
        .enumerate()
        .all(|(i, e)| e.ino == i as u32 + 1));

    // Walk the raw bytes: every header starts 4-byte aligned with the magic.
    let mut offset = 0;
    for name in names.iter().copied().chain(["TRAILER!!!"]) {
        let field = |i: usize| {
            let raw = std::str::from_utf8(&archive[offset + 6 + 8 * i..][..8]).unwrap();
            usize::from_str_radix(raw, 16).unwrap()
        };
        assert_eq!(offset % 4, 0);
        assert_eq!(&archive[offset..offset + 6], b"070701", "{name}");
        let (size, namesize) = (field(6), field(11));
        assert_eq!(
            &archive[offset + 110..offset + 110 + namesize],
            format!("{name}\0").as_bytes()
        );
        offset = (offset + 110 + namesize).next_multiple_of(4);
        offset = (offset + size).next_multiple_of(4);
    }
    assert_eq!(offset, archive.len());
}

#[test]
fn missing_or_odd_source_files_are_errors() {
    let mut tree = Tree::new();
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("does-not-exist");
    tree.file("bin/tool", 0o755, Data::Path(missing.clone()))
        .unwrap();
    let err = tree.write_newc(Vec::new(), 0).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::ReadSource { .. }));
    assert!(
        msg.contains("\"bin/tool\"") && msg.contains(&missing.display().to_string()),
        "{msg}"
    );

    let mut tree = Tree::new();
    tree.file("dir", 0o644, Data::Path(env!("CARGO_TARGET_TMPDIR").into()))
        .unwrap();
    let err = tree.write_newc(Vec::new(), 0).unwrap_err();
    assert!(matches!(err, Error::BadSource { .. }), "{err}");
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

#[test]
fn write_errors_name_the_entry() {
    #[derive(Debug)]
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut tree = Tree::new();
    tree.dir("boot", 0o755).unwrap();
    let err = tree.write_newc(Full, 0).unwrap_err();
    assert!(
        matches!(err, Error::Write { ref path, .. } if path == "boot"),
        "{err}"
    );
}

#[test]
fn malformed_archives_are_rejected() {
    let mut tree = Tree::new();
    tree.file("f", 0o644, Data::Bytes(vec![1; 100])).unwrap();
    let archive = tree.write_newc(Vec::new(), 0).unwrap();
    // Missing trailer, truncated data, bad magic, empty input.
    for bad in [
        &archive[..archive.len() - 124],
        &archive[..150],
        b"070707",
        b"",
    ] {
        assert!(matches!(read_newc(bad), Err(Error::Malformed { .. })));
    }
    let err = read_newc(&archive[..archive.len() - 124]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("malformed newc archive at byte {}", archive.len() - 124)
    );
}

#[test]
fn concatenated_archives_are_read_like_the_kernel_does() {
    let mut first = Tree::new();
    first
        .file(
            "kernel/x86/microcode/GenuineIntel.bin",
            0o644,
            Data::Bytes(vec![9; 3]),
        )
        .unwrap();
    let mut second = Tree::new();
    second
        .file("init", 0o755, Data::Bytes(b"#!".to_vec()))
        .unwrap();
    let mut archive = first.write_newc(Vec::new(), 0).unwrap();
    archive.extend_from_slice(&[0; 512]);
    let archive = second.write_newc(archive, 0).unwrap();
    let names: Vec<_> = read_newc(&archive)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names.len(), 5);
    assert_eq!(names[4], "init");
}
