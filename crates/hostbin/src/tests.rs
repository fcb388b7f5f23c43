//! Fixtures are built at test time with `cc` in a temporary directory.

use super::*;
use std::collections::BTreeMap;
use std::process::Command;

const INSTALL: &str = "apt-get install gcc libc6-dev";

fn have_cc() -> bool {
    kiln_util::host::require(&["cc"], &[], INSTALL)
}

/// The `$ORIGIN` fixture built in a fresh temporary directory (kept alive by the first
/// value): its canonical path and the program; `None` (a skip) without a C compiler,
/// which fails under CI.
fn rpath_fixture() -> Option<(tempfile::TempDir, std::path::PathBuf, std::path::PathBuf)> {
    if !have_cc() {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().canonicalize().unwrap();
    let app = fixture(&dir, true);
    Some((tmp, dir, app))
}

fn cc(dir: &Path, args: &[&str]) {
    let out = Command::new("cc").current_dir(dir).args(args).output().expect("running cc");
    assert!(out.status.success(), "cc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

/// Follows `path` through the closure's own entries as the guest kernel would
/// (symlinks, absolute or relative); returns the file entry it ends at.
fn lookup<'a>(entries: &'a BTreeMap<String, Kind>, path: &str) -> Option<&'a Kind> {
    let mut pending: Vec<String> = path.split('/').rev().filter(|c| !c.is_empty()).map(str::to_owned).collect();
    let mut current = String::new();
    for _ in 0..1000 {
        let Some(part) = pending.pop() else {
            return entries.get(&current);
        };
        if part == "." {
            continue;
        }
        if part == ".." {
            current.truncate(current.rfind('/').unwrap_or(0));
            continue;
        }
        let next = format!("{current}/{part}");
        match entries.get(&next) {
            Some(Kind::Symlink { target }) => {
                if target.starts_with('/') {
                    current.clear();
                }
                pending.extend(target.split('/').rev().filter(|c| !c.is_empty()).map(str::to_owned));
            }
            _ => current = next,
        }
    }
    None
}

fn map(c: &Closure) -> BTreeMap<String, Kind> {
    c.entries().into_iter().map(|e| (e.guest_path, e.kind)).collect()
}

/// `dir/bin/app` linked against `dir/bin/lib/libfix.so.1` (a link to `libfix.so.1.0`),
/// found through `$ORIGIN/lib`; `rpath` picks `DT_RUNPATH` or `DT_RPATH`.
fn fixture(dir: &Path, new_dtags: bool) -> PathBuf {
    let lib = dir.join("bin/lib");
    std::fs::create_dir_all(&lib).unwrap();
    write(dir, "fix.c", "int fix(void) { return 42; }\n");
    write(dir, "app.c", "int fix(void);\nint main(void) { return fix() == 42 ? 0 : 1; }\n");
    cc(dir, &["-shared", "-fPIC", "-Wl,-soname,libfix.so.1", "-o", "bin/lib/libfix.so.1.0", "fix.c"]);
    std::os::unix::fs::symlink("libfix.so.1.0", lib.join("libfix.so.1")).unwrap();
    let dtags = if new_dtags { "-Wl,--enable-new-dtags" } else { "-Wl,--disable-new-dtags" };
    cc(dir, &["-o", "bin/app", "app.c", "bin/lib/libfix.so.1.0", dtags, "-Wl,-rpath,$ORIGIN/lib"]);
    dir.join("bin/app")
}

fn interpreter(binary: &Path) -> String {
    elf::parse(&std::fs::read(binary).unwrap()).unwrap().interp.expect("a dynamically linked executable")
}

#[test]
fn closure_has_loader_libc_and_origin_library_with_symlinks_kept() {
    let Some((_tmp, dir, app)) = rpath_fixture() else { return };
    let mut c = Closure::new();
    c.add(&app).unwrap();
    let entries = map(&c);

    // The fixture program runs: the closure describes what its loader really opens.
    assert!(Command::new(&app).status().unwrap().success());
    assert!(matches!(&entries[&s(&app)], Kind::File { mode, .. } if mode & 0o111 != 0));
    // Its library: the version link kept as a link, next to the file it names.
    let lib = dir.join("bin/lib");
    assert_eq!(entries[&s(&lib.join("libfix.so.1"))], Kind::Symlink { target: "libfix.so.1.0".into() });
    assert!(matches!(&entries[&s(&lib.join("libfix.so.1.0"))], Kind::File { host_path, .. } if *host_path == lib.join("libfix.so.1.0")));
    // The interpreter and libc resolve, through the closure's own links, to files.
    let interp = interpreter(&app);
    assert!(matches!(lookup(&entries, &interp), Some(Kind::File { .. })), "{interp} in {entries:#?}");
    let libc = DEFAULT_DIRS.iter().map(|d| format!("{d}/libc.so.6")).find(|p| Path::new(p).exists()).unwrap();
    assert!(matches!(lookup(&entries, &libc), Some(Kind::File { .. })), "{libc} in {entries:#?}");
    // Every symlink the host has on those paths is an entry (e.g. /lib64 -> usr/lib64).
    for p in [&interp, &libc] {
        let mut at = PathBuf::from("/");
        for part in Path::new(p).components().skip(1) {
            at.push(part);
            if at.symlink_metadata().unwrap().file_type().is_symlink() {
                let target = std::fs::read_link(&at).unwrap();
                assert_eq!(entries.get(&s(&at)), Some(&Kind::Symlink { target: s(&target) }), "{}", at.display());
                break; // the rest of the path is below the link's target
            }
        }
    }
    // Files are at real paths, never below a symlink of the closure.
    for (path, kind) in &entries {
        if let Kind::File { host_path, .. } = kind {
            assert_eq!(Path::new(path), host_path.as_path());
            assert_eq!(host_path.canonicalize().unwrap(), *host_path);
        }
    }
    // The list is sorted and the helper gives the same.
    let list = c.entries();
    assert!(list.windows(2).all(|w| w[0].guest_path < w[1].guest_path));
    assert_eq!(closure(&[&app]).unwrap(), list);
    assert!(c.file_bytes().unwrap() > std::fs::metadata(&app).unwrap().len());
}

#[test]
fn rpath_is_inherited_but_runpath_is_not() {
    if !have_cc() {
        return;
    }
    // app -> libouter.so.1 (no search path of its own) -> libfix.so.1, both in bin/lib:
    // with DT_RPATH on app, ld.so finds libfix through app's path; with DT_RUNPATH not.
    for new_dtags in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().canonicalize().unwrap();
        fixture(&dir, new_dtags);
        write(&dir, "outer.c", "int fix(void);\nint outer(void) { return fix(); }\n");
        write(&dir, "app2.c", "int outer(void);\nint main(void) { return outer() == 42 ? 0 : 1; }\n");
        cc(&dir, &["-shared", "-fPIC", "-Wl,-soname,libouter.so.1", "-o", "bin/lib/libouter.so.1", "outer.c", "bin/lib/libfix.so.1.0"]);
        let dtags = if new_dtags { "-Wl,--enable-new-dtags" } else { "-Wl,--disable-new-dtags" };
        cc(&dir, &["-o", "bin/app2", "app2.c", "bin/lib/libouter.so.1", "-Wl,--allow-shlib-undefined", dtags, "-Wl,-rpath,$ORIGIN/lib"]);
        let app2 = dir.join("bin/app2");
        let runs = Command::new(&app2).output().unwrap().status.success();
        let result = Closure::new().add(&app2).map(|c| c.entries());
        assert_eq!(runs, !new_dtags, "the host's ld.so disagrees with the fixture's premise");
        match result {
            Ok(entries) => {
                assert!(!new_dtags);
                assert!(entries.iter().any(|e| e.guest_path == s(&dir.join("bin/lib/libfix.so.1.0"))));
            }
            Err(Error::MissingLibrary { library, needed_by, .. }) => {
                assert!(new_dtags);
                assert_eq!(library, "libfix.so.1");
                assert_eq!(needed_by, dir.join("bin/lib/libouter.so.1"));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn a_missing_library_names_the_binary_the_library_and_the_dirs() {
    let Some((_tmp, dir, app)) = rpath_fixture() else { return };
    std::fs::remove_file(dir.join("bin/lib/libfix.so.1")).unwrap();
    let err = Closure::new().add(&app).unwrap_err();
    let text = err.to_string();
    let Error::MissingLibrary { binary, needed_by, library, searched } = &err else { panic!("{text}") };
    assert_eq!((binary, needed_by, library.as_str()), (&app, &app, "libfix.so.1"));
    assert_eq!(searched[0], dir.join("bin/lib"), "$ORIGIN/lib first");
    assert_eq!(searched[1..], DEFAULT_DIRS.iter().map(PathBuf::from).collect::<Vec<_>>()[..]);
    for part in [s(&app), "libfix.so.1".into(), s(&dir.join("bin/lib")), "/usr/lib/x86_64-linux-gnu".into()] {
        assert!(text.contains(&part), "{part} not in: {text}");
    }
}

#[test]
fn a_static_binary_is_just_itself() {
    if !kiln_util::host::require(&["cc"], &["/usr/lib/x86_64-linux-gnu/libc.a"], INSTALL) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().canonicalize().unwrap();
    write(&dir, "st.c", "int main(void) { return 0; }\n");
    cc(&dir, &["-static", "-o", "st", "st.c"]);
    let entries = closure(&[dir.join("st")]).unwrap();
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0].guest_path, s(&dir.join("st")));
    assert!(matches!(&entries[0].kind, Kind::File { host_path, mode } if *host_path == dir.join("st") && mode & 0o111 != 0));
}

#[test]
fn links_to_the_binary_are_kept_and_a_non_elf_file_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().canonicalize().unwrap();
    write(&dir, "script", "#!/bin/sh\n");
    std::os::unix::fs::symlink("script", dir.join("alias")).unwrap();
    let err = Closure::new().add(dir.join("alias")).unwrap_err();
    assert!(matches!(&err, Error::Elf { message, .. } if message == "not an ELF file"), "{err}");
    assert!(err.to_string().contains("alias"), "{err}");

    std::os::unix::fs::symlink("loop", dir.join("loop")).unwrap();
    assert!(matches!(Closure::new().add(dir.join("loop")), Err(Error::SymlinkLoop { .. })));
}

#[test]
fn explicit_symlinks_conflict_with_files_only_when_they_differ() {
    let mut c = Closure::new();
    c.add_symlink("/usr/sbin/iptables", "xtables-legacy-multi").unwrap();
    c.add_symlink("/usr/sbin/iptables", "xtables-legacy-multi").unwrap();
    let err = c.add_symlink("/usr/sbin/iptables", "xtables-nft-multi").unwrap_err();
    assert!(err.to_string().contains("/usr/sbin/iptables"), "{err}");
    assert!(matches!(c.add_symlink("usr/sbin/x", "y"), Err(Error::BadPath { .. })));
}

#[test]
fn insert_into_makes_parents_and_never_replaces() {
    let Some((_tmp, dir, app)) = rpath_fixture() else { return };
    let mut c = Closure::new();
    c.add(&app).unwrap().add_symlink("/usr/sbin/app", &s(&app)).unwrap();

    let mut tree = Tree::new();
    c.insert_into(&mut tree).unwrap();
    c.insert_into(&mut tree).unwrap(); // the same entries again: nothing to do
    for e in c.entries() {
        let got = tree.get(&e.guest_path).unwrap_or_else(|| panic!("{} not in the tree", e.guest_path));
        match e.kind {
            Kind::File { host_path, mode } => {
                assert_eq!(got.kind, kiln_initramfs::Kind::File(Data::Path(host_path)));
                assert_eq!(got.mode, mode);
            }
            Kind::Symlink { target } => assert_eq!(got.kind, kiln_initramfs::Kind::Symlink(target)),
        }
    }
    assert!(tree.get(&s(&dir.join("bin"))).unwrap().is_dir());
    // The tree writes (every file readable, every parent a directory).
    tree.write_newc(Vec::new(), 0).unwrap();

    let mut other = Tree::new();
    other.file("usr/sbin/app", 0o755, Data::Bytes(b"mine".to_vec())).unwrap();
    let err = c.insert_into(&mut other).unwrap_err();
    assert!(matches!(&err, Error::TreeConflict { guest_path, .. } if guest_path == "/usr/sbin/app"), "{err}");
    assert_eq!(other.get("usr/sbin/app").unwrap().kind, kiln_initramfs::Kind::File(Data::Bytes(b"mine".to_vec())));
}

#[test]
fn the_container_os_closure_has_plugins_iptables_and_extensions() {
    let mut files: Vec<String> = CNI_PLUGINS.iter().map(|p| format!("{CNI_DIR}/{p}")).collect();
    files.push(XTABLES_LEGACY_MULTI.into());
    files.extend(XTABLES_EXTENSIONS.iter().map(|e| format!("{XTABLES_DIR}/{e}")));
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    if !kiln_util::host::require(&[], &refs, "apt-get install containernetworking-plugins iptables") {
        return;
    }
    let c = container_os().unwrap();
    let entries = map(&c);
    assert_eq!(entries[IPTABLES], Kind::Symlink { target: "xtables-legacy-multi".into() });
    for f in &files {
        assert!(matches!(lookup(&entries, f), Some(Kind::File { .. })), "{f}");
    }
    for lib in ["libxtables.so.12", "libip4tc.so.2", "libip6tc.so.2", "libc.so.6"] {
        let p = format!("/lib/x86_64-linux-gnu/{lib}");
        assert!(matches!(lookup(&entries, &p), Some(Kind::File { .. })), "{p}");
    }
    assert!(matches!(lookup(&entries, IPTABLES), Some(Kind::File { host_path, .. }) if host_path == Path::new(XTABLES_LEGACY_MULTI)));
}

/// Whether this process runs as root (chroot needs it); outside CI a test may skip.
fn root_or_skip() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1).map(str::to_owned));
    if euid.as_deref() == Some("0") {
        return true;
    }
    assert!(!kiln_util::host::in_ci(), "under CI this test must run as root (chroot)");
    eprintln!("skipped: chroot needs root");
    false
}

