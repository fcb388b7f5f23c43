use super::*;

fn frag(name: &str, text: &str) -> Fragment {
    Fragment::parse(Path::new(name), text).unwrap()
}

#[test]
fn parses_set_unset_and_comments() {
    let f = frag("a.config", "# why: serial\nCONFIG_SERIAL_8250=y\n\n# CONFIG_TC is not set\nCONFIG_CMDLINE=\"x y\"\n");
    assert_eq!(f.settings.len(), 3);
    assert_eq!(f.settings[0], Setting { name: "CONFIG_SERIAL_8250".into(), value: Value::Set("y".into()), line: 2 });
    assert_eq!(f.settings[1].value, Value::Unset);
    assert_eq!(f.settings[2].value, Value::Set("\"x y\"".into()));
}

#[test]
fn syntax_errors_name_file_and_line() {
    let e = Fragment::parse(Path::new("kernel/x.config"), "CONFIG_A=y\nSERIAL=y\n").unwrap_err();
    assert!(e.to_string().starts_with("kernel/x.config:2:"), "{e}");
    let e = Fragment::parse(Path::new("k.config"), "CONFIG_A=y\nCONFIG_A=n\n").unwrap_err();
    assert!(e.to_string().contains("already set on line 1"), "{e}");
    let e = Fragment::parse(Path::new("k.config"), "CONFIG_A=\n").unwrap_err();
    assert!(e.to_string().contains("no value"), "{e}");
}

#[test]
fn merge_detects_conflicts_across_fragments() {
    let a = frag("a.config", "CONFIG_X=y\n");
    let b = frag("b.config", "\n# CONFIG_X is not set\n");
    let e = merge(&[a.clone(), b]).unwrap_err().to_string();
    assert!(e.contains("a.config:1") && e.contains("b.config:2") && e.contains("CONFIG_X"), "{e}");
    let moved = Fragment::parse(Path::new("/elsewhere/a.config"), "CONFIG_X=y\n").unwrap();
    assert_eq!(merge(std::slice::from_ref(&a)).unwrap(), merge(&[moved]).unwrap(), "independent of the checkout's path");
    let same = frag("c.config", "CONFIG_X=y\n");
    assert!(merge(&[a, same]).unwrap().contains("CONFIG_X=y\n"));
}

#[test]
fn merge_names_both_places_of_a_conflict() {
    let a = frag("kernel/a.config", "CONFIG_X=y\n");
    let b = frag("kernel/b.config", "# comment\n# CONFIG_X is not set\n");
    let e = merge(&[a, b]).unwrap_err().to_string();
    assert_eq!(e, "kernel/a.config:1 requests `CONFIG_X=y` but kernel/b.config:2 requests `# CONFIG_X is not set`; keep one");
}

#[test]
fn check_reports_dropped_and_changed_options() {
    let f = frag("k.config", "CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\n# CONFIG_D is not set\nCONFIG_E=\"s\"\n");
    let final_cfg = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=y\nCONFIG_E=\"s\"\n";
    let m = check(&[f], final_cfg);
    assert_eq!(m.len(), 2);
    assert_eq!((m[0].option.as_str(), m[0].got.clone()), ("CONFIG_B", Some(Value::Unset)));
    assert_eq!((m[1].option.as_str(), m[1].line), ("CONFIG_C", 3));
    assert_eq!(m[0].to_string(), "k.config:2: requested `CONFIG_B=y` but it ended up as `# CONFIG_B is not set`");
    assert_eq!(m[1].to_string(), "k.config:3: requested `# CONFIG_C is not set` but it ended up as `CONFIG_C=y`");

    let missing = check(&[frag("k.config", "CONFIG_ZZZ=y\n")], "");
    assert!(missing[0].to_string().contains("not in the final .config"));
}

#[test]
fn every_fragment_in_the_repo_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut all = Vec::new();
    for dir in ["kernel", "busybox"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "config") {
                let text = std::fs::read_to_string(&p).unwrap();
                let f = Fragment::parse(&p, &text).unwrap();
                // House rule: every option line is directly preceded by a comment saying why.
                let lines: Vec<&str> = text.lines().collect();
                for s in &f.settings {
                    let prev = lines[..s.line - 1].iter().rev().find(|l| !l.trim().is_empty());
                    let commented = prev.is_some_and(|l| l.starts_with('#') && !l.contains(" is not set"));
                    assert!(commented, "{}:{}: {} needs a comment", p.display(), s.line, s.name);
                }
                all.push(f);
            }
        }
    }
    assert!(!all.is_empty());
}

/// Issue 8, defect 8: `CONFIG_X=n` is Kconfig's own spelling of "is not set"; it was
/// kept as the value `n` and failed the strict check after a 20 s config run.
#[test]
fn n_means_is_not_set() {
    let f = frag("k.config", "# no block layer\nCONFIG_BLOCK=n\n");
    assert_eq!(f.settings[0].value, Value::Unset);
    assert!(check(std::slice::from_ref(&f), "# CONFIG_BLOCK is not set\n").is_empty());
    assert!(check(std::slice::from_ref(&f), "").is_empty(), "absent counts as not set");
    let other = frag("j.config", "# CONFIG_BLOCK is not set\n");
    assert!(merge(&[f, other]).is_ok(), "the two spellings agree");
}

