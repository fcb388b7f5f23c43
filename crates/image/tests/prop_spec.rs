//! Property tests of `ImageSpec::parse`: arbitrary text, and arbitrary edits of the
//! repository's specs, never panic; every error names the file; whatever parses
//! satisfies the checks `parse` promises.
//!
//! The defaults keep `cargo test` fast; set `PROPTEST_CASES=20000` for a long run
//! (see ARCHITECTURE.md, "Testing").

use kiln_image::{Error, ImageSpec};
use proptest::prelude::*;

const SHOWN: &str = "images/fuzz.toml";

/// `cases` unless `PROPTEST_CASES` is set (the long runs).
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

fn repo_spec(name: &str) -> String {
    let path = format!("{}/../../images/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

/// TOML syntax, edge values and spec keys, to splice into a spec.
const SNIPPETS: &[&str] = &[
    "[", "]", "[[", "]]", "{", "}", "=", "\"", "'", "'''", "\"\"\"", ",", ".", "#", "\n", "\r\n",
    "\\", "\\u0000", "\\uD800", "\t", "\u{0}", "\u{feff}", "é",
    "-1", "0", "1", "2", "18446744073709551615", "18446744073709551616", "9223372036854775807",
    "-9223372036854775808", "1e999", "nan", "-inf", "0x10", "1_0", "true", "\"\"", "\"x\"",
    "[]", "{}", "[1, \"a\"]", "1979-05-27T07:32:00Z", "\"KILN\"", "\"slim\"", "\"mkrescue\"",
    "\"defconfig\"", "\"always\"", "\"on-failure\"",
    "[iso]", "[[iso.entry]]", "[iso.budget]", "[init]", "[[init.services]]", "[[init.onboot]]",
    "[[init.mounts]]", "[kernel]", "[busybox]", "name = \"x\"", "name = \"../x\"", "default = 99",
    "entry = []", "label = \"\"", "label = \"a b\"", "timeout = -1", "total_bytes = 0",
    "command = []", "command = [\"/bin/sh\"]", "args = \"console=ttyS0\"", "a.b.c = 1",
    "restart = \"never\"", "fragments = []", "base = \"tinyconfig\"", "layout = \"huge\"",
    "hostname = \"h\"", "env = { A = \"1\" }", "source = \"s\"", "target = \"/t\"",
    "fstype = \"tmpfs\"", "shell = [\"/bin/sh\"]",
];

#[derive(Debug, Clone)]
enum Edit {
    /// Delete up to `len` characters at a position.
    Delete(prop::sample::Index, usize),
    /// Insert a snippet (or any short string) at a position.
    Insert(prop::sample::Index, String),
    /// Replace what follows the `=` of a line.
    Value(prop::sample::Index, String),
    /// Duplicate a line, or move it elsewhere.
    CopyLine(prop::sample::Index, prop::sample::Index, bool),
}

fn snippet() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(SNIPPETS).prop_map(String::from),
        1 => any::<String>(),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<prop::sample::Index>(), 1usize..40).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<prop::sample::Index>(), snippet()).prop_map(|(i, s)| Edit::Insert(i, s)),
        (any::<prop::sample::Index>(), snippet()).prop_map(|(i, s)| Edit::Value(i, s)),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<bool>())
            .prop_map(|(a, b, mv)| Edit::CopyLine(a, b, mv)),
    ]
}