/// Copies the closure into `root` as the guest will have it.
fn materialize(c: &Closure, root: &Path) {
    for e in c.entries() {
        let at = root.join(e.guest_path.trim_start_matches('/'));
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        match e.kind {
            Kind::File { host_path, mode } => {
                std::fs::copy(&host_path, &at).unwrap();
                std::fs::set_permissions(&at, std::fs::Permissions::from_mode(mode)).unwrap();
            }
            Kind::Symlink { target } => std::os::unix::fs::symlink(target, &at).unwrap(),
        }
    }
}

/// The closure alone is a root the binaries run in: no /etc/ld.so.cache, nothing else.
/// iptables must answer as the legacy backend through its `iptables` link (argv[0]
/// dispatch) and load every extension; a plugin must answer CNI's VERSION command.
#[test]
fn the_container_os_closure_runs_in_a_chroot_of_its_own() {
    let needed: Vec<String> =
        CNI_PLUGINS.iter().map(|p| format!("{CNI_DIR}/{p}")).chain([XTABLES_LEGACY_MULTI.to_string()]).collect();
    let refs: Vec<&str> = needed.iter().map(String::as_str).collect();
    if !kiln_util::host::require(&["chroot"], &refs, "apt-get install coreutils containernetworking-plugins iptables") || !root_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    materialize(&container_os().unwrap(), root);
    assert!(!root.join("etc").exists());
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new("chroot").arg(root).args(args).envs(env.iter().copied()).stdin(std::process::Stdio::null()).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{args:?}: {text}");
        text
    };
    let version = run(&[IPTABLES, "-V"], &[]);
    assert!(version.starts_with("iptables v") && version.contains("(legacy)"), "{version}");
    // `-h` after -m/-j loads each extension and prints its options, without the kernel.
    let help = run(
        &[IPTABLES, "-p", "tcp", "-m", "comment", "-m", "addrtype", "-m", "multiport", "-m", "mark", "-m", "udp", "-j", "MARK", "-h"],
        &[],
    );
    for part in ["comment match options", "Address type match options", "multiport match options", "mark match options", "udp match options", "MARK target options"] {
        assert!(help.contains(part), "{part} not in {help}");
    }
    for target in ["MASQUERADE", "DNAT"] {
        let help = run(&[IPTABLES, "-t", "nat", "-j", target, "-h"], &[]);
        assert!(help.contains(&format!("{target} target options")), "{help}");
    }
    for plugin in CNI_PLUGINS {
        let out = run(&[&format!("{CNI_DIR}/{plugin}")], &[("CNI_COMMAND", "VERSION")]);
        assert!(out.contains("supportedVersions"), "{plugin}: {out}");
    }
}