/// Issue 8, defect 8: a trailing `# comment` became part of the value and failed late.
#[test]
fn inline_comments_are_rejected_when_parsed() {
    let bad = |text: &str| Fragment::parse(Path::new("busybox/x.config"), text).unwrap_err().to_string();
    let e = bad("# ok\nCONFIG_ASH=y # the shell\n");
    assert!(e.starts_with("busybox/x.config:2:") && e.contains("comment after the value") && e.contains("`# the shell`"), "{e}");
    let e = bad("CONFIG_ASH=y# the shell\n");
    assert!(e.contains("comment after the value"), "{e}");
    let e = bad("CONFIG_CMDLINE=\"console=ttyS0\" # serial\n");
    assert!(e.contains("comment after the value"), "{e}");
    let e = bad("# CONFIG_TC is not set # does not build\n");
    assert!(e.contains("text after `# CONFIG_TC is not set`"), "{e}");
    let e = bad("CONFIG_CMDLINE=\"console=ttyS0\n");
    assert!(e.contains("no closing quote"), "{e}");
    let e = bad("CONFIG_CMDLINE=console=ttyS0 quiet\n");
    assert!(e.contains("unexpected `quiet`"), "{e}");
    // A `#` or a space inside quotes is part of the string.
    let f = frag("k.config", "CONFIG_CMDLINE=\"a # b \\\" c\"\n");
    assert_eq!(f.settings[0].value, Value::Set("\"a # b \\\" c\"".into()));
}

mod props {
    use super::*;
    use proptest::collection::{btree_map, vec};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn name() -> impl Strategy<Value = String> {
        "[A-Z][A-Z0-9_]{0,12}".prop_map(|n| format!("CONFIG_{n}"))
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Unset),
            Just(Value::Set("y".into())),
            Just(Value::Set("m".into())),
            (0u32..100_000).prop_map(|n| Value::Set(n.to_string())),
            (0u32..0xffff).prop_map(|n| Value::Set(format!("0x{n:x}"))),
            // Quoted strings, with spaces, `#`, `=` and escaped quotes and backslashes.
            vec(prop_oneof!["[a-z0-9 =#/._,-]", Just("\\\"".to_string()), Just("\\\\".to_string())], 0..12)
                .prop_map(|parts| Value::Set(format!("\"{}\"", parts.concat()))),
        ]
    }

    fn settings() -> impl Strategy<Value = BTreeMap<String, Value>> {
        btree_map(name(), value(), 0..20)
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in "(CONFIG_|# CONFIG_| is not set|[A-Z_]|=|n|y|\"|\\\\|#| |\t|\n|é){0,60}") {
            let _ = Fragment::parse(Path::new("p.config"), &text);
        }

        #[test]
        fn parse_never_panics_on_any_text(text in any::<String>()) {
            let _ = Fragment::parse(Path::new("p.config"), &text);
        }

        #[test]
        fn render_then_parse_gives_the_settings_back(settings in settings()) {
            let list: Vec<(String, Value)> = settings.into_iter().collect();
            let f = Fragment::parse(Path::new("r.config"), &render(&list)).unwrap();
            let back: Vec<(String, Value)> = f.settings.iter().map(|s| (s.name.clone(), s.value.clone())).collect();
            prop_assert_eq!(back, list);
        }

        #[test]
        fn merging_consistent_fragments_keeps_every_setting(
            settings in settings(),
            picks in vec(vec(any::<bool>(), 20), 1..4),
        ) {
            // Split one consistent set of settings over several fragments, overlapping;
            // every setting lands in at least one.
            let list: Vec<(String, Value)> = settings.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
            let mut parts: Vec<Vec<(String, Value)>> = vec![Vec::new(); picks.len()];
            for (i, setting) in list.iter().enumerate() {
                let mut placed = false;
                for (f, pick) in picks.iter().enumerate() {
                    if pick[i % pick.len()] {
                        parts[f].push(setting.clone());
                        placed = true;
                    }
                }
                if !placed {
                    let n = parts.len();
                    parts[i % n].push(setting.clone());
                }
            }
            let fragments: Vec<Fragment> = parts
                .iter()
                .enumerate()
                .map(|(i, p)| Fragment::parse(Path::new(&format!("{i}.config")), &render(p)).unwrap())
                .collect();
            let merged = merge(&fragments).unwrap();
            let have = parse_dotconfig(&merged);
            for (name, value) in &settings {
                prop_assert_eq!(have.get(name), Some(value), "{} in\n{}", name, merged);
            }
            prop_assert!(check(&fragments, &merged).is_empty());
        }
    }
}