/// The nearest char boundary at or below an index into `text`.
fn boundary(text: &str, i: &prop::sample::Index) -> usize {
    let mut at = i.index(text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &mut String, edit: &Edit) {
    match edit {
        Edit::Delete(i, n) => {
            let at = boundary(text, i);
            let end = text[at..].char_indices().nth(*n).map_or(text.len(), |(j, _)| at + j);
            text.replace_range(at..end, "");
        }
        Edit::Insert(i, s) => {
            let at = boundary(text, i);
            text.insert_str(at, s);
        }
        Edit::Value(i, s) => {
            let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
            let n = i.index(lines.len());
            let line = &mut lines[n];
            if let Some(eq) = line.find('=') {
                line.replace_range(eq + 1.., &format!(" {s}"));
            }
            *text = lines.join("\n");
        }
        Edit::CopyLine(from, to, mv) => {
            let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
            let from = from.index(lines.len());
            let line = if *mv { lines.remove(from) } else { lines[from].clone() };
            lines.insert(to.index(lines.len() + 1), line);
            *text = lines.join("\n");
        }
    }
}

/// What every outcome of `parse` must satisfy.
fn check(text: &str) -> Result<(), TestCaseError> {
    match ImageSpec::parse(SHOWN, text) {
        Ok(spec) => {
            let iso = &spec.iso;
            prop_assert!(iso.default < iso.entries.len());
            prop_assert!((1..=32).contains(&iso.label.len()));
            prop_assert!(iso.label.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'));
            for entry in &iso.entries {
                let _ = spec.cmdline(entry);
            }
            let _ = iso.budget.check(u64::MAX, 0);
            // What the spec accepts, kiln-init accepts: init.conf is read without errors.
            prop_assert_eq!(spec.init_config().check(), Ok(()), "{:?}", spec.init);
        }
        Err(Error::Spec { path, message }) => {
            prop_assert_eq!(path, SHOWN);
            prop_assert!(!message.is_empty());
        }
        Err(other) => prop_assert!(false, "not a spec error: {other}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    /// Arbitrary text, and soups of spec-like lines.
    #[test]
    fn parse_never_panics_on_text(text in prop_oneof![
        any::<String>(),
        prop::collection::vec(snippet(), 0..24).prop_map(|v| v.join(" ")),
        prop::collection::vec(snippet(), 0..24).prop_map(|v| v.join("\n")),
    ]) {
        check(&text)?;
    }

    /// A few edits of a real spec (minimal.toml, or demo.toml with its [init] part).
    #[test]
    fn parse_never_panics_on_edited_specs(
        demo in any::<bool>(),
        edits in prop::collection::vec(edit(), 1..5),
    ) {
        let mut text = repo_spec(if demo { "demo" } else { "minimal" });
        for e in &edits {
            apply(&mut text, e);
        }
        check(&text)?;
    }
}

#[test]
fn the_unedited_specs_parse() {
    for name in ["minimal", "demo"] {
        ImageSpec::parse(SHOWN, &repo_spec(name)).unwrap();
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for (open, close) in [("[", "]"), ("{a=", "}")] {
        let text = format!("name = \"x\"\nv = {}1{}\n", open.repeat(100_000), close.repeat(100_000));
        let err = ImageSpec::parse(SHOWN, &text).unwrap_err().to_string();
        assert!(err.starts_with("images/fuzz.toml: "), "{err}");
    }
}

/// Found by `parse_never_panics_on_edited_specs` once it also asked that kiln-init
/// read back what the spec accepts: `[init]` values that init.conf cannot carry were
/// accepted, and kiln-init then skipped them at boot, or, with a newline in a value,
/// read the rest as more lines (`env = { A = "x\nhostname evil\n#" }` set the
/// hostname). Each is now an error naming the file, the line and the init key.
#[test]
fn init_values_kiln_init_would_not_read_back_are_errors() {
    let base = "name = \"x\"\n[kernel]\nfragments = []\n[busybox]\nfragments = []\n[init]\n";
    for (init, says) in [
        ("env = { A = \"x\\nhostname evil\\n#\" }", "newline"),
        ("env = { \"A-B\" = \"1\" }", "'A-B'"),
        ("env = 1979-05-27T07:32:00Z", "environment variable name"),
        ("hostname = \"a/b\"", "hostname"),
        ("shell = []", "shell"),
        ("[[init.mounts]]\nsource = \"s\"\ntarget = \"mnt\"\nfstype = \"tmpfs\"", "absolute"),
        ("[[init.onboot]]\nname = \"a\"\ncommand = [\"echo\", \"two\\nlines\"]", "newline"),
    ] {
        let err = ImageSpec::parse(SHOWN, &format!("{base}{init}\n")).unwrap_err().to_string();
        assert!(err.starts_with("images/fuzz.toml: ") && err.contains("init") && err.contains(says), "{init}: {err}");
    }
}
