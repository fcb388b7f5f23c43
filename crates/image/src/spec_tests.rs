use super::*;
use crate::containers::ImageRef;
use kiln_init::policy::Restart;

const MINIMAL: &str = r#"
name = "t"
[kernel]
fragments = ["base"]
cmdline = "quiet"
[busybox]
fragments = ["kiln"]
"#;

#[test]
fn defaults_give_serial_and_vga_entries() {
    let s = ImageSpec::parse("images/t.toml", MINIMAL).unwrap();
    assert_eq!(s.iso.entries.len(), 2);
    assert_eq!(s.cmdline(&s.iso.entries[0]), "quiet console=tty0 console=ttyS0 earlyprintk=serial,ttyS0");
    assert_eq!(s.iso.label, "KILN");
    assert_eq!(s.iso.layout, IsoLayout::Slim);
}

#[test]
fn typo_names_file_line_and_key() {
    let text = MINIMAL.replace("cmdline", "cmdlin");
    let e = ImageSpec::parse("images/t.toml", &text).unwrap_err().to_string();
    assert!(e.starts_with("images/t.toml: "), "{e}");
    assert!(e.contains("line 5") && e.contains("cmdlin"), "{e}");
}

#[test]
fn bad_values_are_named() {
    let bad_label = format!("{MINIMAL}[iso]\nlabel = \"my iso\"\n");
    assert!(ImageSpec::parse("i.toml", &bad_label).unwrap_err().to_string().contains("iso.label"));
    let bad_default = format!("{MINIMAL}[iso]\ndefault = 5\n");
    assert!(ImageSpec::parse("i.toml", &bad_default).unwrap_err().to_string().contains("iso.default"));
    let bad_restart = format!("{MINIMAL}[[init.services]]\nname = \"s\"\ncommand = [\"x\"]\nrestart = \"sometimes\"\n");
    let e = ImageSpec::parse("i.toml", &bad_restart).unwrap_err().to_string();
    assert!(e.contains("sometimes") && e.contains("line"), "{e}");
    let bad_name = format!("{MINIMAL}[[init.onboot]]\nname = \"../x\"\ncommand = [\"x\"]\n");
    assert!(ImageSpec::parse("i.toml", &bad_name).unwrap_err().to_string().contains("init.onboot.name: invalid name '../x'"));
}

#[test]
fn init_section_becomes_init_conf() {
    let text = format!(
        "{MINIMAL}[init]\nhostname = \"box\"\nenv = {{ GREETING = \"hello world\", A = \"1\" }}\n\
         [[init.mounts]]\nsource = \"s\"\ntarget = \"/mnt/ro\"\nfstype = \"tmpfs\"\noptions = \"ro,nosuid\"\n\
         [[init.onboot]]\nname = \"hi\"\ncommand = [\"/bin/echo\", \"it's up\"]\n\
         [[init.onboot]]\nname = \"slow\"\ncommand = [\"/bin/sleep\", \"9\"]\ntimeout = 3\n\
         [[init.services]]\nname = \"tick\"\ncommand = [\"/bin/sh\", \"-c\", \"sleep 1\"]\nrestart = \"on-failure\"\nstop_timeout = 4\n\
         [[init.services]]\nname = \"getty@ttyS1\"\ncommand = [\"/bin/getty\"]\n"
    );
    let s = ImageSpec::parse("i.toml", &text).unwrap();
    let conf = s.init_config();
    let rendered = conf.render();
    let (back, errors) = Config::parse(&rendered);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(back, conf);
    assert_eq!(back.hostname.as_deref(), Some("box"));
    // The order written, not sorted.
    assert_eq!(back.env, [("GREETING".into(), "hello world".into()), ("A".into(), "1".into())]);
    assert_eq!(back.mounts[0].options.as_deref(), Some("ro,nosuid"));
    assert_eq!(back.services[0].restart, Restart::OnFailure);
    assert_eq!(back.onboot[0].argv[1], "it's up");
    assert_eq!(back.onboot[0].timeout_secs, kiln_init::config::DEFAULT_ONBOOT_TIMEOUT_SECS);
    assert_eq!(back.onboot[1].timeout_secs, 3);
    assert_eq!(back.services[0].stop_timeout_secs, 4);
    // No `restart` key: always.
    assert_eq!(back.services[1].restart, Restart::Always);
    assert_eq!(back.services[1].stop_timeout_secs, kiln_init::config::DEFAULT_STOP_TIMEOUT_SECS);
    assert!(rendered.contains("onboot slow timeout=3 /bin/sleep 9\n"), "{rendered}");
    assert!(rendered.contains("service tick on-failure stop_timeout=4 /bin/sh -c \"sleep 1\"\n"), "{rendered}");
}

