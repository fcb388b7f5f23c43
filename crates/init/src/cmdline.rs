//! `kiln.*` options on the kernel command line (`/proc/cmdline`).
//!
//! | option               | effect                                                   |
//! |----------------------|----------------------------------------------------------|
//! | `kiln.rescue`        | on a fatal failure, start a rescue shell before power-off |
//! | `kiln.hostname=NAME` | overrides the config's hostname                          |
//! | `kiln.env=KEY=VALUE` | extra environment for all children (repeatable)          |
//! | `kiln.break=panic`   | panic right after the mounts (tests the failure path)    |
//! | `kiln.break=mount`   | act as if an essential mount failed                      |

#[allow(unused_imports)]
use crate::prelude::*;

use crate::rules::{check_hostname, parse_env};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    Panic,
    Mount,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cmdline {
    pub rescue: bool,
    pub hostname: Option<String>,
    pub env: Vec<(String, String)>,
    pub brk: Option<Break>,
    /// Problems to report once (unknown `kiln.*` options, bad values).
    pub warnings: Vec<String>,
}

impl Cmdline {
    pub fn parse(text: &str) -> Cmdline {
        let mut c = Cmdline::default();
        for word in kernel_words(text) {
            let Some(opt) = word.strip_prefix("kiln.") else {
                continue;
            };
            let (key, value) = match opt.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (opt, None),
            };
            match (key, value) {
                ("rescue", None | Some("1") | Some("yes") | Some("on")) => c.rescue = true,
                ("rescue", Some("0") | Some("no") | Some("off")) => c.rescue = false,
                ("hostname", Some(h)) => match check_hostname(h) {
                    Ok(()) => c.hostname = Some(h.to_string()),
                    Err(e) => c.warn(format!("ignoring kernel option '{word}': {e}")),
                },
                ("env", Some(kv)) => match parse_env(kv) {
                    Ok(pair) => c.env.push(pair),
                    Err(e) => c.warn(format!("ignoring kernel option '{word}': {e}")),
                },
                ("break", Some("panic")) => c.brk = Some(Break::Panic),
                ("break", Some("mount")) => c.brk = Some(Break::Mount),
                ("rescue" | "break", _) | ("hostname", None) => {
                    c.warn(format!("ignoring kernel option '{word}': bad value"))
                }
                _ => c.warn(format!("ignoring unknown kernel option '{word}'")),
            }
        }
        c
    }

    fn warn(&mut self, msg: String) {
        if !self.warnings.contains(&msg) {
            self.warnings.push(msg);
        }
    }
}

/// Splits the command line like the kernel does: whitespace separates words
/// except inside double quotes; the quote characters themselves are dropped.
pub fn kernel_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut in_word = false;
    for c in text.chars() {
        if c == '"' {
            in_quotes = !in_quotes;
            in_word = true;
        } else if c.is_whitespace() && !in_quotes {
            if in_word {
                words.push(core::mem::take(&mut cur));
                in_word = false;
            }
        } else {
            cur.push(c);
            in_word = true;
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_options() {
        let c = Cmdline::parse(
            "console=ttyS0 quiet kiln.rescue kiln.hostname=box kiln.env=A=1 \
             kiln.env=\"B=two words\" kiln.break=panic root=/dev/ram0\n",
        );
        assert!(c.rescue);
        assert_eq!(c.hostname.as_deref(), Some("box"));
        assert_eq!(
            c.env,
            [("A".into(), "1".into()), ("B".into(), "two words".into())]
        );
        assert_eq!(c.brk, Some(Break::Panic));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn defaults_and_break_mount() {
        let c = Cmdline::parse("console=tty0 rdinit=/init");
        assert_eq!(c, Cmdline::default());
        assert_eq!(Cmdline::parse("kiln.break=mount").brk, Some(Break::Mount));
        assert!(!Cmdline::parse("kiln.rescue kiln.rescue=0").rescue);
    }

    #[test]
    fn unknown_options_reported_once() {
        let c = Cmdline::parse(
            "kiln.foo kiln.foo kiln.bar=1 kiln.break=fire kiln.env=nokey kiln.hostname=",
        );
        assert_eq!(
            c.warnings,
            [
                "ignoring unknown kernel option 'kiln.foo'",
                "ignoring unknown kernel option 'kiln.bar=1'",
                "ignoring kernel option 'kiln.break=fire': bad value",
                "ignoring kernel option 'kiln.env=nokey': expected KEY=VALUE, got 'nokey'",
                "ignoring kernel option 'kiln.hostname=': invalid hostname '' (1-64 letters, digits, - and ., starting with a letter or digit)",
            ]
        );
        assert_eq!(c.brk, None);
        assert!(c.env.is_empty());
    }

    #[test]
    fn kernel_word_splitting() {
        assert_eq!(
            kernel_words(" a  \"b c\" d=\"e f\"\n"),
            ["a", "b c", "d=e f"]
        );
        assert_eq!(kernel_words(""), Vec::<String>::new());
    }
}
