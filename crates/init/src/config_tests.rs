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
        onboot: vec![Command {
            name: "greet".into(),
            argv: vec!["/bin/echo".into(), "".into(), "a b".into(), "it's".into()],
        }],
        services: vec![Service {
            name: "web".into(),
            restart: Restart::OnFailure,
            argv: vec![
                "/bin/httpd".into(),
                "-f".into(),
                "\t tab".into(),
                "ünï".into(),
            ],
        }],
        shell: Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo \"hi\"; exec sh".into(),
        ]),
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
    cfg.services.push(Service {
        name: "a/b".into(),
        restart: Restart::Always,
        argv: vec!["/bin/x".into()],
    });
    assert!(cfg.check().is_err());
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