#[test]
fn every_image_in_the_repo_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let names = available(&root);
    assert!(names.contains(&"minimal".to_string()), "{names:?}");
    for n in names {
        ImageSpec::load(&root, &n).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn unknown_image_lists_available_ones() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let e = ImageSpec::load(&root, "nope").unwrap_err().to_string();
    assert!(e.contains("images/nope.toml") && e.contains("minimal"), "{e}");
}

#[test]
fn busybox_base_defaults_to_allnoconfig() {
    let s = ImageSpec::parse("images/t.toml", MINIMAL).unwrap();
    assert_eq!(s.busybox.base.make_target(), "allnoconfig");
    let full = MINIMAL.replace("[busybox]\n", "[busybox]\nbase = \"defconfig\"\n");
    assert_eq!(ImageSpec::parse("i.toml", &full).unwrap().busybox.base, BusyboxBase::Defconfig);
    let bad = MINIMAL.replace("[busybox]\n", "[busybox]\nbase = \"tinyconfig\"\n");
    let e = ImageSpec::parse("i.toml", &bad).unwrap_err().to_string();
    assert!(e.contains("tinyconfig") && e.contains("allnoconfig"), "{e}");
}

#[test]
fn iso_budget_checks_each_limit() {
    let s = ImageSpec::parse("images/t.toml", MINIMAL).unwrap();
    assert!(s.iso.budget.check(u64::MAX, u64::MAX).is_empty(), "no limits without [iso.budget]");
    let text = format!("{MINIMAL}[iso.budget]\ntotal_bytes = 2097152\nboot_machinery_bytes = 524288\n");
    let b = ImageSpec::parse("i.toml", &text).unwrap().iso.budget;
    assert!(b.check(2097152, 524288).iter().all(|r| r.is_ok()));
    let over = b.check(2097153, 1000);
    assert_eq!(over[0], Err("ISO 2097153 bytes (2.00 MiB), limit 2097152 (2.00 MiB): over by 1 bytes".into()));
    assert!(over[1].is_ok());
    let typo = format!("{MINIMAL}[iso.budget]\ntotal = 1\n");
    assert!(ImageSpec::parse("i.toml", &typo).unwrap_err().to_string().contains("total"));
}


/// Issue 8: these built fine and were dropped at boot. Now the spec is refused,
/// naming the file, the line and the key.
#[test]
fn bad_init_values_name_file_line_and_key() {
    let cases: &[(&str, usize, &str)] = &[
        ("[init]\nhostname = \"my host\\nname\"\n", 9, "init.hostname: invalid hostname 'my host\\nname'"),
        ("[init]\nenv = { \"A B\" = \"x\" }\n", 9, "init.env: invalid environment variable name 'A B'"),
        ("[init.env]\nOK = \"1\"\n\"A B\" = \"x\"\n", 10, "init.env: invalid environment variable name 'A B'"),
        ("[init.env]\nOK = \"two\\nlines\"\n", 9, "init.env.OK: 'two\\nlines' contains a newline"),
        ("[[init.services]]\nname = \"a\"\ncommand = [\"x\"]\n[[init.services]]\nname = \"a/b\"\ncommand = [\"x\"]\n", 12, "init.services.name: invalid name 'a/b'"),
        ("[[init.services]]\nname = \"a\"\ncommand = [\"x\"]\n[[init.services]]\nname = \"a\"\ncommand = [\"y\"]\n", 8, "init.services: duplicate service name 'a'"),
        ("[[init.services]]\nname = \"s\"\ncommand = [\"x\"]\nstop_timeout = 0\n", 11, "init.services.stop_timeout: timeout 0 s out of range"),
        ("[[init.onboot]]\nname = \"a\"\ncommand = []\n", 10, "init.onboot.command: empty command"),
        ("[[init.onboot]]\nname = \"a\"\ncommand = [\"sh\", \"-c\", \"a\\nb\"]\n", 10, "init.onboot.command: 'a\\nb' contains a newline"),
        ("[[init.onboot]]\nname = \"a\"\ncommand = [\"x\"]\ntimeout = 100000\n", 11, "init.onboot.timeout: timeout 100000 s out of range"),
        ("[[init.mounts]]\nsource = \"a\"\ntarget = \"rel\"\nfstype = \"tmpfs\"\n", 10, "init.mounts.target: mount target 'rel' is not an absolute path"),
        ("[[init.mounts]]\nsource = \"\"\ntarget = \"/m\"\nfstype = \"tmpfs\"\n", 9, "init.mounts.source: mount source and fstype must not be empty"),
        ("[init]\nshell = []\n", 9, "init.shell: empty command"),
        ("[init]\nhostnme = \"x\"\n", 9, "unknown field `hostnme`"),
    ];
    for (extra, line, want) in cases {
        let e = ImageSpec::parse("images/t.toml", &format!("{MINIMAL}{extra}")).unwrap_err().to_string();
        assert!(e.starts_with("images/t.toml: "), "{e}");
        assert!(e.contains(&format!("at line {line},")), "want line {line}:\n{e}");
        assert!(e.contains(want), "want {want:?}:\n{e}");
    }
}

