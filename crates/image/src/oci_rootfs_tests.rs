use super::*;
use kiln_init::config::Config;

fn image(cmd: &[&str]) -> ImageConfig {
    ImageConfig {
        env: vec!["PATH=/usr/bin:/bin".into(), "GREETING=hi there".into(), "INHERITED".into()],
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        ..ImageConfig::default()
    }
}

fn files() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (bb, init) = (dir.path().join("busybox"), dir.path().join("init"));
    std::fs::write(&bb, b"bb").unwrap();
    std::fs::write(&init, b"init").unwrap();
    (dir, bb, init)
}

fn image_tree() -> Tree {
    let mut t = Tree::new();
    t.dir("bin", 0o755).unwrap();
    t.file("bin/app", 0o755, Data::Bytes(b"app".to_vec())).unwrap();
    t.file("etc/motd", 0o600, Data::Bytes(b"image's own".to_vec())).unwrap();
    t
}

#[test]
fn merge_adds_init_conf_devices_and_mount_points_without_touching_the_image() {
    let (_d, _bb, init) = files();
    let img = image(&["/bin/app", "--flag"]);
    let base = Config { hostname: Some("box".into()), ..Config::default() };
    let (t, c) = oci_rootfs(OciInputs { tree: image_tree(), image: &img, base: &base, run: RunMode::Console, busybox: None, init: &init }).unwrap();
    assert!(matches!(t.get("dev/console").unwrap().kind, Kind::CharDev { major: 5, minor: 1 }));
    assert!(matches!(t.get("dev/null").unwrap().kind, Kind::CharDev { major: 1, minor: 3 }));
    assert!(matches!(&t.get("init").unwrap().kind, Kind::File(Data::Path(p)) if *p == init));
    for dir in ["proc", "sys", "run", "tmp", "var/log", "etc/kiln"] {
        assert!(t.get(dir).unwrap().is_dir(), "{dir}");
    }
    assert_eq!(t.get("tmp").unwrap().mode, 0o1777);
    assert!(matches!(&t.get("etc/motd").unwrap().kind, Kind::File(Data::Bytes(b)) if b == b"image's own"));
    assert_eq!(t.get("etc/motd").unwrap().mode, 0o600);
    assert!(t.get("kiln").is_none(), "no BusyBox unless asked");
    assert_eq!(c.shell, Some(vec!["/bin/app".to_string(), "--flag".into()]));
    assert_eq!(c.hostname.as_deref(), Some("box"));
    let conf = match &t.get("etc/kiln/init.conf").unwrap().kind {
        Kind::File(Data::Bytes(b)) => String::from_utf8(b.clone()).unwrap(),
        k => panic!("{k:?}"),
    };
    let (back, errors) = Config::parse(&conf);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(back, c);
    assert!(conf.contains("env PATH=/usr/bin:/bin") && conf.contains("env \"GREETING=hi there\""), "{conf}");
    assert!(!conf.contains("INHERITED"), "{conf}");
}

#[test]
fn image_files_where_kiln_puts_its_own_are_errors_naming_them() {
    let (_d, bb, init) = files();
    let img = image(&["/bin/app"]);
    let base = Config::default();
    let applets = vec!["bin/sh".to_string()];
    for (path, named) in [("init", "/init"), ("etc/kiln/init.conf", "/etc/kiln/init.conf"), ("kiln/bin/sh", "/kiln")] {
        let mut t = image_tree();
        t.file(path, 0o755, Data::Bytes(b"x".to_vec())).unwrap();
        let e = oci_rootfs(OciInputs { tree: t, image: &img, base: &base, run: RunMode::Console, busybox: Some((&bb, &applets)), init: &init });
        let e = e.unwrap_err().to_string();
        assert!(e.contains(&format!("has its own {named}")), "{e}");
    }
    let mut t = image_tree();
    t.file("dev/console", 0o600, Data::Bytes(vec![])).unwrap();
    let e = oci_rootfs(OciInputs { tree: t, image: &img, base: &base, run: RunMode::Console, busybox: None, init: &init }).unwrap_err();
    assert!(e.to_string().contains("/dev/console is not the character device 5,1"), "{e}");
    let mut t = image_tree();
    t.symlink("tmp", "/var/tmp").unwrap();
    let e = oci_rootfs(OciInputs { tree: t, image: &img, base: &base, run: RunMode::Console, busybox: None, init: &init }).unwrap_err();
    assert!(e.to_string().contains("/tmp is not a directory"), "{e}");
    // The image's own device node is kept when it is the right one.
    let mut t = image_tree();
    t.char_dev("dev/null", 0o666, 1, 3).unwrap();
    assert!(oci_rootfs(OciInputs { tree: t, image: &img, base: &base, run: RunMode::Console, busybox: None, init: &init }).is_ok());
}

