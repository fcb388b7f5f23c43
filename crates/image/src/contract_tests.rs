use super::*;
use crate::iso_yaml::Grub2Entry;

const K: &str = "6.1.0-50-amd64";

fn bytes(s: &str) -> Data {
    Data::Bytes(s.as_bytes().to_vec())
}

/// A merged-/usr root, as Debian 12 and Fedora lay it out.
fn root() -> Tree {
    let mut t = Tree::new();
    t.symlink("lib", "usr/lib").unwrap().symlink("bin", "usr/bin").unwrap();
    t.file("usr/bin/sh", 0o755, bytes("sh")).unwrap();
    t
}

fn kernel(t: &mut Tree, kver: &str) {
    t.file(&format!("usr/lib/modules/{kver}/vmlinuz"), 0o644, bytes(&format!("kernel {kver}"))).unwrap();
    t.file(&format!("usr/lib/modules/{kver}/initramfs.img"), 0o600, bytes(&format!("initramfs {kver}"))).unwrap();
}

fn defaults() -> MenuDefaults {
    MenuDefaults { label: "KILN_LIVE".into(), timeout: 5, name: "Live".into() }
}

fn message(r: Result<Option<Contract>>) -> String {
    match r {
        Err(Error::Contract { message }) => message,
        other => panic!("not a contract error: {other:?}"),
    }
}

#[test]
fn an_image_without_a_kernel_is_not_in_contract_mode() {
    assert_eq!(detect(&root()).unwrap(), None);
    assert_eq!(detect(&Tree::new()).unwrap(), None);
    // Debian's kernel package alone (in /boot, modules only under /usr/lib/modules).
    let mut t = root();
    t.file("boot/vmlinuz-6.1.0-50-amd64", 0o644, bytes("k")).unwrap();
    t.file(&format!("usr/lib/modules/{K}/modules.dep"), 0o644, bytes("")).unwrap();
    assert_eq!(detect(&t).unwrap(), None);
}

#[test]
fn the_kernel_and_initramfs_are_found_beside_each_other() {
    let mut t = root();
    kernel(&mut t, K);
    let c = detect(&t).unwrap().unwrap();
    assert_eq!((c.kver.as_str(), &c.vmlinuz, &c.initramfs), (K, &bytes("kernel 6.1.0-50-amd64"), &bytes("initramfs 6.1.0-50-amd64")));
    assert_eq!((c.iso, c.iso_yaml_path, c.warnings.len()), (None, None, 0));
}

#[test]
fn symlinks_are_followed_inside_the_image() {
    // /usr/lib/modules reached through a link, vmlinuz a relative link (Fedora ships
    // /lib/modules/K/vmlinuz as the file; some images link /boot/vmlinuz-K to it or back).
    let mut t = Tree::new();
    t.symlink("usr/lib", "../lib").unwrap();
    t.file(&format!("boot/vmlinuz-{K}"), 0o644, bytes("k")).unwrap();
    t.symlink(&format!("lib/modules/{K}/vmlinuz"), &format!("../../../boot/vmlinuz-{K}")).unwrap();
    t.symlink(&format!("lib/modules/{K}/initramfs.img"), &format!("/boot/initramfs-{K}.img")).unwrap();
    t.file(&format!("boot/initramfs-{K}.img"), 0o644, bytes("i")).unwrap();
    let c = detect(&t).unwrap().unwrap();
    assert_eq!((c.vmlinuz, c.initramfs), (bytes("k"), bytes("i")));
    // A kernel directory that is itself a link.
    let mut t = root();
    kernel(&mut t, "real");
    t.remove("usr/lib/modules/real");
    t.file("opt/k/vmlinuz", 0o644, bytes("k")).unwrap().file("opt/k/initramfs.img", 0o644, bytes("i")).unwrap();
    t.symlink(&format!("usr/lib/modules/{K}"), "/opt/k").unwrap();
    assert_eq!(detect(&t).unwrap().unwrap().kver, K);
}

#[test]
fn a_dangling_or_odd_vmlinuz_is_an_error_naming_it() {
    let mut t = root();
    kernel(&mut t, K);
    t.symlink(&format!("usr/lib/modules/{K}/vmlinuz"), "/boot/gone").unwrap();
    let m = message(detect(&t));
    assert!(m.contains(&format!("/usr/lib/modules/{K}/vmlinuz is a symbolic link to /boot/gone, which is not in the image")), "{m}");
    t.remove(&format!("usr/lib/modules/{K}/vmlinuz"));
    t.dir(&format!("usr/lib/modules/{K}/vmlinuz"), 0o755).unwrap();
    assert!(message(detect(&t)).contains("vmlinuz is not a regular file"));
}

