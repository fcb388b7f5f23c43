//! Property tests of the init's config format and kernel command line, through the
//! public API only.
//!
//! The defaults keep `cargo test` fast; set `PROPTEST_CASES=20000` for a long run
//! (see ARCHITECTURE.md, "Testing").

use kiln_init::cmdline::kernel_words;
use kiln_init::config::{quote, split_words};
use kiln_init::{Cmdline, Command, Config, ExtraMount, Restart, Service};
use proptest::prelude::*;

/// `cases` unless `PROPTEST_CASES` is set (the long runs).
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

/// Characters that mean something to the tokenizer or to a shell, and Unicode
/// white space and line separators that `char::is_whitespace` knows.
const SPECIAL: &[&str] = &[
    "", " ", "\t", "\r", "\u{b}", "\u{c}", "\u{85}", "\u{a0}", "\u{2028}", "\u{3000}", "#",
    "#x", "'", "\"", "\\", "\\\\", "$", "$x", "${x}", "`", "a b", "x=y", "-", "--", "é", "\u{7f}",
    "'\"'", "\"'\"",
];

/// A word as it may appear in a value: no NUL, no newline.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9/._-]{1,8}",
        3 => "[^\u{0}\n]{0,10}",
        2 => prop::collection::vec(prop::sample::select(SPECIAL), 1..4).prop_map(|v| v.concat()),
    ]
}

/// A command: a non-empty program name that is not one of the option words
/// (`timeout=`, `stop_timeout=`), then any arguments.
fn argv() -> impl Strategy<Value = Vec<String>> {
    let program = word().prop_filter("a program name", |w| {
        !w.is_empty() && !w.starts_with("timeout=") && !w.starts_with("stop_timeout=") && !w.starts_with("user=")
    });
    (program, prop::collection::vec(word(), 0..3)).prop_map(|(p, mut rest)| {
        rest.insert(0, p);
        rest
    })
}

/// A name `onboot` and `service` accept (it names a log file).
fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.@-]{1,8}".prop_filter("not . or ..", |n| n != "." && n != "..")
}

fn restart() -> impl Strategy<Value = Restart> {
    prop::sample::select(vec![Restart::Always, Restart::OnFailure, Restart::Never])
}

fn mount() -> impl Strategy<Value = ExtraMount> {
    let nonempty = || word().prop_filter("non-empty", |w| !w.is_empty());
    (nonempty(), word(), nonempty(), prop::option::of(word())).prop_map(
        |(source, target, fstype, options)| ExtraMount {
            source,
            target: format!("/{target}"),
            fstype,
            options,
        },
    )
}

/// A config `Config::check` accepts: valid names and keys, unique service names,
/// no NUL or newline anywhere. Options added to `Config` later keep their defaults
/// (`..Config::default()`), so the round trip still holds for them.
#[allow(clippy::needless_update)]
fn valid_config() -> impl Strategy<Value = Config> {
    let hostname = "[A-Za-z0-9][A-Za-z0-9.-]{0,19}";
    let env = ("[A-Za-z_][A-Za-z0-9_]{0,8}", word());
    let timeout = || 1..=kiln_init::rules::MAX_TIMEOUT_SECS;
    let user = || prop::option::of((any::<u32>(), any::<u32>()));
    let services = prop::collection::vec((name(), restart(), timeout(), user(), argv()), 0..4).prop_map(|v| {
        let mut seen = std::collections::BTreeSet::new();
        v.into_iter()
            .filter(|(n, ..)| seen.insert(n.clone()))
            .map(|(name, restart, stop_timeout_secs, user, argv)| Service { name, restart, argv, stop_timeout_secs, user })
            .collect::<Vec<_>>()
    });
    (
        prop::option::of(hostname),
        prop::collection::vec(env, 0..4),
        prop::collection::vec(mount(), 0..3),
        prop::collection::vec((name(), timeout(), argv()), 0..3),
        services,
        prop::option::of((argv(), user())),
        prop::option::of(word().prop_map(|w| format!("/{w}"))),
    )
        .prop_map(|(hostname, env, mounts, onboot, services, shell, workdir)| Config {
            hostname,
            env,
            mounts,
            onboot: onboot.into_iter().map(|(name, timeout_secs, argv)| Command { name, argv, timeout_secs }).collect(),
            services,
            shell_user: shell.as_ref().and_then(|(_, u)| *u),
            shell: shell.map(|(argv, _)| argv),
            workdir,
            ..Config::default()
        })
}

