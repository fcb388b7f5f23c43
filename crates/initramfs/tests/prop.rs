//! Property tests: random entry tables through `Tree` → `write_newc` → `read_newc`,
//! and random bytes through the xz compressor.
//!
//! The defaults keep `cargo test` fast; set `PROPTEST_CASES=20000` for a long run
//! (see ARCHITECTURE.md, "Testing"). The `Tree` has no hard links, so there are none
//! here.

use std::collections::BTreeMap;

use kiln_initramfs::{
    compress_xz_with, decompress_xz, read_newc, Data, Entry, Error, Kind, ReadEntry, Tree,
    XzOptions,
};
use proptest::prelude::*;

/// `cases` unless `PROPTEST_CASES` is set (the long runs).
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

/// One path component: mostly short and plain, sometimes odd but valid (spaces,
/// control characters, shell and glob characters, dots, non-ASCII, names that
/// mean something to cpio), never `/`, NUL, `.` or `..`.
fn component() -> impl Strategy<Value = String> {
    let odd = prop::sample::select(vec![
        " ", "\t", "\n", "\r", "\u{7f}", "\u{1b}[0m", "-", "--x", "~", ".x", "...", "..x",
        "x.", "a b", "\\", "*?[", "#", "$HOME", "'\"", "é", "日本", "\u{feff}", "\u{10ffff}",
        "TRAILER!!!", "TRAILER!!", "070701", "a=b:c,d",
    ])
    .prop_map(String::from);
    prop_oneof![
        6 => "[a-c]{1,2}",
        2 => "[^/\u{0}]{1,8}".prop_filter("not . or ..", |s| s != "." && s != ".."),
        2 => odd,
    ]
}

#[derive(Debug, Clone)]
enum What {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    Char(u32, u32),
    Block(u32, u32),
}

fn what() -> impl Strategy<Value = What> {
    let major = 0u32..1 << 12;
    let minor = 0u32..1 << 20;
    prop_oneof![
        3 => Just(What::Dir),
        4 => prop_oneof![
            8 => prop::collection::vec(any::<u8>(), 0..64),
            1 => prop::collection::vec(any::<u8>(), 0..4096),
        ]
        .prop_map(What::File),
        2 => "[^\u{0}]{1,24}".prop_map(What::Symlink),
        1 => (major.clone(), minor.clone()).prop_map(|(a, i)| What::Char(a, i)),
        1 => (major, minor).prop_map(|(a, i)| What::Block(a, i)),
    ]
}

/// An insertion: the clean components, how to spell the path (leading `/`,
/// `//`, `./`), the mode and what to insert.
#[derive(Debug, Clone)]
struct Op {
    parts: Vec<String>,
    spelling: Vec<u8>,
    mode: u32,
    what: What,
}

impl Op {
    /// The path as given to `Tree`, with noise that normalization removes.
    fn raw_path(&self) -> String {
        let mut path = String::new();
        for (i, part) in self.parts.iter().enumerate() {
            let noise = self.spelling.get(i).copied().unwrap_or(0);
            if i > 0 || noise & 1 != 0 {
                path.push('/');
            }
            if noise & 2 != 0 {
                path.push_str("./");
            }
            if noise & 4 != 0 {
                path.push('/');
            }
            path.push_str(part);
        }
        if self.spelling.last().copied().unwrap_or(0) & 8 != 0 {
            path.push('/');
        }
        path
    }

    fn entry(&self) -> Entry {
        let kind = match &self.what {
            What::Dir => Kind::Dir,
            What::File(b) => Kind::File(Data::Bytes(b.clone())),
            What::Symlink(t) => Kind::Symlink(t.clone()),
            What::Char(major, minor) => Kind::CharDev { major: *major, minor: *minor },
            What::Block(major, minor) => Kind::BlockDev { major: *major, minor: *minor },
        };
        let mode = if matches!(self.what, What::Symlink(_)) { 0o777 } else { self.mode };
        Entry::new(&self.raw_path(), mode, kind)
    }
}

fn op() -> impl Strategy<Value = Op> {
    (
        prop::collection::vec(component(), 1..5),
        prop::collection::vec(any::<u8>(), 5),
        0u32..=0o7777,
        what(),
    )
        .prop_map(|(parts, spelling, mode, what)| Op { parts, spelling, mode, what })
}

/// What the archive must hold, worked out without `Tree`: keyed by components,
/// whose order (component by component) is the documented write order.
type Model = BTreeMap<Vec<String>, (u32, What)>;

/// The documented insert rules: no top-level `TRAILER!!!`; no non-directory ancestor; a directory over a
/// directory only changes its mode; a non-directory never replaces a directory;
/// missing parents become 0o755 directories.
fn model_insert(model: &mut Model, op: &Op) -> bool {
    let n = op.parts.len();
    if op.parts[0] == "TRAILER!!!" {
        return false; // the newc end marker (see tests/tree.rs)
    }
    for i in 1..n {
        if let Some((_, what)) = model.get(&op.parts[..i]) {
            if !matches!(what, What::Dir) {
                return false;
            }
        }
    }
    let mode = op.entry().mode;
    match (model.get_mut(&op.parts), &op.what) {
        (Some((m, What::Dir)), What::Dir) => {
            *m = mode;
            return true;
        }
        (Some((_, What::Dir)), _) => return false,
        _ => {}
    }
    for i in 1..n {
        model.entry(op.parts[..i].to_vec()).or_insert((0o755, What::Dir));
    }
    model.insert(op.parts.clone(), (mode, op.what.clone()));
    true
}