#[test]
fn busybox_goes_to_its_own_directory_and_path() {
    let (_d, bb, init) = files();
    let img = image(&["/bin/app"]);
    let applets = vec!["bin/sh".to_string(), "bin/busybox".to_string(), "usr/sbin/chroot".to_string(), "sbin/poweroff".to_string()];
    let (t, c) = oci_rootfs(OciInputs { tree: image_tree(), image: &img, base: &Config::default(), run: RunMode::Service, busybox: Some((&bb, &applets)), init: &init }).unwrap();
    assert!(matches!(&t.get("kiln/bin/busybox").unwrap().kind, Kind::File(Data::Path(p)) if *p == bb));
    for a in ["sh", "chroot", "poweroff"] {
        assert!(matches!(&t.get(&format!("kiln/bin/{a}")).unwrap().kind, Kind::Symlink(to) if to == "busybox"), "{a}");
    }
    assert!(t.get("bin/sh").is_none() && t.get("sbin").is_none(), "the image's directories get no applets");
    assert!(c.env.contains(&("PATH".into(), "/usr/bin:/bin:/kiln/bin".into())), "{:?}", c.env);
    assert_eq!(c.shell, Some(vec!["/kiln/bin/sh".to_string(), "-l".into()]), "the console shell is BusyBox's: the image has none");
    assert_eq!(c.services.len(), 1);
    assert_eq!((c.services[0].name.as_str(), c.services[0].restart), (SERVICE_NAME, Restart::OnFailure));
    assert_eq!(c.services[0].argv, ["/bin/app"]);
}

#[test]
fn init_config_follows_run_mode_entrypoint_and_working_dir() {
    let mut img = image(&["echo $GREETING"]);
    img.entrypoint = vec!["/bin/sh".into(), "-c".into()];
    let has_sh = |p: &str| p == "bin/sh";
    let base = Config::default();
    let c = init_config(&base, &img, None, RunMode::Console, false, has_sh).unwrap();
    assert_eq!(c.shell, Some(vec!["/bin/sh".to_string(), "-c".into(), "echo $GREETING".into()]));
    let c = init_config(&base, &img, None, RunMode::None, false, has_sh).unwrap();
    assert_eq!((c.shell, c.services.len()), (None, 0), "the default shell (/bin/sh -l) only");
    assert_eq!(c.workdir.as_deref(), Some("/"), "a container starts in / without WorkingDir");
    img.working_dir = Some("/srv/app".into());
    let c = init_config(&base, &img, None, RunMode::Service, false, has_sh).unwrap();
    assert_eq!(c.services[0].argv, ["/bin/sh", "-c", "echo $GREETING"]);
    assert_eq!(c.workdir.as_deref(), Some("/srv/app"));
    let spec_says = Config { workdir: Some("/data".into()), ..Config::default() };
    assert_eq!(init_config(&spec_says, &img, None, RunMode::Service, false, has_sh).unwrap().workdir.as_deref(), Some("/data"));
}

