//! Hostile layers: each case is either rejected with an error naming the
//! layer (index and digest) and the entry, or provably contained: the
//! resulting tree is checked, and nothing is ever written to the host (the
//! tree is in memory; the only host file is the unlinked spool).
//!
//! Ported from containerd's `TestBreakouts` (symlinks, hard links,
//! whiteouts), umoci's scoping tests, plus tar parser differentials, size
//! caps and digest checks.

use std::path::Path;

use kiln_oci::fixtures::{self, kind, RawTar};
use kiln_oci::{Compression, Image, Kind, Limits, Options, Rootfs};

enum Expect {
    /// The error names layer N and contains every substring.
    Rejected(usize, &'static [&'static str]),
    /// The tree passes the check.
    Contained(fn(&Rootfs)),
}
use Expect::{Contained, Rejected};

struct Case {
    name: &'static str,
    layers: Vec<Vec<u8>>,
    compression: Compression,
    /// Changes the image's files (e.g. corrupts a blob).
    tweak: Option<fn(&mut fixtures::Files)>,
    expect: Expect,
}

fn case(name: &'static str, layers: Vec<Vec<u8>>, expect: Expect) -> Case {
    Case {
        name,
        layers,
        compression: Compression::None,
        tweak: None,
        expect,
    }
}

fn tar(f: impl FnOnce(&mut RawTar)) -> Vec<u8> {
    let mut t = RawTar::new();
    f(&mut t);
    t.finish()
}

/// A lower layer like a distribution's: /etc/passwd and /etc/shadow.
fn base() -> Vec<u8> {
    tar(|t| {
        t.dir("etc", 0o755)
            .file("etc/passwd", 0o644, b"tree passwd\n")
            .file("etc/shadow", 0o600, b"tree shadow\n");
    })
}

fn kind_of(r: &Rootfs, p: &str) -> Option<Kind> {
    r.get(p).map(|e| e.kind)
}

fn read(r: &Rootfs, p: &str) -> Vec<u8> {
    match kind_of(r, p) {
        Some(Kind::File(c)) => r.read(&c).unwrap(),
        k => panic!("{p} is {k:?}"),
    }
}

fn is_dir(r: &Rootfs, p: &str) -> bool {
    kind_of(r, p) == Some(Kind::Dir)
}

fn paths(r: &Rootfs) -> Vec<String> {
    r.entries().into_iter().map(|e| e.path).collect()
}