/// One rule for names, hostnames and environment keys: the spec accepts
/// exactly what kiln-init accepts in init.conf.
#[test]
fn spec_and_init_conf_agree() {
    let names = ["web", "getty@ttyS0", "a.b", "x_y-z", "a b", "a/b", "..", "", "ü"];
    for n in names {
        let spec = format!("{MINIMAL}[[init.services]]\nname = {n:?}\ncommand = [\"/bin/x\"]\n");
        let line = format!("service {} always /bin/x\n", kiln_init::config::quote(n));
        assert_eq!(ImageSpec::parse("i.toml", &spec).is_ok(), Config::parse(&line).1.is_empty(), "name {n:?}");
    }
    for h in ["kiln", "kiln-demo", "my host", "a_b", "-x", "h.example"] {
        let spec = format!("{MINIMAL}[init]\nhostname = {h:?}\n");
        let line = format!("hostname {}\n", kiln_init::config::quote(h));
        assert_eq!(ImageSpec::parse("i.toml", &spec).is_ok(), Config::parse(&line).1.is_empty(), "hostname {h:?}");
    }
    for k in ["PATH", "_X1", "A B", "1A", "A-B"] {
        let spec = format!("{MINIMAL}[init]\nenv = {{ {k:?} = \"v\" }}\n");
        let line = format!("env {}\n", kiln_init::config::quote(&format!("{k}=v")));
        assert_eq!(ImageSpec::parse("i.toml", &spec).is_ok(), Config::parse(&line).1.is_empty(), "env {k:?}");
    }
}

#[test]
fn rootfs_defaults_to_kiln_own() {
    let s = ImageSpec::parse("i.toml", MINIMAL).unwrap();
    assert_eq!(s.rootfs, RootfsSpec::default());
    assert_eq!(s.rootfs.oci, None);
    assert_eq!(s.rootfs.run, RunMode::Console);
    assert!(!s.rootfs.busybox);
    assert_eq!(s.rootfs.platform.to_string(), "linux/amd64");
    assert_eq!(s.rootfs.max_initramfs_bytes, DEFAULT_MAX_INITRAMFS_BYTES);
}

#[test]
fn rootfs_oci_keys_parse() {
    let text = format!("{MINIMAL}[rootfs]\noci = \"img.tar\"\nplatform = \"linux/arm64/v8\"\nbusybox = true\nrun = \"service\"\nmax_initramfs_bytes = 1000\n");
    let s = ImageSpec::parse("i.toml", &text).unwrap();
    assert_eq!(s.rootfs.oci, Some(ImageRef::Path("img.tar".into())));
    assert_eq!(s.rootfs.platform.to_string(), "linux/arm64/v8");
    assert!(s.rootfs.busybox);
    assert_eq!(s.rootfs.run, RunMode::Service);
    assert_eq!(s.rootfs.max_initramfs_bytes, 1000);
    let reg = format!("{MINIMAL}[rootfs]\noci = \"docker://127.0.0.1:5000/app:1\"\n");
    let s = ImageSpec::parse("i.toml", &reg).unwrap();
    assert_eq!(s.rootfs.oci.unwrap().to_string(), "docker://127.0.0.1:5000/app:1");
    let none = format!("{MINIMAL}[rootfs]\nrun = \"none\"\n");
    assert_eq!(ImageSpec::parse("i.toml", &none).unwrap().rootfs.run, RunMode::None);
}

#[test]
fn bad_rootfs_values_name_line_and_key() {
    for (bad, what) in [
        ("run = \"daemon\"", "daemon"),
        ("platform = \"linux\"", "platform \"linux\""),
        ("busybox = \"yes\"", "busybox"),
        ("max_initramfs_bytes = 0", "rootfs.max_initramfs_bytes"),
        ("ocii = \"x\"", "ocii"),
        ("oci = \"kiln:busybox\"", "kiln: images are for [[containers]]"),
        ("oci = \"docker://Bad/app\"", "lowercase"),
    ] {
        let text = format!("{MINIMAL}[rootfs]\n{bad}\n");
        let e = ImageSpec::parse("images/t.toml", &text).unwrap_err().to_string();
        assert!(e.starts_with("images/t.toml: ") && e.contains(what), "{bad}: {e}");
        if !bad.starts_with("max") {
            assert!(e.contains("line 9"), "{bad}: {e}");
        }
    }
}

