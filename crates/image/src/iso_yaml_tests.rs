use super::*;

const P: &str = "/usr/lib/bootc-image-builder/iso.yaml";

/// The iso.yaml of the fedora-bootc installer example (bootc-isos), as written there.
const FEDORA_INSTALLER: &str = r#"
label: "Fedora-bootc-Installer"
grub2:
  default: 0
  timeout: 10
  entries:
    - name: "Install Fedora (bootc)"
      linux: "/images/pxeboot/vmlinuz quiet rhgb root=live:CDLABEL=Fedora-bootc-Installer enforcing=0 rd.live.image"
      initrd: "/images/pxeboot/initrd.img"
    - name: "My Custom Image Live (Basic Graphics)"
      linux: "/images/pxeboot/vmlinuz quiet rhgb root=live:CDLABEL=Fedora-bootc-Installer enforcing=0 rd.live.image nomodeset"
      initrd: "/images/pxeboot/initrd.img"
"#;

/// osbuild/images' own test file (`pkg/bib/osinfo`): valid for its parser, but its
/// paths are not the contract's and its default is past its entries.
const IMAGE_BUILDER_TEST: &str = r#"
label: "My-ISO"
kernel_args:
- "root=live:CDLABEL=My-ISO"
- "foo"
grub2:
  default: 5
  timeout: 30
  entries:
    - name: "My First Entry"
      linux: "/foo"
      initrd: "/bar"
    - name: "My Second Entry"
      linux: "/bar"
      initrd: "/foo"
"#;

fn err(text: &str) -> String {
    parse(text, P).expect_err(text)
}

#[test]
fn the_fedora_installer_example_parses() {
    let y = parse(FEDORA_INSTALLER, P).unwrap();
    assert_eq!(y.label.as_deref(), Some("Fedora-bootc-Installer"));
    assert_eq!((y.default, y.timeout), (Some(MenuDefault::Index(0)), Some(10)));
    assert_eq!(y.entries.len(), 2);
    assert_eq!(y.entries[0].name, "Install Fedora (bootc)");
    assert_eq!(y.entries[0].args, "quiet rhgb root=live:CDLABEL=Fedora-bootc-Installer enforcing=0 rd.live.image");
    assert_eq!(y.entries[1].line, 10);
    assert!(y.entries[1].args.ends_with(" nomodeset"));
    assert!(y.kernel_args.is_empty());
}

#[test]
fn image_builders_test_file_is_held_to_the_contracts_paths() {
    let e = err(IMAGE_BUILDER_TEST);
    assert!(e.starts_with(&format!("{P}: line 10, key `grub2.entries[0].linux`: \"/foo\" must start with /images/pxeboot/vmlinuz")), "{e}");
    let fixed = IMAGE_BUILDER_TEST.replace("\"/foo\"", "\"/images/pxeboot/initrd.img\"").replace("\"/bar\"", "\"/images/pxeboot/vmlinuz\"");
    let fixed = fixed.replace("linux: \"/images/pxeboot/initrd.img\"", "linux: \"/images/pxeboot/vmlinuz\"");
    let fixed = fixed.replace("initrd: \"/images/pxeboot/vmlinuz\"", "initrd: \"/images/pxeboot/initrd.img\"");
    let e = err(&fixed);
    assert!(e.contains("line 7, key `grub2.default`: 5 is past the last entry: there are 2"), "{e}");
    let y = parse(&fixed.replace("default: 5", "default: 1"), P).unwrap();
    assert_eq!(y.kernel_args, ["root=live:CDLABEL=My-ISO", "foo"]);
    assert_eq!((y.default, y.timeout, y.entries[1].args.as_str()), (Some(MenuDefault::Index(1)), Some(30), ""));
}

#[test]
fn every_key_is_optional() {
    assert_eq!(parse("label: KILN\n", P).unwrap(), IsoYaml { label: Some("KILN".into()), kernel_args: vec![], default: None, timeout: None, entries: vec![] });
    let y = parse("grub2:\n  timeout: 3\n", P).unwrap();
    assert_eq!((y.timeout, y.entries.len()), (Some(3), 0));
    assert!(parse("{}\n", P).unwrap().label.is_none());
}

#[test]
fn unknown_keys_are_named_with_the_file_and_line() {
    let e = err("label: A\nkernel_arg: [quiet]\n");
    assert!(e.starts_with(P) && e.contains("kernel_arg") && e.contains("line 2") && e.contains("remove or rename the key"), "{e}");
    let e = err("grub2:\n  entries:\n    - name: a\n      linux: /images/pxeboot/vmlinuz\n      initrd: /images/pxeboot/initrd.img\n      options: x\n");
    assert!(e.contains("options") && e.contains("line 6"), "{e}");
    let e = err("grub2:\n  timeout: 1\n  theme: dark\n");
    assert!(e.contains("theme") && e.contains("line 3"), "{e}");
}

#[test]
fn entries_need_all_three_keys() {
    let e = err("grub2:\n  entries:\n    - name: a\n      linux: /images/pxeboot/vmlinuz\n");
    assert!(e.starts_with(P) && e.contains("initrd"), "{e}");
    let e = err("grub2:\n  entries:\n    - linux: /images/pxeboot/vmlinuz\n      initrd: /images/pxeboot/initrd.img\n");
    assert!(e.contains("name"), "{e}");
}

