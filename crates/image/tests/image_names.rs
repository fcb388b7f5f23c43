//! Image names (issue 8, defect 10): `--image ../x` wrote outside `out/`, and the
//! spec's `name` key was ignored.

use kiln_image::{valid_name, Error, ImageSpec};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn names_are_one_plain_path_component() {
    let long = "a".repeat(64);
    for good in ["minimal", "demo", "a", "0", "x86_64-efi", "a-", "a_", "2nd", long.as_str()] {
        assert!(valid_name(good), "{good:?}");
    }
    let too_long = "a".repeat(65);
    for bad in [
        "", ".", "..", "../x", "../images/minimal", "x/y", "/abs", "Minimal", ".hidden", "-x", "_x",
        "a.b", "minimal.toml", "a b", "tab\t", "é", "a\0", "a\\b", too_long.as_str(),
    ] {
        assert!(!valid_name(bad), "{bad:?}");
    }
}

#[test]
fn invalid_names_are_rejected_before_any_file_is_read() {
    // `images/../images/minimal.toml` exists: it used to load, and the ISO went to
    // `out/../images/minimal.iso`.
    for name in ["../images/minimal", "../x", "Minimal", "minimal/", ""] {
        let err = ImageSpec::load(&repo(), name).unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{name:?}: {err}");
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("invalid image name {name:?}: ")), "{msg}");
        assert!(msg.contains("a-z, 0-9, - and _"), "{msg}");
        assert!(msg.contains("; available: ") && msg.contains("minimal"), "{msg}");
    }
}

/// A scratch project: the fragments the spec names, and `images/FILE.toml`.
fn project(file: &str, spec: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["images", "kernel", "busybox"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    std::fs::write(dir.path().join("kernel/base.config"), "").unwrap();
    std::fs::write(dir.path().join("busybox/kiln.config"), "").unwrap();
    std::fs::write(dir.path().join(format!("images/{file}.toml")), spec).unwrap();
    dir
}

const BODY: &str = "\n[kernel]\nfragments = [\"base\"]\n[busybox]\nfragments = [\"kiln\"]\n";

#[test]
fn name_key_must_be_the_file_name() {
    let ok = project("tiny", &format!("name = \"tiny\"{BODY}"));
    assert_eq!(ImageSpec::load(ok.path(), "tiny").unwrap().name, "tiny");

    let spec = format!("# A copy of tiny.toml.\n\ndescription = \"copy\"\nname = \"tiny\"{BODY}");
    let copy = project("tiny2", &spec);
    let err = ImageSpec::load(copy.path(), "tiny2").unwrap_err().to_string();
    assert_eq!(
        err,
        "images/tiny2.toml: line 4, key `name`: \"tiny\" is not the file's name; \
         set name = \"tiny2\" (or rename the file to images/tiny.toml)"
    );

    // A name that could not be a file name gets no rename hint.
    let odd = project("odd", &format!("name = 'My Image'{BODY}"));
    let err = ImageSpec::load(odd.path(), "odd").unwrap_err().to_string();
    assert_eq!(
        err,
        "images/odd.toml: line 1, key `name`: \"My Image\" is not the file's name; set name = \"odd\""
    );
}

#[test]
fn missing_name_key_names_the_file_and_key() {
    let dir = project("anon", &format!("description = \"x\"{BODY}"));
    let err = ImageSpec::load(dir.path(), "anon").unwrap_err().to_string();
    assert!(err.starts_with("images/anon.toml: ") && err.contains("`name`"), "{err}");
}
