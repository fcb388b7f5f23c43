use super::*;

fn w(line: &str) -> Vec<String> {
    split_words(line).unwrap()
}

#[test]
fn tokenizer_basics() {
    assert_eq!(w("  a  b\tc "), ["a", "b", "c"]);
    assert_eq!(w("# only a comment"), Vec::<String>::new());
    assert_eq!(w("a b # trailing"), ["a", "b"]);
    assert_eq!(w("a#b"), ["a#b"]);
    assert_eq!(
        w(r#"say "hello world" 'it''s' x\ y"#),
        ["say", "hello world", "its", "x y"]
    );
    assert_eq!(w(r#""" ''"#), ["", ""]);
    assert_eq!(w(r#""a\"b\\c\$d\n""#), ["a\"b\\c$d\\n"]);
    assert_eq!(w(r#"'a\b"c'"#), ["a\\b\"c"]);
    assert_eq!(w(r#"pre"mid"'post'"#), ["premidpost"]);
    assert_eq!(w(r"\#not-comment"), ["#not-comment"]);
}

#[test]
fn tokenizer_errors() {
    assert!(split_words("a 'b").is_err());
    assert!(split_words("a \"b").is_err());
    assert!(split_words("a \\").is_err());
}

#[test]
fn parse_full() {
    let text = r#"
# comment
hostname demo
env GREETING="hello world"
env PATH=/bin
mount none /mnt/data tmpfs size=16m,mode=0755
mount /dev/vda /data ext4
onboot banner /bin/echo 'booted!'
service httpd always /sbin/httpd -f -p 80
service once never /bin/true
shell /bin/ash
"#;
    let (cfg, errors) = Config::parse(text);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(cfg.hostname.as_deref(), Some("demo"));
    assert_eq!(
        cfg.env,
        [
            ("GREETING".to_string(), "hello world".to_string()),
            ("PATH".to_string(), "/bin".to_string())
        ]
    );
    assert_eq!(cfg.mounts.len(), 2);
    assert_eq!(cfg.mounts[0].options.as_deref(), Some("size=16m,mode=0755"));
    assert_eq!(cfg.mounts[1].options, None);
    assert_eq!(cfg.onboot[0].argv, ["/bin/echo", "booted!"]);
    assert_eq!(cfg.services[0].restart, Restart::Always);
    assert_eq!(cfg.services[1].restart, Restart::Never);
    assert_eq!(cfg.shell_argv(), ["/bin/ash"]);
    let env = cfg.environment(&[("TERM".into(), "vt100".into())]);
    assert_eq!(env[0], ("PATH".into(), "/bin".into()));
    assert_eq!(env[2], ("TERM".into(), "vt100".into()));
    assert_eq!(env[3].0, "GREETING");
}

#[test]
fn parse_errors_have_line_numbers() {
    let text = "hostname ok\n\nhostnam typo\nenv NOEQUALS\nservice s sometimes /bin/x\nmount a rel tmpfs\nonboot x 'open\nservice a always /bin/a\nservice a never /bin/a\nshell\n";
    let (cfg, errors) = Config::parse(text);
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7, 9, 10]);
    assert_eq!(
        errors[0].to_string(),
        "/etc/kiln/init.conf:3: unknown keyword 'hostnam'"
    );
    // Good lines still count.
    assert_eq!(cfg.hostname.as_deref(), Some("ok"));
    assert_eq!(cfg.services.len(), 1);
    assert_eq!(cfg.shell, None);
}

#[test]
fn defaults() {
    let (cfg, errors) = Config::parse("");
    assert!(errors.is_empty());
    assert_eq!(cfg, Config::default());
    assert_eq!(cfg.hostname_or_default(), "kiln");
    assert_eq!(cfg.shell_argv(), ["/bin/sh", "-l"]);
    let env = cfg.environment(&[]);
    assert_eq!(env.len(), 3);
    assert_eq!(
        env[0],
        ("PATH".into(), "/bin:/sbin:/usr/bin:/usr/sbin".into())
    );
}

#[test]
fn render_round_trips() {
    let cfg = Config {
        hostname: Some("box-1".into()),
        env: vec![
            ("A".into(), "".into()),
            ("B".into(), "with space and 'single' and \"double\"".into()),
            ("C".into(), "back\\slash $HOME `x` #hash".into()),
        ],
        mounts: vec![
            ExtraMount {
                source: "none".into(),
                target: "/mnt/my dir".into(),
                fstype: "tmpfs".into(),
                options: Some("size=1m,mode=0700".into()),
            },
            ExtraMount {
                source: "#src".into(),
                target: "/x".into(),
                fstype: "9p".into(),
                options: None,
            },
        ],
        onboot: vec![
            Command::new("greet", &["/bin/echo", "", "a b", "it's"]),
            Command {
                timeout_secs: 5,
                ..Command::new("slow", &["/bin/sleep", "timeout=3"])
            },
        ],
        services: vec![
            Service::new("web", Restart::OnFailure, &["/bin/httpd", "-f", "\t tab", "ünï"]),
            Service {
                stop_timeout_secs: 1,
                ..Service::new("db@1", Restart::Never, &["/bin/db"])
            },
            Service {
                user: Some((1000, 100)),
                ..Service::new("app", Restart::Always, &["/bin/app", "user=x"])
            },
        ],
        shell: Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo \"hi\"; exec sh".into(),
        ]),
        workdir: Some("/srv/my app".into()),
        shell_user: Some((0, 5)),
    };
    assert_eq!(cfg.check(), Ok(()));
    let text = cfg.render();
    let (back, errors) = Config::parse(&text);
    assert!(errors.is_empty(), "{errors:?}\n{text}");
    assert_eq!(back, cfg, "{text}");
    assert_eq!(Config::default().render().lines().count(), 1);
    assert_eq!(
        Config::parse(&Config::default().render()).0,
        Config::default()
    );
}

#[test]
fn check_rejects_unrepresentable() {
    let mut cfg = Config::default();
    cfg.env.push(("K".into(), "two\nlines".into()));
    assert!(cfg.check().is_err());
    let mut cfg = Config::default();
    cfg.env.push(("1BAD".into(), "v".into()));
    assert!(cfg.check().is_err());
    let mut cfg = Config::default();
    cfg.services.push(Service::new("a/b", Restart::Always, &["/bin/x"]));
    assert!(cfg.check().is_err());
}

/// `check` names the entry and applies the same rules as `parse` (issue 8:
/// these built fine and were dropped at boot).
#[test]
fn check_names_what_is_wrong() {
    let err = |f: &dyn Fn(&mut Config)| {
        let mut cfg = Config::default();
        f(&mut cfg);
        cfg.check().unwrap_err()
    };
    assert!(
        err(&|c| c.hostname = Some("my host\nname".into())).starts_with("hostname: invalid hostname 'my host\\nname'"),
        "{}",
        err(&|c| c.hostname = Some("my host\nname".into()))
    );
    assert_eq!(
        err(&|c| c.env.push(("A B".into(), "x".into()))),
        "env 'A B': invalid environment variable name 'A B'"
    );
    assert!(err(&|c| c.onboot.push(Command::new("x", &[]))).starts_with("onboot 'x': empty command"));
    assert!(err(&|c| c.onboot.push(Command { timeout_secs: 0, ..Command::new("x", &["/bin/x"]) }))
        .starts_with("onboot 'x': timeout 0 s out of range"));
    assert!(err(&|c| c.onboot.push(Command::new("x", &["timeout=1"]))).contains("would be read as an option"));
    assert!(err(&|c| {
        c.services.push(Service::new("s", Restart::Always, &["/bin/a"]));
        c.services.push(Service::new("s", Restart::Never, &["/bin/b"]));
    })
    .contains("duplicate service"));
    assert!(err(&|c| c.shell = Some(vec![])).starts_with("shell: empty command"));
    assert!(err(&|c| c.mounts.push(ExtraMount {
        source: "x".into(),
        target: "rel".into(),
        fstype: "tmpfs".into(),
        options: None
    }))
    .starts_with("mount 'rel': mount target 'rel' is not an absolute path"));
}

#[test]
fn timeouts_parse_render_and_default() {
    let text = "onboot a /bin/a\nonboot b timeout=5 /bin/b x\nservice s always /bin/s\nservice t on-failure stop_timeout=2 /bin/t\n";
    let (cfg, errors) = Config::parse(text);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(cfg.onboot[0].timeout_secs, DEFAULT_ONBOOT_TIMEOUT_SECS);
    assert_eq!(cfg.onboot[1].timeout_secs, 5);
    assert_eq!(cfg.onboot[1].argv, ["/bin/b", "x"]);
    assert_eq!(cfg.services[0].stop_timeout_secs, DEFAULT_STOP_TIMEOUT_SECS);
    assert_eq!(cfg.services[1].stop_timeout_secs, 2);
    assert_eq!(cfg.services[1].argv, ["/bin/t"]);
    // Defaults are not written out; other values are.
    let rendered = cfg.render();
    assert!(rendered.contains("onboot a /bin/a\n"), "{rendered}");
    assert!(rendered.contains("onboot b timeout=5 /bin/b x\n"), "{rendered}");
    assert!(rendered.contains("service t on-failure stop_timeout=2 /bin/t\n"), "{rendered}");
    assert_eq!(Config::parse(&rendered).0, cfg);

    let bad = "onboot a timeout=0 /bin/a\nonboot b timeout=x /bin/b\nonboot c timeout=5\nservice s always stop_timeout=99999999 /bin/s\nservice t always stop_timeout=3\n";
    let (cfg, errors) = Config::parse(bad);
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [1, 2, 3, 4, 5], "{errors:?}");
    assert!(cfg.onboot.is_empty() && cfg.services.is_empty());
    assert_eq!(errors[2].message, "usage: onboot NAME [timeout=SECS] ARGV...");
}

#[test]
fn load_says_why_it_uses_the_defaults() {
    use crate::fake_sys::Fake;
    use rustix::io::Errno;
    let mut f = Fake::default();
    let l = load(&mut f);
    assert_eq!(l.config, Config::default());
    assert_eq!(
        l.messages,
        ["/etc/kiln/init.conf: no such file or directory; using the built-in defaults"]
    );
    f.files.insert(crate::CONFIG_PATH, Err(Errno::ISDIR));
    assert_eq!(
        load(&mut f).messages,
        ["/etc/kiln/init.conf: is a directory; using the built-in defaults"]
    );
    f.files.insert(crate::CONFIG_PATH, Err(Errno::ILSEQ));
    assert_eq!(
        load(&mut f).messages,
        ["/etc/kiln/init.conf: not UTF-8 text; using the built-in defaults"]
    );
    f.files.insert(crate::CONFIG_PATH, Ok("hostname box\nhostnam typo\n".into()));
    let l = load(&mut f);
    assert_eq!(l.config.hostname.as_deref(), Some("box"));
    assert_eq!(l.messages, ["/etc/kiln/init.conf:2: unknown keyword 'hostnam'"]);
    f.files.insert(crate::CONFIG_PATH, Ok(String::new()));
    assert!(load(&mut f).messages.is_empty(), "an empty file is fine");
}

#[test]
fn quote_plain_and_special() {
    assert_eq!(quote("abc/-_.=:"), "abc/-_.=:");
    assert_eq!(quote(""), "\"\"");
    assert_eq!(quote("a b"), "\"a b\"");
    assert_eq!(quote("#x"), "\"#x\"");
    for s in ["", "a b", "\"", "'", "\\", "$x", "`", "# c", "  "] {
        assert_eq!(split_words(&quote(s)).unwrap(), [s]);
    }
}

#[test]
fn workdir_is_one_absolute_path() {
    let (c, errors) = Config::parse("workdir /opt/app\n");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(c.workdir.as_deref(), Some("/opt/app"));
    assert!(c.render().contains("\nworkdir /opt/app\n"));
    for (bad, why) in [("workdir opt", "not an absolute path"), ("workdir", "usage: workdir DIR"), ("workdir /a /b", "usage: workdir DIR")] {
        let (c, errors) = Config::parse(bad);
        assert_eq!(c.workdir, None, "{bad}");
        assert!(errors[0].message.contains(why), "{bad}: {errors:?}");
    }
    let cfg = Config { workdir: Some("rel".into()), ..Config::default() };
    assert!(cfg.check().unwrap_err().starts_with("workdir: working directory 'rel' is not an absolute path"), "{:?}", cfg.check());
}

#[test]
fn services_and_the_shell_can_run_as_a_user() {
    let text = "service app always stop_timeout=3 user=1000:1000 /bin/app -v\nshell user=65534:65534 /bin/sh -l\n";
    let (c, errors) = Config::parse(text);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(c.services[0].user, Some((1000, 1000)));
    assert_eq!((c.services[0].stop_timeout_secs, c.services[0].argv.len()), (3, 2));
    assert_eq!(c.shell_user, Some((65534, 65534)));
    assert_eq!(c.shell.as_deref(), Some(&["/bin/sh".to_string(), "-l".to_string()][..]));
    assert_eq!(Config::parse(&c.render()).0, c, "{}", c.render());
    // Without the option: root, and a program whose name looks like the option is refused.
    assert_eq!(Config::parse("service s always /bin/s\n").0.services[0].user, None);
    for (bad, why) in [
        ("service s always user=1000 /bin/s", "not UID:GID"),
        ("service s always user=a:b /bin/s", "not UID:GID"),
        ("service s always user=-1:0 /bin/s", "not UID:GID"),
        ("shell user=1:2", "usage: shell [user=UID:GID] ARGV..."),
    ] {
        let (_, errors) = Config::parse(bad);
        assert!(errors.first().is_some_and(|e| e.message.contains(why)), "{bad}: {errors:?}");
    }
    let cfg = Config { shell_user: Some((1, 1)), ..Config::default() };
    assert!(cfg.check().unwrap_err().contains("set shell too"));
    let cfg = Config { services: vec![Service::new("s", Restart::Always, &["user=1:1"])], ..Config::default() };
    assert!(cfg.check().unwrap_err().contains("would be read as an option"), "{:?}", cfg.check());
}