fn expected(model: &Model, mtime: u32) -> Vec<ReadEntry> {
    model
        .iter()
        .enumerate()
        .map(|(i, (parts, (mode, what)))| {
            let (kind, nlink, rdev, data) = match what {
                What::Dir => (0o040000, 2, (0, 0), vec![]),
                What::File(b) => (0o100000, 1, (0, 0), b.clone()),
                What::Symlink(t) => (0o120000, 1, (0, 0), t.as_bytes().to_vec()),
                What::Char(a, b) => (0o020000, 1, (*a, *b), vec![]),
                What::Block(a, b) => (0o060000, 1, (*a, *b), vec![]),
            };
            ReadEntry {
                name: parts.join("/"),
                mode: kind | mode,
                ino: i as u32 + 1,
                nlink,
                uid: 0,
                gid: 0,
                mtime,
                rdev_major: rdev.0,
                rdev_minor: rdev.1,
                data,
            }
        })
        .collect()
}

/// Builds the tree, checking every insert against the model.
fn build(ops: &[Op]) -> Result<(Tree, Model), TestCaseError> {
    let mut tree = Tree::new();
    let mut model = Model::new();
    for op in ops {
        let before = tree.len();
        let accepted = model_insert(&mut model, op);
        let result = tree.insert(op.entry());
        prop_assert_eq!(result.is_ok(), accepted, "{:?}: {:?}", op.raw_path(), result.err());
        if !accepted {
            prop_assert_eq!(tree.len(), before, "a failed insert changed the tree");
        }
    }
    Ok((tree, model))
}

proptest! {
    #![proptest_config(config(64))]

    /// Write then read back gives exactly the model's entries, in sorted order,
    /// with every header field as documented; writing again, or writing a tree
    /// built in the opposite order, gives the same bytes.
    #[test]
    fn newc_round_trip(ops in prop::collection::vec(op(), 0..24), mtime in any::<u32>()) {
        let (tree, model) = build(&ops)?;
        let archive = tree.write_newc(Vec::new(), mtime).unwrap();
        prop_assert_eq!(&archive[..6], b"070701");
        prop_assert_eq!(archive.len() % 4, 0);
        let read = read_newc(&archive).unwrap();
        prop_assert_eq!(&read, &expected(&model, mtime));
        for pair in read.windows(2) {
            prop_assert!(pair[0].name.replace('/', "\0") < pair[1].name.replace('/', "\0"));
        }

        prop_assert_eq!(&tree.write_newc(Vec::new(), mtime).unwrap(), &archive);
        let mut reversed = Tree::new();
        for entry in tree.iter().collect::<Vec<_>>().into_iter().rev() {
            reversed.insert(entry.clone()).unwrap();
        }
        prop_assert_eq!(&reversed.write_newc(Vec::new(), mtime).unwrap(), &archive);
    }

    /// `read_newc` returns an error, never panics, on damaged archives.
    #[test]
    fn newc_reader_survives_damage(
        ops in prop::collection::vec(op(), 0..6),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let (tree, _) = build(&ops)?;
        let mut archive = tree.write_newc(Vec::new(), 0).unwrap();
        for (at, byte, how) in edits {
            if archive.is_empty() {
                break;
            }
            let i = at.index(archive.len());
            match how {
                0 => archive[i] = byte,
                1 => archive.truncate(i),
                _ => { archive.remove(i); }
            }
        }
        match read_newc(&archive) {
            Ok(_) | Err(Error::Malformed { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }
}

fn xz_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2048),
        // Compressible: a few short chunks repeated.
        (prop::collection::vec(prop::collection::vec(any::<u8>(), 1..16), 1..4), 1usize..200)
            .prop_map(|(chunks, n)| chunks.concat().repeat(n)),
    ]
}

proptest! {
    #![proptest_config(config(16))]

    /// Every option set gives one CRC32 xz stream that decompresses to the input,
    /// the same bytes every time.
    #[test]
    fn xz_round_trip(input in xz_input(), bcj_x86 in any::<bool>(), preset in 0u32..=9) {
        let options = XzOptions { bcj_x86, preset };
        let xz = compress_xz_with(&input, options).unwrap();
        prop_assert_eq!(&xz[..8], b"\xfd7zXZ\0\0\x01");
        prop_assert_eq!(&decompress_xz(&xz).unwrap(), &input);
        // A single-stream decoder, as the kernel's: one stream, nothing after it.
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut xz2::read::XzDecoder::new(&xz[..]), &mut out).unwrap();
        prop_assert_eq!(&out, &input);
        prop_assert_eq!(&compress_xz_with(&input, options).unwrap(), &xz);
    }
}