fn cases() -> Vec<Case> {
    vec![
        // --- containerd TestBreakouts: symlinks ---
        case("symlink absolute", vec![tar(|t| {
            t.symlink("localetc", "/etc").file("localetc/unbroken", 0o644, b"x");
        })], Contained(|r| {
            assert_eq!(read(r, "etc/unbroken"), b"x");
            assert_eq!(kind_of(r, "localetc"), Some(Kind::Symlink("/etc".into())));
        })),
        case("symlink up and out", vec![tar(|t| {
            t.symlink("localetc", "../../../../../../etc").file("localetc/emptied", 0o644, b"");
        })], Contained(|r| assert!(r.get("etc/emptied").is_some()))),
        case("symlink down and out", vec![tar(|t| {
            t.dir("dummy", 0o755).symlink("dummy/up", "../../../../etc").file("dummy/up/x", 0o644, b"x");
        })], Contained(|r| assert_eq!(read(r, "etc/x"), b"x"))),
        case("symlink through parent", vec![tar(|t| {
            t.symlink("a", "b/../../../etc").dir("b", 0o755).file("a/x", 0o644, b"x");
        })], Contained(|r| assert_eq!(read(r, "etc/x"), b"x"))),
        case("symlink chain out", vec![tar(|t| {
            t.symlink("l1", "/l2").symlink("l2", "../../l3").symlink("l3", "/etc/..//../etc").file("l1/x", 0o644, b"x");
        })], Contained(|r| assert_eq!(read(r, "etc/x"), b"x"))),
        case("symlink loop", vec![tar(|t| {
            t.symlink("a", "b").symlink("b", "a").file("a/x", 0o644, b"x");
        })], Rejected(0, &["entry \"a/x\"", "more than 40 symlinks"])),
        case("symlink over a directory", vec![base(), tar(|t| {
            t.symlink("etc", "/tmp").file("etc/x", 0o644, b"x");
        })], Contained(|r| {
            assert_eq!(kind_of(r, "etc"), Some(Kind::Symlink("/tmp".into())));
            assert!(r.get("etc/passwd").is_none(), "the directory was replaced");
            assert_eq!(read(r, "tmp/x"), b"x");
        })),
        case("symlink replaced by a directory then chmod (CVE-2026-33056)", vec![tar(|t| {
            t.dir("etc", 0o755).symlink("foo", "/etc").dir("foo", 0o777);
        })], Contained(|r| {
            assert!(is_dir(r, "foo"));
            assert_eq!(r.get("foo").unwrap().meta.mode, 0o777);
            assert_eq!(r.get("etc").unwrap().meta.mode, 0o755, "the symlink's target is untouched");
        })),
        case("symlink kept verbatim, never followed for itself", vec![tar(|t| {
            t.symlink("escape", "../../../../../etc/shadow").symlink("escape", "/etc/shadow");
        })], Contained(|r| assert_eq!(kind_of(r, "escape"), Some(Kind::Symlink("/etc/shadow".into()))))),
        case("parent is a file", vec![tar(|t| {
            t.file("f", 0o644, b"").file("f/x", 0o644, b"x");
        })], Rejected(0, &["entry \"f/x\"", "parent \"f\" is not a directory"])),
        // --- containerd TestBreakouts: hard links ---
        case("hard link relative, up and out", vec![base(), tar(|t| {
            t.hardlink("passwd", "../../../../etc/passwd");
        })], Contained(|r| {
            assert_eq!(read(r, "passwd"), b"tree passwd\n");
            assert_eq!(r.get("passwd").unwrap().inode, r.get("etc/passwd").unwrap().inode);
        })),
        case("hard link absolute", vec![base(), tar(|t| {
            t.hardlink("shadow", "/etc/shadow");
        })], Contained(|r| assert_eq!(read(r, "shadow"), b"tree shadow\n"))),
        case("hard link to a host file is not found", vec![tar(|t| {
            t.hardlink("passwd", "/etc/passwd");
        })], Rejected(0, &["entry \"passwd\"", "does not exist"])),
        case("hard link down and out", vec![base(), tar(|t| {
            t.dir("dummy", 0o755).hardlink("link", "dummy/../../../etc/passwd");
        })], Contained(|r| assert_eq!(read(r, "link"), b"tree passwd\n"))),
        case("hard link through a symlinked parent", vec![base(), tar(|t| {
            t.symlink("up", "../../../../").hardlink("link", "up/etc/shadow");
        })], Contained(|r| assert_eq!(read(r, "link"), b"tree shadow\n"))),
        case("hard link to a symlink", vec![tar(|t| {
            t.symlink("sym", "/etc/passwd").hardlink("link", "sym");
        })], Contained(|r| {
            assert_eq!(kind_of(r, "link"), Some(Kind::Symlink("/etc/passwd".into())));
            assert_eq!(r.get("link").unwrap().inode, r.get("sym").unwrap().inode);
        })),
        case("hard link before its target", vec![tar(|t| {
            t.hardlink("a", "b").file("b", 0o644, b"b");
        })], Rejected(0, &["entry \"a\"", "does not exist (a link must come after its target)"])),
        case("hard link to a directory", vec![base(), tar(|t| {
            t.hardlink("d", "etc");
        })], Rejected(1, &["entry \"d\"", "hard link to the directory"])),
        case("hard link keeps the old inode when its target is replaced", vec![tar(|t| {
            t.file("a", 0o644, b"old").hardlink("b", "a");
        }), tar(|t| {
            t.file("a", 0o644, b"new");
        })], Contained(|r| {
            assert_eq!((read(r, "a"), read(r, "b")), (b"new".to_vec(), b"old".to_vec()));
        })),
        // --- containerd TestBreakouts: whiteouts ---
        case("whiteout of ..", vec![base(), tar(|t| {
            t.file("etc/.wh...", 0o644, b"");
        })], Rejected(1, &["entry \"etc/.wh...\"", "names no entry of its directory"])),
        case("whiteout of .", vec![base(), tar(|t| {
            t.file("etc/.wh..", 0o644, b"");
        })], Rejected(1, &["entry \"etc/.wh..\"", "names no entry"])),
        case("whiteout of the root", vec![base(), tar(|t| {
            t.file("../.wh..", 0o644, b"");
        })], Rejected(1, &["entry \"../.wh..\"", "names no entry"])),
        case("whiteout with an empty name", vec![base(), tar(|t| {
            t.file("/.wh.", 0o644, b"");
        })], Rejected(1, &["entry \"/.wh.\"", "names no entry"])),
        case("whiteout through a symlink stays inside", vec![base(), tar(|t| {
            t.symlink("etclink", "/../../etc").file("etclink/.wh.passwd", 0o644, b"");
        })], Contained(|r| {
            assert!(r.get("etc/passwd").is_none());
            assert!(r.get("etc/shadow").is_some());
        })),
        case("whiteout up and out is clamped", vec![base(), tar(|t| {
            t.file("../../../.wh.etc", 0o644, b"");
        })], Contained(|r| assert!(paths(r).is_empty(), "{:?}", paths(r)))),
        case("whiteout keeps what the same layer adds", vec![base(), tar(|t| {
            t.file("etc/passwd", 0o644, b"new").file("etc/.wh.passwd", 0o644, b"").file("etc/.wh.shadow", 0o644, b"");
        })], Contained(|r| {
            assert_eq!(read(r, "etc/passwd"), b"new");
            assert!(r.get("etc/shadow").is_none());
        })),
        case("opaque keeps what the same layer adds, in any order", vec![base(), tar(|t| {
            t.file("etc/hosts", 0o644, b"h").opaque("etc").file("etc/hostname", 0o644, b"n");
        })], Contained(|r| assert_eq!(paths(r), ["etc", "etc/hostname", "etc/hosts"]))),
        case("opaque through a symlink stays inside", vec![base(), tar(|t| {
            t.symlink("l", "../../etc").opaque("l");
        })], Contained(|r| assert_eq!(paths(r), ["etc", "l"]))),
        case("aufs metadata whiteouts are skipped", vec![base(), tar(|t| {
            t.file(".wh..wh.plnk", 0o644, b"").file(".wh..wh.aufs", 0o644, b"");
        })], Contained(|r| assert_eq!(paths(r), ["etc", "etc/passwd", "etc/shadow"]))),
        // --- umoci SanitiseScoping / SymlinkScoping ---
        case("umoci: names with .. are clamped to the root", vec![tar(|t| {
            t.file("../../../../tmp/evil", 0o644, b"e").file("a/../../b/./c", 0o644, b"c").file("/abs", 0o644, b"a");
        })], Contained(|r| assert_eq!(paths(r), ["abs", "b", "b/c", "tmp", "tmp/evil"]))),
        case("umoci: absolute symlink as a parent is scoped", vec![tar(|t| {
            t.symlink("a", "/../../../../../../../../../etc").dir("a/b", 0o755).file("a/b/c", 0o644, b"c");
        })], Contained(|r| assert_eq!(read(r, "etc/b/c"), b"c"))),
        case("umoci: relative symlink as a parent is scoped", vec![tar(|t| {
            t.dir("x", 0o755).symlink("x/l", "../../../../../etc").file("x/l/f", 0o644, b"f");
        })], Contained(|r| assert_eq!(read(r, "etc/f"), b"f"))),
        // --- duplicates ---
        case("duplicate entries: the last wins", vec![tar(|t| {
            t.file("dup", 0o644, b"one").file("dup", 0o600, b"two").dir("d", 0o755).file("d", 0o644, b"file")
                .file("f", 0o644, b"").dir("f", 0o700).file("f/x", 0o644, b"x");
        })], Contained(|r| {
            assert_eq!((read(r, "dup"), r.get("dup").unwrap().meta.mode), (b"two".to_vec(), 0o600));
            assert_eq!(read(r, "d"), b"file");
            assert_eq!(read(r, "f/x"), b"x");
        })),
        // --- tar parser differentials and oversize headers ---
        case("PAX and GNU disagree on the path", vec![tar(|t| {
            t.gnu_long_name(b"gnu/name").pax(&[("path", b"pax/name")]).file("ustar", 0o644, b"x");
        })], Rejected(0, &["entry \"ustar\"", "PAX and GNU headers disagree on the path"])),
        case("PAX and GNU agree", vec![tar(|t| {
            t.gnu_long_name(b"same/name").pax(&[("path", b"same/name")]).file("ustar", 0o644, b"x");
        })], Contained(|r| assert_eq!(read(r, "same/name"), b"x"))),
        case("PAX size disagrees with the header", vec![tar(|t| {
            t.pax(&[("size", b"1024")]).file("f", 0o644, b"short");
        })], Rejected(0, &["entry \"f\"", "PAX size 1024 disagrees with the header's size 5"])),
        case("PAX and GNU disagree on the link", vec![tar(|t| {
            let mut h = tar::Header::new_gnu();
            h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
            h.set_entry_type(tar::EntryType::GNULongLink);
            h.set_size(4);
            h.set_mode(0o644);
            h.set_cksum();
            t.raw(&h, b"gnu\0").pax(&[("linkpath", b"pax")]).symlink("l", "ustar");
        })], Rejected(0, &["entry \"l\"", "disagree on the link"])),
        case("two PAX headers for one member", vec![tar(|t| {
            t.pax(&[("path", b"a")]).pax(&[("path", b"b")]).file("f", 0o644, b"");
        })], Rejected(0, &["two PAX headers"])),
        case("two GNU long names for one member", vec![tar(|t| {
            t.gnu_long_name(b"a").gnu_long_name(b"b").file("f", 0o644, b"");
        })], Rejected(0, &["two GNU long name headers"])),
        case("oversize PAX header", vec![tar(|t| {
            t.raw(&fixtures::header(b"././@PaxHeader", kind::PAX, 1 << 40, 0o644, b""), b"");
        })], Rejected(0, &["oversize PAX header (1099511627776 bytes, limit 1048576)"])),
        case("oversize GNU long name", vec![tar(|t| {
            t.raw(&fixtures::header(b"././@LongLink", kind::GNU_LONG_NAME, 1 << 20, 0o644, b""), &vec![b'a'; 1 << 20]);
        })], Rejected(0, &["oversize GNU long name header (1048576 bytes, limit 4096)"])),
        case("extension header describing no member", vec![tar(|t| {
            t.pax(&[("path", b"x")]);
        })], Rejected(0, &["extension headers that describe no member"])),
        case("malformed PAX record", vec![tar(|t| {
            t.raw(&fixtures::header(b"././@PaxHeader", kind::PAX, 9, 0o644, b""), b"99 path=x").file("f", 0o644, b"");
        })], Rejected(0, &["malformed PAX header"])),
        case("header checksum mismatch", vec![{
            let mut l = tar(|t| { t.file("f", 0o644, b"x"); });
            l[0] ^= 0x20;
            l
        }], Rejected(0, &["checksum mismatch"])),
        case("truncated layer", vec![{
            let l = tar(|t| { t.file("big", 0o644, &[7u8; 4096]); });
            l[..1024].to_vec()
        }], Rejected(0, &["cannot read the layer after entry \"big\""])),
        case("sparse files", vec![tar(|t| {
            t.entry("s", b'S', 0o644, b"", "");
        })], Rejected(0, &["entry \"s\"", "sparse files are not supported"])),
        case("unsupported entry type", vec![tar(|t| {
            t.entry("v", b'V', 0o644, b"", "");
        })], Rejected(0, &["entry \"v\"", "unsupported entry type 'V'"])),
        case("name not UTF-8", vec![tar(|t| {
            t.raw(&fixtures::header(b"bad\xff", kind::FILE, 0, 0o644, b""), b"");
        })], Rejected(0, &["the name is not UTF-8"])),
        case("empty symlink target", vec![tar(|t| {
            t.symlink("l", "");
        })], Rejected(0, &["entry \"l\"", "symlink target is empty"])),
        case("device number out of range", vec![tar(|t| {
            t.pax(&[]).device("dev/x", kind::CHAR, 4096, 0);
        })], Rejected(0, &["entry \"dev/x\"", "out of Linux's range"])),
        case("too many entries", vec![tar(|t| {
            for i in 0..101 {
                t.file(&format!("f{i}"), 0o644, b"");
            }
        })], Rejected(0, &["entry \"f100\"", "more than 100 entries"])),
        // --- what must be kept ---
        case("devices, setuid, owners and capabilities are kept", vec![tar(|t| {
            t.device("dev/null", kind::CHAR, 1, 3).device("dev/sda", kind::BLOCK, 8, 0).entry("run/fifo", kind::FIFO, 0o600, b"", "")
                .pax(&[("uid", b"70000"), ("gid", b"70001"), ("SCHILY.xattr.security.capability", b"\x01\x00\x00\x02")])
                .file("bin/ping", 0o4711, b"ping");
            let global = b"30 path=global/header/ignored\n";
            t.raw(&fixtures::header(b"g", b'g', global.len() as u64, 0o644, b""), global).file("end", 0o644, b"");
        })], Contained(|r| {
            assert_eq!(kind_of(r, "dev/null"), Some(Kind::CharDev { major: 1, minor: 3 }));
            assert_eq!(kind_of(r, "dev/sda"), Some(Kind::BlockDev { major: 8, minor: 0 }));
            assert_eq!(kind_of(r, "run/fifo"), Some(Kind::Fifo));
            let ping = r.get("bin/ping").unwrap().meta;
            assert_eq!((ping.mode, ping.uid, ping.gid), (0o4711, 70000, 70001));
            assert_eq!(ping.xattrs["security.capability"], b"\x01\x00\x00\x02");
            assert!(r.get("end").is_some() && r.get("global").is_none());
            let conv = r.to_tree().unwrap();
            assert_eq!(conv.xattrs, [("bin/ping".to_owned(), "security.capability".to_owned())]);
            assert_eq!(conv.tree.get("bin/ping").unwrap().xattrs["security.capability"], b"\x01\x00\x00\x02");
        })),
        // --- digests and sizes ---
        Case {
            name: "layer digest mismatch",
            layers: vec![base()],
            compression: Compression::Gzip,
            tweak: Some(|files| {
                let layer = files.iter_mut().find(|(_, d)| d.starts_with(&[0x1f, 0x8b])).unwrap();
                let n = layer.1.len();
                layer.1[n / 2] ^= 0xff;
            }),
            expect: Rejected(0, &["does not match its descriptor", "content has digest sha256:"]),
        },
        Case {
            name: "layer longer than its descriptor",
            layers: vec![base()],
            compression: Compression::Gzip,
            tweak: Some(|files| {
                let layer = files.iter_mut().find(|(_, d)| d.starts_with(&[0x1f, 0x8b])).unwrap();
                layer.1.push(0);
            }),
            expect: Rejected(0, &["does not match its descriptor", "the descriptor says"]),
        },
        Case {
            name: "decompression bomb (gzip)",
            layers: vec![tar(|t| { t.file("zeros", 0o644, &vec![0u8; 4 << 20]); })],
            compression: Compression::Gzip,
            tweak: None,
            expect: Rejected(0, &["the uncompressed layer exceeds the limit of 1048576 bytes (decompression bomb?)", "Limits::max_layer_bytes"]),
        },
        Case {
            name: "decompression bomb (zstd)",
            layers: vec![tar(|t| { t.file("zeros", 0o644, &vec![0u8; 4 << 20]); })],
            compression: Compression::Zstd,
            tweak: None,
            expect: Rejected(0, &["exceeds the limit of 1048576 bytes"]),
        },
    ]
}