#[test]
fn rootfs_oci_is_relative_to_the_spec_and_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for d in ["images", "kernel", "busybox", "images/oci"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("kernel/base.config"), "").unwrap();
    std::fs::write(root.join("busybox/kiln.config"), "").unwrap();
    let spec = MINIMAL.replace("name = \"t\"", "name = \"box\"") + "[rootfs]\noci = \"oci/img.tar\"\n";
    std::fs::write(root.join("images/box.toml"), spec).unwrap();
    let e = ImageSpec::load(root, "box").unwrap_err().to_string();
    assert!(e.contains("images/box.toml: rootfs.oci: no file or directory") && e.contains("oci/img.tar"), "{e}");
    std::fs::write(root.join("images/oci/img.tar"), b"").unwrap();
    let s = ImageSpec::load(root, "box").unwrap();
    assert_eq!(s.rootfs.oci, Some(ImageRef::Path(root.join("images/oci/img.tar"))));
}

#[test]
fn init_workdir_is_checked_as_read() {
    let ok = format!("{MINIMAL}[init]\nworkdir = \"/srv\"\n");
    assert_eq!(ImageSpec::parse("i.toml", &ok).unwrap().init.workdir.as_deref(), Some("/srv"));
    let bad = format!("{MINIMAL}[init]\nworkdir = \"srv\"\n");
    let e = ImageSpec::parse("i.toml", &bad).unwrap_err().to_string();
    assert!(e.contains("init.workdir") && e.contains("not an absolute path") && e.contains("line 9"), "{e}");
}

#[test]
fn live_mode_adds_its_fragments_and_the_live_command_line() {
    let text = format!("{MINIMAL}[rootfs]\nmode = \"live\"\npersist = \"KILN_DATA\"\n[iso]\nlabel = \"KILN_LIVE\"\n");
    let s = ImageSpec::parse("images/t.toml", &text).unwrap();
    assert_eq!(s.kernel_fragment_names(), ["base", LIVE_FRAGMENT, PERSIST_FRAGMENT]);
    assert_eq!(
        s.cmdline(&s.iso.entries[0]),
        "root=live:CDLABEL=KILN_LIVE rd.live.image rd.live.overlay=LABEL=KILN_DATA quiet console=tty0 console=ttyS0 earlyprintk=serial,ttyS0"
    );
    // Listed already: not twice.
    let listed = text.replace("[\"base\"]", "[\"60-live\", \"base\"]");
    assert_eq!(ImageSpec::parse("images/t.toml", &listed).unwrap().kernel_fragment_names(), ["60-live", "base", PERSIST_FRAGMENT]);
    // Without `persist` too: persistence can be asked for at the boot menu.
    let no_persist = text.replace("persist = \"KILN_DATA\"\n", "");
    assert_eq!(ImageSpec::parse("images/t.toml", &no_persist).unwrap().kernel_fragment_names(), ["base", LIVE_FRAGMENT, PERSIST_FRAGMENT]);
    // Initramfs mode: nothing added.
    let s = ImageSpec::parse("images/t.toml", MINIMAL).unwrap();
    assert_eq!((s.kernel_fragment_names(), s.live_args()), (vec!["base".to_string()], String::new()));
}

#[test]
fn persistence_needs_live_mode_and_a_usable_label() {
    let e = ImageSpec::parse("images/t.toml", &format!("{MINIMAL}[rootfs]\npersist = \"DATA\"\n")).unwrap_err().to_string();
    assert!(e.contains("rootfs.persist") && e.contains("mode = \"live\""), "{e}");
    for bad in ["", "has space", "seventeen_chars_x", "a/b"] {
        let text = format!("{MINIMAL}[rootfs]\nmode = \"live\"\npersist = {bad:?}\n");
        let e = ImageSpec::parse("images/t.toml", &text).unwrap_err().to_string();
        assert!(e.contains("rootfs.persist") && e.contains("1-16"), "{bad:?}: {e}");
    }
    let e = ImageSpec::parse("images/t.toml", &format!("{MINIMAL}[rootfs]\nmode = \"squash\"\n")).unwrap_err().to_string();
    assert!(e.contains("mode") && e.contains("live"), "{e}");
}

#[test]
fn containers_add_the_kiln_ctr_service_with_time_to_stop_them_all() {
    let plain = ImageSpec::parse("images/t.toml", MINIMAL).unwrap();
    assert!(!plain.init_config().render().contains("kiln-ctr"));
    let text = format!("{MINIMAL}\n[[containers]]\nname = \"a\"\nimage = \"kiln:busybox\"\nstop_timeout = 5\n[[containers]]\nname = \"b\"\nimage = \"kiln:busybox\"\n");
    let s = ImageSpec::parse("images/t.toml", &text).unwrap();
    let rendered = s.init_config().render();
    // 5 s + the default 10 s + the margin.
    let want = format!("service kiln-ctr always stop_timeout={} /usr/bin/kiln-ctr daemon\n", 15 + CTR_STOP_MARGIN_SECS);
    assert!(rendered.contains(&want), "{rendered}");
}
