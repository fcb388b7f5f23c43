use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

#[test]
fn key_depends_on_every_part_and_its_boundaries() {
    let k = |parts: &[&str]| {
        let mut k = Key::new("step");
        for p in parts {
            k.add(p);
        }
        k.finish()
    };
    assert_eq!(k(&["a", "b"]), k(&["a", "b"]));
    assert_ne!(k(&["ab", "c"]), k(&["a", "bc"]));
    assert_ne!(k(&["a"]), k(&["b"]));
    assert_ne!(Key::new("kernel").short(), Key::new("busybox").short());
    assert_eq!(Key::new("x").short().len(), 16);
}

/// A finished build, made without pruning (which `claim` and `mark_done` do).
fn build(b: &BuildDir, key: &Key, out: &Path) -> Lock {
    std::fs::create_dir_all(&b.dir).unwrap();
    std::fs::write(out, b"built").unwrap();
    std::fs::write(&b.done, key.finish()).unwrap();
    Lock::acquire(&b.lock_path(), Mode::Shared).unwrap()
}

#[test]
fn build_dir_is_reused_only_when_done() {
    let root = tempfile::tempdir().unwrap();
    let key = Key::new("k");
    let b = BuildDir::new(root.path(), "linux", &key);
    let out = b.dir.join("bzImage");
    let Claim::Build(lock) = b.claim(&[&out]).unwrap() else { panic!("empty cache") };
    std::fs::write(&out, b"half").unwrap();
    drop(lock); // interrupted: no marker
    let Claim::Build(mut lock) = b.claim(&[&out]).unwrap() else { panic!("no marker: an interrupted build") };
    assert!(!out.exists(), "the interrupted build's tree is emptied");
    std::fs::write(&out, b"whole").unwrap();
    b.mark_done(&key, &mut lock).unwrap();
    drop(lock);
    assert!(matches!(b.claim(&[&out]).unwrap(), Claim::Done(_)));
    std::fs::remove_file(&out).unwrap();
    assert!(matches!(b.claim(&[&out]).unwrap(), Claim::Build(_)), "an output is missing");
}

/// Issue 8, defect 1: two runs that miss the same build at once used to delete each
/// other's tree. Now the second waits for the first and reuses its build.
#[test]
fn two_runs_building_one_step_at_once_both_succeed() {
    let root = tempfile::tempdir().unwrap();
    let key = Key::new("bb");
    let builds = AtomicUsize::new(0);
    let run = |me: &str| -> Result<Vec<u8>, String> {
        let b = BuildDir::new(root.path(), "busybox", &key);
        let out = b.dir.join("busybox");
        match b.claim(&[&out]).map_err(|e| e.to_string())? {
            Claim::Done(_lock) => std::fs::read(&out).map_err(|e| e.to_string()),
            Claim::Build(mut lock) => {
                builds.fetch_add(1, Ordering::SeqCst);
                std::fs::write(b.dir.join("busybox.o"), me).unwrap();
                std::thread::sleep(Duration::from_millis(300));
                let obj = std::fs::read_to_string(b.dir.join("busybox.o")).map_err(|e| format!("tree deleted under the build: {e}"))?;
                if obj != me {
                    return Err(format!("{me}'s tree was reset under it"));
                }
                std::fs::write(&out, b"obj").map_err(|e| e.to_string())?;
                b.mark_done(&key, &mut lock).map_err(|e| e.to_string())?;
                std::fs::read(&out).map_err(|e| e.to_string())
            }
        }
    };
    std::thread::scope(|s| {
        let a = s.spawn(|| run("a"));
        std::thread::sleep(Duration::from_millis(50));
        let b = s.spawn(|| run("b"));
        assert_eq!(a.join().unwrap(), Ok(b"obj".to_vec()));
        assert_eq!(b.join().unwrap(), Ok(b"obj".to_vec()));
    });
    assert_eq!(builds.into_inner(), 1, "the second run waits and reuses the first one's build");
}

fn set_used(b: &BuildDir, t: SystemTime) {
    std::fs::File::options().write(true).open(&b.done).unwrap().set_modified(t).unwrap();
}