fn run(case: &Case, dir: &Path) -> Result<Rootfs, kiln_oci::Error> {
    let image = fixtures::FixtureImage::with_layers(case.layers.clone(), case.compression);
    let mut files = fixtures::oci_layout_files(&image, "latest");
    if let Some(tweak) = case.tweak {
        tweak(&mut files);
    }
    fixtures::write_dir(dir, &files).unwrap();
    let options = Options {
        spool_dir: dir.to_owned(),
        inline_max: 64,
        limits: Limits {
            max_layer_bytes: 1 << 20,
            max_entries: 100,
            ..Limits::default()
        },
        ..Options::default()
    };
    Image::open(dir, &options)?.unpack(&options)
}

#[test]
fn hostile_layers_are_rejected_or_contained() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = cases();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let dir = tmp.path().join(i.to_string());
        let result = run(case, &dir);
        let layer_digests: Vec<String> = case
            .layers
            .iter()
            .map(|l| kiln_oci::Digest::sha256(&fixtures::compress(l, case.compression)).to_string())
            .collect();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            match (&case.expect, result) {
                (Rejected(layer, parts), Err(e)) => {
                    let msg = e.to_string();
                    let named = format!("layer {layer} ({}", layer_digests[*layer]);
                    assert!(
                        msg.contains(&named) || msg.contains(&layer_digests[*layer]),
                        "error does not name {named}: {msg}"
                    );
                    for p in *parts {
                        assert!(msg.contains(p), "error lacks {p:?}: {msg}");
                    }
                }
                (Rejected(..), Ok(r)) => panic!("accepted: {:?}", paths(&r)),
                (Contained(_), Err(e)) => panic!("rejected: {e}"),
                (Contained(check), Ok(r)) => check(&r),
            }
        }));
        if let Err(p) = outcome {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            failures.push(format!("{}: {}", case.name, msg.unwrap_or_default()));
        }
        // Nothing but the image's own files was written where the layers were read.
        let written: Vec<_> = walk(&dir)
            .into_iter()
            .filter(|p| !p.starts_with("blobs") && p != "index.json" && p != "oci-layout")
            .collect();
        assert!(written.is_empty(), "{}: wrote {written:?}", case.name);
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else {
                out.push(rel);
            }
        }
    }
    out
}
