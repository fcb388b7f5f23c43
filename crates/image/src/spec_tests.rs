use super::*;

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
    assert_eq!(s.cmdline(&s.iso.entries[0]), "quiet console=tty0 console=ttyS0");
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
    assert!(ImageSpec::parse("i.toml", &bad_name).unwrap_err().to_string().contains("log file"));
}

#[test]
fn init_section_becomes_init_conf() {
    let text = format!(
        "{MINIMAL}[init]\nhostname = \"box\"\nenv = {{ GREETING = \"hello world\" }}\n\
         [[init.onboot]]\nname = \"hi\"\ncommand = [\"/bin/echo\", \"it's up\"]\n\
         [[init.services]]\nname = \"tick\"\ncommand = [\"/bin/sh\", \"-c\", \"sleep 1\"]\nrestart = \"on-failure\"\n"
    );
    let s = ImageSpec::parse("i.toml", &text).unwrap();
    let conf = s.init_config();
    let (back, errors) = Config::parse(&conf.render());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(back, conf);
    assert_eq!(back.hostname.as_deref(), Some("box"));
    assert_eq!(back.services[0].restart, Restart::OnFailure);
    assert_eq!(back.onboot[0].argv[1], "it's up");
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