#[test]
fn prune_keeps_the_most_recently_used_finished_builds_of_one_step() {
    let root = tempfile::tempdir().unwrap();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let mut dirs = Vec::new();
    for i in 0..4u64 {
        let key = Key::new(&i.to_string());
        let b = BuildDir::new(root.path(), "linux", &key);
        drop(build(&b, &key, &b.dir.join("bzImage")));
        set_used(&b, t0 + Duration::from_secs(i));
        dirs.push(b);
    }
    let other_step = BuildDir::new(root.path(), "linux-headers", &Key::new("h"));
    drop(build(&other_step, &Key::new("h"), &other_step.dir.join("x")));
    // Used again now: the oldest build becomes the newest, and the hit keeps the
    // KEEP_BUILDS (3) most recently used: 0, 3, 2.
    let hit = dirs[0].claim(&[]).unwrap();
    assert!(matches!(hit, Claim::Done(_)));
    drop(hit);
    assert!(!dirs[1].dir.exists(), "beyond the three most recently used");
    assert!(!dirs[1].lock_path().exists(), "the lock file goes with its build");

    assert_eq!(prune(root.path(), "linux", 2).unwrap(), vec![dirs[2].dir.clone()]);
    for kept in [&dirs[0].dir, &dirs[3].dir, &other_step.dir] {
        assert!(kept.exists(), "{}", kept.display());
    }
}

/// Issue 8, defects 1 and 9: prune never deletes a build another run holds, and deletes
/// the trees of failed builds that nobody holds.
#[test]
fn prune_skips_held_builds_and_removes_abandoned_unfinished_ones() {
    let root = tempfile::tempdir().unwrap();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let old_key = Key::new("old");
    let old = BuildDir::new(root.path(), "busybox", &old_key);
    let in_use = build(&old, &old_key, &old.dir.join("busybox"));
    set_used(&old, t0);
    let building = BuildDir::new(root.path(), "busybox", &Key::new("building"));
    let Claim::Build(building_lock) = building.claim(&[]).unwrap() else { panic!() };
    let failed = BuildDir::new(root.path(), "busybox", &Key::new("failed"));
    let Claim::Build(lock) = failed.claim(&[]).unwrap() else { panic!() };
    std::fs::write(failed.dir.join("half.o"), b"x").unwrap();
    drop(lock); // the build failed: no marker, nobody holds it

    assert_eq!(prune(root.path(), "busybox", 0).unwrap(), vec![failed.dir.clone()]);
    assert!(old.dir.exists(), "held shared by a run using it");
    assert!(building.dir.exists(), "held by a run building it");
    drop((in_use, building_lock));
    assert_eq!(prune(root.path(), "busybox", 0).unwrap().len(), 2);
}

/// Issue 8, defect 9: a failed build's tree (no marker) is deleted by the next build of
/// the same step, once nobody holds it.
#[test]
fn the_next_build_of_a_step_removes_failed_trees() {
    let root = tempfile::tempdir().unwrap();
    let failed = BuildDir::new(root.path(), "linux", &Key::new("typo in a fragment"));
    let Claim::Build(lock) = failed.claim(&[]).unwrap() else { panic!() };
    std::fs::write(failed.dir.join("vmlinux.o"), b"115 MB").unwrap();
    drop(lock);
    let next = BuildDir::new(root.path(), "linux", &Key::new("fixed"));
    let Claim::Build(_lock) = next.claim(&[]).unwrap() else { panic!() };
    assert!(!failed.dir.exists() && !failed.lock_path().exists());
}

#[test]
fn a_run_that_builds_nothing_removes_failed_trees_too() {
    let root = tempfile::tempdir().unwrap();
    let key = Key::new("cached");
    let cached = BuildDir::new(root.path(), "linux", &key);
    drop(build(&cached, &key, &cached.dir.join("bzImage")));
    let failed = BuildDir::new(root.path(), "linux", &Key::new("failed"));
    std::fs::create_dir_all(failed.dir.join("arch")).unwrap();
    assert!(matches!(cached.claim(&[]).unwrap(), Claim::Done(_)));
    assert!(!failed.dir.exists());
}