#[test]
fn several_kernels_are_an_error_naming_them() {
    let mut t = root();
    kernel(&mut t, K);
    kernel(&mut t, "6.1.0-49-amd64");
    let m = message(detect(&t));
    assert!(
        m.starts_with("several kernels: /usr/lib/modules/6.1.0-49-amd64/vmlinuz, /usr/lib/modules/6.1.0-50-amd64/vmlinuz; the contract does not say which"),
        "{m}"
    );
    assert!(m.contains("keep one"), "{m}");
    assert!(Error::Contract { message: m }.to_string().starts_with("contract mode: several kernels"));
    // A second directory with modules only is not a second kernel (image-builder too).
    let mut t = root();
    kernel(&mut t, K);
    t.file("usr/lib/modules/6.1.0-49-amd64/modules.dep", 0o644, bytes("")).unwrap();
    assert_eq!(detect(&t).unwrap().unwrap().kver, K);
}

#[test]
fn a_kernel_without_an_initramfs_is_an_error_saying_how_to_make_one() {
    let mut t = root();
    kernel(&mut t, K);
    t.remove(&format!("usr/lib/modules/{K}/initramfs.img"));
    let m = message(detect(&t));
    assert!(m.starts_with(&format!("/usr/lib/modules/{K}/vmlinuz has no initramfs.img beside it")), "{m}");
    assert!(m.contains(&format!("dracut --no-hostonly --add dmsquash-live --kver {K}")), "{m}");
}

#[test]
fn an_initramfs_or_iso_yaml_without_a_kernel_is_an_error() {
    let mut t = root();
    kernel(&mut t, K);
    t.remove(&format!("usr/lib/modules/{K}/vmlinuz"));
    let m = message(detect(&t));
    assert!(m.starts_with(&format!("the image has /usr/lib/modules/{K}/initramfs.img but no /usr/lib/modules/*/vmlinuz")), "{m}");
    assert!(m.contains("cp /boot/vmlinuz-$KVER"), "{m}");
    let mut t = root();
    t.file(ISO_YAML_PATHS[1], 0o644, bytes("label: A\n")).unwrap();
    let m = message(detect(&t));
    assert!(m.contains("/usr/lib/bootc-image-builder/iso.yaml but no /usr/lib/modules/*/vmlinuz"), "{m}");
}

#[test]
fn iso_yaml_is_read_from_the_new_place_first() {
    let mut t = root();
    kernel(&mut t, K);
    t.file(ISO_YAML_PATHS[1], 0o644, bytes("label: OLD\n")).unwrap();
    let c = detect(&t).unwrap().unwrap();
    assert_eq!((c.iso.unwrap().label.as_deref(), c.iso_yaml_path.as_deref()), (Some("OLD"), Some("/usr/lib/bootc-image-builder/iso.yaml")));
    t.file(ISO_YAML_PATHS[0], 0o644, bytes("label: NEW\n")).unwrap();
    let c = detect(&t).unwrap().unwrap();
    assert_eq!((c.iso.unwrap().label.as_deref(), c.iso_yaml_path.as_deref()), (Some("NEW"), Some("/usr/lib/image-builder/bootc/iso.yaml")));
    assert_eq!(c.warnings, ["/usr/lib/image-builder/bootc/iso.yaml is read; /usr/lib/bootc-image-builder/iso.yaml is not (image-builder reads the first too)"]);
}

#[test]
fn a_bad_iso_yaml_is_an_error_naming_the_file_line_and_key() {
    let mut t = root();
    kernel(&mut t, K);
    t.file(ISO_YAML_PATHS[1], 0o644, bytes("label: A\ngrub: {}\n")).unwrap();
    let m = message(detect(&t));
    assert!(m.starts_with("/usr/lib/bootc-image-builder/iso.yaml: unknown field `grub`") && m.contains("line 2"), "{m}");
    t.file(ISO_YAML_PATHS[1], 0o644, Data::Bytes(vec![0xff, 0xfe])).unwrap();
    assert!(message(detect(&t)).contains("cannot read it as UTF-8"));
}

fn contract(iso: Option<&str>) -> Contract {
    let mut t = root();
    kernel(&mut t, K);
    if let Some(text) = iso {
        t.file(ISO_YAML_PATHS[1], 0o644, bytes(text)).unwrap();
    }
    detect(&t).unwrap().unwrap()
}