#[test]
fn what_kiln_init_cannot_do_is_an_error_saying_so() {
    let base = Config::default();
    let none = |_: &str| false;
    let mut img = image(&["/app"]);
    // The image's program runs as its User; a console shell beside a service stays root.
    let c = init_config(&base, &img, Some((1000, 100)), RunMode::Console, false, none).unwrap();
    assert_eq!((c.shell_user, c.shell.as_deref()), (Some((1000, 100)), Some(&["/app".to_string()][..])));
    let has_sh = |p: &str| p == "bin/sh";
    let c = init_config(&base, &img, Some((1000, 100)), RunMode::Service, false, has_sh).unwrap();
    assert_eq!((c.services[0].user, c.shell_user), (Some((1000, 100)), None));
    img.working_dir = Some("/srv".into());
    let c = init_config(&base, &img, None, RunMode::Console, false, none).unwrap();
    assert_eq!((c.shell.unwrap(), c.workdir.as_deref()), (vec!["/app".to_string()], Some("/srv")), "no shell needed for WorkingDir");
    img.working_dir = Some("srv".into());
    let e = init_config(&base, &img, None, RunMode::Console, false, none).unwrap_err().to_string();
    assert!(e.contains("workdir: working directory 'srv' is not an absolute path"), "{e}");
    img.working_dir = None;
    let e = init_config(&base, &image(&[]), None, RunMode::Console, false, none).unwrap_err().to_string();
    assert!(e.contains("no Entrypoint or Cmd") && e.contains("rootfs.run = \"none\""), "{e}");
    let e = init_config(&base, &img, None, RunMode::Service, false, none).unwrap_err().to_string();
    assert!(e.contains("no shell for the console"), "{e}");
    img.env = vec!["BAD-KEY=1".into()];
    let e = init_config(&base, &img, None, RunMode::Console, false, none).unwrap_err().to_string();
    assert!(e.contains("BAD-KEY"), "{e}");
}

#[test]
fn size_limit_names_size_ram_and_live_mode() {
    assert!(check_size(100, 100).is_ok());
    let e = check_size(300 << 20, 256 << 20).unwrap_err().to_string();
    assert!(e.contains("314572800 bytes (300.0 MiB)") && e.contains("rootfs.max_initramfs_bytes = 268435456 (256.0 MiB)"), "{e}");
    assert!(e.contains("about 514 MiB") && e.contains("--live"), "{e}");
    let e = check_size(500_299, 100_000).unwrap_err().to_string();
    assert!(e.contains("(489 KiB) unpacked") && e.contains("(98 KiB)") && e.contains("about 65 MiB"), "{e}");
    let mut t = Tree::new();
    t.file("a", 0o644, Data::Bytes(vec![0; 1000])).unwrap();
    assert_eq!(unpacked_size(&t).unwrap(), 1000 + 512);
}

#[test]
fn a_merged_usr_shell_is_found_through_its_symlinks() {
    // Debian 12: /bin -> usr/bin, /bin/sh -> dash.
    let (_d, _bb, init) = files();
    let mut t = Tree::new();
    t.file("usr/bin/dash", 0o755, Data::Bytes(b"dash".to_vec())).unwrap();
    t.symlink("usr/bin/sh", "dash").unwrap();
    t.symlink("bin", "usr/bin").unwrap();
    t.symlink("loop", "loop").unwrap();
    t.symlink("usr/up", "../usr/./bin/../bin/sh").unwrap();
    t.symlink("abs", "/usr/bin/dash").unwrap();
    for p in ["bin/sh", "usr/up", "abs", "/bin/sh"] {
        assert!(matches!(resolve(&t, p).map(|e| &e.kind), Some(Kind::File(_))), "{p}");
    }
    for p in ["loop", "bin/bash", "", "usr/bin/dash/x"] {
        assert!(resolve(&t, p).is_none(), "{p}");
    }
    let img = image(&[]);
    let (_, c) = oci_rootfs(OciInputs { tree: t, image: &img, base: &Config::default(), run: RunMode::None, busybox: None, init: &init }).unwrap();
    assert_eq!(c.shell, None, "the default shell, /bin/sh -l");
}