/// Text that looks like a config: keywords, odd words, quotes, comments, CRLF.
fn config_like_text() -> impl Strategy<Value = String> {
    let keyword = prop::sample::select(vec![
        "hostname", "env", "mount", "onboot", "service", "shell", "workdir", "#", "bogus", "",
    ]);
    let piece = prop_oneof![word(), Just("\"".to_string()), Just("'".to_string())];
    let line = (keyword, prop::collection::vec(piece, 0..6), prop::sample::select(vec![" ", "\t", ""]))
        .prop_map(|(k, rest, sep)| format!("{k}{sep} {}", rest.join(" ")));
    let end = prop::sample::select(vec!["\n", "\r\n", "\n\n"]);
    prop::collection::vec((line, end), 0..8)
        .prop_map(|lines| lines.into_iter().map(|(l, e)| l + e).collect())
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), config_like_text()]
}

proptest! {
    #![proptest_config(config(128))]

    /// `render` then `parse` gives back the same config, with no errors.
    #[test]
    fn render_parse_round_trip(c in valid_config()) {
        prop_assert_eq!(c.check(), Ok(()));
        let text = c.render();
        let (back, errors) = Config::parse(&text);
        prop_assert!(errors.is_empty(), "{:?}\n{}", errors, text);
        prop_assert_eq!(back, c);
    }

    /// `quote` output reads back as the one word it quoted, alone or in a line.
    #[test]
    fn quote_split_round_trip(words in prop::collection::vec(word(), 1..5)) {
        for w in &words {
            prop_assert_eq!(split_words(&quote(w)), Ok(vec![w.clone()]), "{:?}", quote(w));
        }
        let line: Vec<String> = words.iter().map(|w| quote(w)).collect();
        prop_assert_eq!(split_words(&line.join(" ")), Ok(words));
    }

    /// `parse` never panics; errors carry real line numbers; whatever it accepted
    /// renders to text that parses, without errors, to the same config.
    #[test]
    fn parse_is_total_and_stable(text in any_text()) {
        let (c, errors) = Config::parse(&text);
        let lines = text.lines().count();
        for e in &errors {
            prop_assert!((1..=lines).contains(&e.line), "{:?} in {} lines", e, lines);
            prop_assert!(e.to_string().starts_with("/etc/kiln/init.conf:"));
        }
        let (again, errors) = Config::parse(&c.render());
        prop_assert!(errors.is_empty(), "{:?}\n{}", errors, c.render());
        prop_assert_eq!(&again, &c);
        prop_assert_eq!(again.render(), c.render());
    }

    /// The kernel command line parser never panics, reports each warning once, and
    /// only about `kiln.*` words.
    #[test]
    fn cmdline_parse_is_total(text in prop_oneof![
        any::<String>(),
        prop::collection::vec(
            prop_oneof![
                word(),
                word().prop_map(|w| format!("kiln.{w}")),
                (prop::sample::select(vec!["rescue", "hostname", "env", "break"]), word())
                    .prop_map(|(k, v)| format!("kiln.{k}={v}")),
            ],
            0..8,
        )
        .prop_map(|w| w.join(" ")),
    ]) {
        let c = Cmdline::parse(&text);
        let kiln_words = kernel_words(&text).iter().filter(|w| w.starts_with("kiln.")).count();
        prop_assert!(c.warnings.len() <= kiln_words);
        for (i, w) in c.warnings.iter().enumerate() {
            prop_assert!(!c.warnings[..i].contains(w), "{:?} twice", w);
        }
        if let Some(h) = &c.hostname {
            prop_assert!(!h.is_empty() && !h.contains('/') && h.len() <= 64);
        }
    }
}