#[test]
fn without_iso_yaml_the_menu_is_one_live_entry_with_the_default_label() {
    let m = contract(None).menu(&defaults()).unwrap();
    assert_eq!(m, LiveMenu { label: "KILN_LIVE".into(), timeout: 5, default: 0, entries: vec![("Live".into(), "root=live:CDLABEL=KILN_LIVE rd.live.image".into())] });
    let bad = MenuDefaults { label: "my image".into(), ..defaults() };
    let e = contract(None).menu(&bad).unwrap_err().to_string();
    assert!(e.starts_with("contract mode: the default label \"my image\" is not a usable ISO 9660 volume id"), "{e}");
}

#[test]
fn kernel_args_replace_the_default_command_line_when_there_are_no_entries() {
    let c = contract(Some("label: MINE\nkernel_args: [\"root=live:CDLABEL=MINE\", rd.live.image, \"console=ttyS0\"]\ngrub2: {timeout: \"2\"}\n"));
    let m = c.menu(&defaults()).unwrap();
    assert_eq!((m.label.as_str(), m.timeout), ("MINE", 2));
    assert_eq!(m.entries, [("Live".to_string(), "root=live:CDLABEL=MINE rd.live.image console=ttyS0".to_string())]);
    // The label alone: the default command line names it.
    let m = contract(Some("label: MINE\n")).menu(&defaults()).unwrap();
    assert_eq!(m.entries[0].1, "root=live:CDLABEL=MINE rd.live.image");
}

#[test]
fn entries_are_the_menu_verbatim_and_kernel_args_then_do_nothing() {
    let text = "label: KILN_DRACUT\nkernel_args: [quiet]\ngrub2:\n  default: Rescue\n  timeout: 1\n  entries:\n    - name: Live\n      linux: /images/pxeboot/vmlinuz root=live:CDLABEL=KILN_DRACUT rd.live.image console=ttyS0\n      initrd: /images/pxeboot/initrd.img\n    - name: Rescue\n      linux: /images/pxeboot/vmlinuz root=live:CDLABEL=KILN_DRACUT rd.live.image rd.break\n      initrd: /images/pxeboot/initrd.img\n";
    let c = contract(Some(text));
    assert_eq!(c.warnings.len(), 1);
    assert!(c.warnings[0].contains("kernel_args has no effect: grub2.entries are given"), "{:?}", c.warnings);
    let e = &c.iso.as_ref().unwrap().entries[1];
    assert_eq!(e, &Grub2Entry { name: "Rescue".into(), args: "root=live:CDLABEL=KILN_DRACUT rd.live.image rd.break".into(), line: 10 });
    let m = c.menu(&defaults()).unwrap();
    assert_eq!((m.label.as_str(), m.timeout, m.default), ("KILN_DRACUT", 1, 1));
    assert_eq!(m.entries.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["Live", "Rescue"]);
    assert_eq!(m.entries[0].1, "root=live:CDLABEL=KILN_DRACUT rd.live.image console=ttyS0");
}

#[test]
fn an_entry_booting_another_label_is_an_error() {
    let text = "label: ONE\ngrub2:\n  entries:\n    - {name: x, linux: /images/pxeboot/vmlinuz root=live:CDLABEL=TWO, initrd: /images/pxeboot/initrd.img}\n";
    let e = contract(Some(text)).menu(&defaults()).unwrap_err().to_string();
    assert!(e.contains("entry \"x\" boots root=live:CDLABEL=TWO, but the ISO's label is \"ONE\"") && e.contains("write root=live:CDLABEL=ONE"), "{e}");
    // Without a label in the file the default label counts.
    let e = contract(Some("kernel_args: [root=live:CDLABEL=OTHER]\n")).menu(&defaults()).unwrap_err().to_string();
    assert!(e.contains("but the ISO's label is \"KILN_LIVE\""), "{e}");
}

#[test]
fn default_without_entries_names_the_one_made_entry() {
    assert_eq!(contract(Some("grub2: {default: 0}\n")).menu(&defaults()).unwrap().default, 0);
    assert_eq!(contract(Some("grub2: {default: Live}\n")).menu(&defaults()).unwrap().default, 0);
    let e = contract(Some("grub2: {default: 1}\n")).menu(&defaults()).unwrap_err().to_string();
    assert!(e.contains("grub2.default 1 names no entry: without grub2.entries the menu has one, \"Live\""), "{e}");
}
