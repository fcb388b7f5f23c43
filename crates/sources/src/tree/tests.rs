use super::*;
use crate::hash::sha256_file;
use crate::spec::Provider;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A `.tar.xz` with `pkg-1.0/README` in `dir`, and its sha256.
fn tarball(dir: &Path) -> (PathBuf, String) {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(6);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, "pkg-1.0/README", &b"readme"[..]).unwrap();
    let mut xz = Vec::new();
    xz2::read::XzEncoder::new(&builder.into_inner().unwrap()[..], 1).read_to_end(&mut xz).unwrap();
    let path = dir.join("pkg-1.0.tar.xz");
    std::fs::write(&path, xz).unwrap();
    let sha = sha256_file(&path).unwrap();
    (path, sha)
}

fn fetched(path: &Path, sha: &str) -> Result<Fetched> {
    Ok(Fetched { path: path.to_owned(), sha256: sha.to_string(), how: "cached", failed: Vec::new() })
}

/// Issue 8, defect 1: `unpacked()` checked for the tree and extracted it without a lock,
/// so a second run re-extracted over the tree the first one was compiling in. Now the
/// second waits for the first one's extraction and uses the same tree.
#[test]
fn two_runs_unpacking_one_source_at_once_extract_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, sha) = tarball(dir.path());
    let trees = dir.path().join("src");
    let fetches = AtomicUsize::new(0);
    let run = |me: &str| -> Result<String, String> {
        let tree = unpacked(&trees, "pkg", &sha, || {
            fetches.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300)); // a slow download
            fetched(&archive, &sha)
        })
        .map_err(|e| e.to_string())?;
        // Build in the tree for a while: nobody may replace it meanwhile.
        let obj = tree.dir.join(format!("{me}.o"));
        std::fs::write(&obj, me).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        std::fs::read_to_string(&obj).map_err(|e| format!("{me}'s tree was replaced: {e}"))
    };
    std::thread::scope(|s| {
        let a = s.spawn(|| run("a"));
        std::thread::sleep(Duration::from_millis(50));
        let b = s.spawn(|| run("b"));
        assert_eq!(a.join().unwrap(), Ok("a".to_string()));
        assert_eq!(b.join().unwrap(), Ok("b".to_string()));
    });
    assert_eq!(fetches.into_inner(), 1, "extracted once");
}

/// Issue 8, defect 9: an interrupted extraction left `src/.extract-PID` (1.4 GB for
/// Linux) forever. The next extraction removes what dead runs left.
#[test]
fn extractions_left_by_dead_runs_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, sha) = tarball(dir.path());
    let trees = dir.path().join("src");
    let name = format!("pkg-{}", &sha[..16]);
    let ours = trees.join(format!(".{name}.extract-{}", std::process::id() + 1));
    let legacy = trees.join(format!(".extract-{}", kiln_util::stale::dead_pid()));
    let other_live = trees.join(format!(".extract-{}", std::process::id()));
    for d in [&ours, &legacy, &other_live] {
        std::fs::create_dir_all(d.join("linux/drivers")).unwrap();
    }
    let tree = unpacked(&trees, "pkg", &sha, || fetched(&archive, &sha)).unwrap();
    assert_eq!(std::fs::read(tree.dir.join("README")).unwrap(), b"readme");
    assert!(!ours.exists(), "ours: we hold its lock, so it is a dead run's");
    assert!(!legacy.exists(), "its process is gone");
    assert!(other_live.exists(), "its process still runs");
}

#[test]
fn a_tree_that_is_there_needs_no_fetch_and_the_pin_reads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, sha) = tarball(dir.path());
    let source = Source { version: "1.0".into(), providers: vec![Provider::Url { url: "https://nowhere.invalid/pkg-1.0.tar.xz".into(), sha256: sha.to_uppercase() }] };
    // A fetcher whose cache is empty and whose network fails: any fetch is an error.
    let fetcher = Fetcher::new(dir.path().join("downloads")).with_stall_timeout(Duration::from_secs(1));
    let pinned = Pinned::new(&fetcher, "pkg", &source, &dir.path().join("src"));
    assert_eq!(pinned.sha256(), sha, "the pin, lowercase, without reading anything");
    assert!(!dir.path().join("downloads").exists());
    drop(unpacked(&dir.path().join("src"), "pkg", &sha, || fetched(&archive, &sha)).unwrap());
    let tree = pinned.unpack().unwrap();
    assert_eq!(tree.sha256, sha);
    assert!(tree.dir.join("README").exists());
}

#[test]
fn a_tarball_not_matching_the_pin_is_not_extracted() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = tarball(dir.path());
    let pin = "ab".repeat(32);
    let trees = dir.path().join("src");
    let err = unpacked(&trees, "pkg", &pin, || fetched(&archive, &pin)).unwrap_err().to_string();
    assert!(err.contains(&pin), "{err}");
    assert!(!trees.join(format!("pkg-{}", &pin[..16])).exists());
}

#[test]
fn leftovers_of_dead_runs_are_found_without_a_build() {
    let dir = tempfile::tempdir().unwrap();
    let (trees, downloads) = (dir.path().join("src"), dir.path().join("downloads"));
    let dead = kiln_util::stale::dead_pid();
    let me = std::process::id();
    let gone = [
        trees.join(format!(".linux-585a4a074597aefa.extract-{dead}")),
        trees.join(format!(".extract-{dead}")),
        downloads.join(format!("linux-6.12.117/.tmp-{dead}")),
    ];
    let kept = [
        trees.join(format!(".linux-585a4a074597aefa.extract-{me}")),
        trees.join("linux-585a4a074597aefa"),
        downloads.join(format!("linux-6.12.117/.tmp-{me}")),
    ];
    for d in gone.iter().chain(&kept) {
        std::fs::create_dir_all(d.join("x")).unwrap();
    }
    let mut removed = remove_leftovers(&trees, &downloads);
    removed.sort();
    let mut want = gone.to_vec();
    want.sort();
    assert_eq!(removed, want);
    assert!(kept.iter().all(|k| k.exists()));
}