#[test]
fn only_the_contracts_paths_are_accepted() {
    let entry = |linux: &str, initrd: &str| format!("grub2:\n  entries:\n    - name: a\n      linux: \"{linux}\"\n      initrd: \"{initrd}\"\n");
    let ok = parse(&entry("  /images/pxeboot/vmlinuz  rd.live.image ", INITRD), P).unwrap();
    assert_eq!(ok.entries[0].args, "rd.live.image");
    assert_eq!(parse(&entry("/images/pxeboot/vmlinuz", INITRD), P).unwrap().entries[0].args, "");
    for bad in ["/boot/vmlinuz root=live:CDLABEL=A", "/images/pxeboot/vmlinuz2 quiet", "images/pxeboot/vmlinuz", ""] {
        let e = err(&entry(bad, INITRD));
        assert!(e.contains("line 3, key `grub2.entries[0].linux`") && e.contains("only kernel path of contract v0.1"), "{bad}: {e}");
    }
    let e = err(&entry(KERNEL, "/images/pxeboot/initramfs.img"));
    assert!(e.contains("key `grub2.entries[0].initrd`") && e.contains("must be /images/pxeboot/initrd.img"), "{e}");
}

#[test]
fn timeout_is_seconds_as_a_number_or_a_string() {
    let t = |v: &str| parse(&format!("grub2:\n  timeout: {v}\n"), P).map(|y| y.timeout);
    assert_eq!(t("5"), Ok(Some(5)));
    assert_eq!(t("\"10\""), Ok(Some(10)));
    assert_eq!(t("0"), Ok(Some(0)));
    for bad in ["-1", "\"soon\"", "1.5", "[1]", "99999999999"] {
        let e = t(bad).expect_err(bad);
        assert!(e.starts_with(P) && e.contains("line 2") && e.contains("seconds"), "{bad}: {e}");
    }
}

#[test]
fn default_is_an_index_or_an_entrys_name() {
    let two = "  entries:\n    - {name: One, linux: /images/pxeboot/vmlinuz, initrd: /images/pxeboot/initrd.img}\n    - {name: Two, linux: /images/pxeboot/vmlinuz a, initrd: /images/pxeboot/initrd.img}\n";
    let d = |v: &str| parse(&format!("grub2:\n  default: {v}\n{two}"), P).map(|y| y.default);
    assert_eq!(d("1"), Ok(Some(MenuDefault::Index(1))));
    assert_eq!(d("\"1\""), Ok(Some(MenuDefault::Index(1))));
    assert_eq!(d("Two"), Ok(Some(MenuDefault::Name("Two".into()))));
    let e = d("Three").unwrap_err();
    assert!(e.contains("key `grub2.default`: no entry is named \"Three\"; the entries are \"One\", \"Two\""), "{e}");
    assert!(d("2").unwrap_err().contains("2 is past the last entry"));
    assert!(d("-1").unwrap_err().contains("index"));
}

#[test]
fn kernel_args_is_a_list_of_strings_as_in_image_builder() {
    assert_eq!(parse("kernel_args: [quiet, \"console=ttyS0\"]\n", P).unwrap().kernel_args, ["quiet", "console=ttyS0"]);
    let e = err("kernel_args: quiet splash\n");
    assert!(e.starts_with(P) && e.contains("line 1") && e.contains("kernel_args: [\"quiet\"]"), "{e}");
    let e = err("label: A\nlabel: B\n");
    assert!(e.contains("duplicate") && e.contains("line 2") && !e.contains("Options"), "{e}");
    assert!(err("kernel_args: [\"a\\nb\"]\n").contains("control characters"));
    assert!(err("kernel_args: [\"\"]\n").contains("key `kernel_args`"));
}

#[test]
fn the_label_must_be_a_usable_volume_id() {
    for ok in ["KILN_DRACUT", "Fedora-bootc-Installer", "a.b", &"A".repeat(32)] {
        assert!(parse(&format!("label: \"{ok}\"\n"), P).is_ok(), "{ok}");
    }
    for bad in ["", "My ISO", "a/b", "Ünï", &"A".repeat(33)] {
        let e = err(&format!("label: \"{bad}\"\n"));
        assert!(e.contains("line 1, key `label`") && e.contains("1-32 characters"), "{bad}: {e}");
    }
    assert_eq!(suggest_label("My ISO/1"), "My_ISO_1");
    assert_eq!(suggest_label(""), "LIVE");
    assert_eq!(suggest_label(&"x".repeat(40)).len(), 32);
}

#[test]
fn names_and_command_lines_stay_on_one_line() {
    let e = err("grub2:\n  entries:\n    - name: \"a\\nmenuentry x\"\n      linux: /images/pxeboot/vmlinuz\n      initrd: /images/pxeboot/initrd.img\n");
    assert!(e.contains("grub2.entries[0].name"), "{e}");
    let e = err("grub2:\n  entries:\n    - name: a\n      linux: \"/images/pxeboot/vmlinuz quiet\\n}\\nmenuentry x {\"\n      initrd: /images/pxeboot/initrd.img\n");
    assert!(e.contains("grub2.entries[0].linux") && e.contains("control character"), "{e}");
}

#[test]
fn broken_yaml_is_an_error_naming_the_file_never_a_panic() {
    for text in ["@invalidYAML", "label: [", "grub2: 3", "- a\n- b\n", "label: A\nlabel: B\n", "\t:"] {
        let e = err(text);
        assert!(e.starts_with(P), "{text}: {e}");
    }
}
