//! `/etc/kiln/init.conf`: a line-based format with shell-like words.
//!
//! ```text
//! # comment
//! hostname demo
//! env GREETING="hello world"
//! mount none /mnt/data tmpfs size=16m,mode=0755
//! onboot banner /bin/echo 'booted!'
//! service httpd always /sbin/httpd -f -p 80
//! shell /bin/sh -l
//! ```
//!
//! [`Config::parse`] never fails as a whole: bad lines are returned as
//! [`ConfigError`]s (with line numbers) and skipped. [`Config::render`]
//! produces text that parses back to the same `Config`.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::policy::Restart;
use core::fmt;

/// Environment every child gets unless overridden (by `env` lines or
/// `kiln.env=` on the kernel command line).
pub const DEFAULT_ENV: &[(&str, &str)] = &[
    ("PATH", "/bin:/sbin:/usr/bin:/usr/sbin"),
    ("HOME", "/root"),
    ("TERM", "linux"),
];

/// Default console shell.
pub const DEFAULT_SHELL: &[&str] = &["/bin/sh", "-l"];

/// Default hostname when neither config nor command line set one.
pub const DEFAULT_HOSTNAME: &str = "kiln";

/// The parsed config. `Config::default()` is what a missing file means.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// `hostname NAME`.
    pub hostname: Option<String>,
    /// `env KEY=VALUE` lines, in order (applied over [`DEFAULT_ENV`]).
    pub env: Vec<(String, String)>,
    /// `mount SOURCE TARGET FSTYPE [OPTIONS]`, mounted after the built-in table.
    pub mounts: Vec<ExtraMount>,
    /// `onboot NAME ARGV...`, run once, in order, each waited for.
    pub onboot: Vec<Command>,
    /// `service NAME RESTART ARGV...`, supervised.
    pub services: Vec<Service>,
    /// `shell ARGV...`; `None` means [`DEFAULT_SHELL`].
    pub shell: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraMount {
    pub source: String,
    pub target: String,
    pub fstype: String,
    /// Comma-separated options, passed to mount(2) as `data`.
    pub options: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub name: String,
    pub argv: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Also names the log file `/var/log/NAME.log`.
    pub name: String,
    pub restart: Restart,
    pub argv: Vec<String>,
}

/// A bad line; displayed as `/etc/kiln/init.conf:3: unknown keyword 'hostnam'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", crate::CONFIG_PATH, self.line, self.message)
    }
}

impl core::error::Error for ConfigError {}

impl Config {
    /// Parses the config text. Bad lines are reported and skipped.
    pub fn parse(text: &str) -> (Config, Vec<ConfigError>) {
        let mut cfg = Config::default();
        let mut errors = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let words = match split_words(line) {
                Ok(w) => w,
                Err(message) => {
                    errors.push(ConfigError {
                        line: i + 1,
                        message,
                    });
                    continue;
                }
            };
            if let Err(message) = cfg.apply(&words) {
                errors.push(ConfigError {
                    line: i + 1,
                    message,
                });
            }
        }
        (cfg, errors)
    }

    fn apply(&mut self, words: &[String]) -> Result<(), String> {
        let Some((kw, args)) = words.split_first() else {
            return Ok(());
        };
        let want = |ok: bool, usage: &str| {
            if ok {
                Ok(())
            } else {
                Err(format!("usage: {usage}"))
            }
        };
        match kw.as_str() {
            "hostname" => {
                want(args.len() == 1, "hostname NAME")?;
                check_hostname(&args[0])?;
                self.hostname = Some(args[0].clone());
            }
            "env" => {
                want(args.len() == 1, "env KEY=VALUE")?;
                self.env.push(parse_env(&args[0])?);
            }
            "mount" => {
                want(
                    (3..=4).contains(&args.len()),
                    "mount SOURCE TARGET FSTYPE [OPTIONS]",
                )?;
                let m = ExtraMount {
                    source: args[0].clone(),
                    target: args[1].clone(),
                    fstype: args[2].clone(),
                    options: args.get(3).cloned(),
                };
                check_mount(&m)?;
                self.mounts.push(m);
            }
            "onboot" => {
                want(args.len() >= 2, "onboot NAME ARGV...")?;
                check_name(&args[0])?;
                self.onboot.push(Command {
                    name: args[0].clone(),
                    argv: args[1..].to_vec(),
                });
            }
            "service" => {
                want(
                    args.len() >= 3,
                    "service NAME always|on-failure|never ARGV...",
                )?;
                check_name(&args[0])?;
                if self.services.iter().any(|s| s.name == args[0]) {
                    return Err(format!("duplicate service '{}'", args[0]));
                }
                let restart = Restart::parse(&args[1]).ok_or_else(|| {
                    format!(
                        "unknown restart policy '{}' (want always, on-failure or never)",
                        args[1]
                    )
                })?;
                self.services.push(Service {
                    name: args[0].clone(),
                    restart,
                    argv: args[2..].to_vec(),
                });
            }
            "shell" => {
                want(!args.is_empty(), "shell ARGV...")?;
                self.shell = Some(args.to_vec());
            }
            other => return Err(format!("unknown keyword '{other}'")),
        }
        Ok(())
    }

    /// Renders the config as text that [`Config::parse`] turns back into an
    /// equal `Config`. Call [`Config::check`] first: values that `parse`
    /// would reject (e.g. newlines) cannot round-trip.
    pub fn render(&self) -> String {
        let mut out = String::from("# generated by kiln; see crates/init/README.md\n");
        let mut line = |words: &[&str]| {
            let quoted: Vec<String> = words.iter().map(|w| quote(w)).collect();
            out.push_str(&quoted.join(" "));
            out.push('\n');
        };
        if let Some(h) = &self.hostname {
            line(&["hostname", h]);
        }
        for (k, v) in &self.env {
            line(&["env", &format!("{k}={v}")]);
        }
        for m in &self.mounts {
            let mut w = vec!["mount", &m.source, &m.target, &m.fstype];
            if let Some(o) = &m.options {
                w.push(o);
            }
            line(&w);
        }
        for c in &self.onboot {
            let mut w = vec!["onboot", c.name.as_str()];
            w.extend(c.argv.iter().map(String::as_str));
            line(&w);
        }
        for s in &self.services {
            let mut w = vec!["service", s.name.as_str(), s.restart.as_str()];
            w.extend(s.argv.iter().map(String::as_str));
            line(&w);
        }
        if let Some(sh) = &self.shell {
            let mut w = vec!["shell"];
            w.extend(sh.iter().map(String::as_str));
            line(&w);
        }
        out
    }

    /// Validates a `Config` built in code (e.g. by the build tool), with the
    /// same rules `parse` applies. Returns the first problem found.
    pub fn check(&self) -> Result<(), String> {
        let (back, errors) = Config::parse(&self.render());
        if let Some(e) = errors.first() {
            return Err(e.message.clone());
        }
        if &back != self {
            return Err("config does not survive render/parse (newline or NUL in a value?)".into());
        }
        Ok(())
    }

    /// The hostname to use: config value or [`DEFAULT_HOSTNAME`].
    pub fn hostname_or_default(&self) -> &str {
        self.hostname.as_deref().unwrap_or(DEFAULT_HOSTNAME)
    }

    /// The console shell argv: config value or [`DEFAULT_SHELL`].
    pub fn shell_argv(&self) -> Vec<String> {
        match &self.shell {
            Some(s) => s.clone(),
            None => DEFAULT_SHELL.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// [`DEFAULT_ENV`] overlaid with the config's `env` lines and then with
    /// `extra` (e.g. `kiln.env=` from the kernel command line). Later wins,
    /// first position is kept.
    pub fn environment(&self, extra: &[(String, String)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = DEFAULT_ENV
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in self.env.iter().chain(extra) {
            match env.iter_mut().find(|(ek, _)| ek == k) {
                Some(slot) => slot.1 = v.clone(),
                None => env.push((k.clone(), v.clone())),
            }
        }
        env
    }
}

/// Parses `KEY=VALUE` (KEY: letters, digits, `_`, not starting with a digit).
pub fn parse_env(word: &str) -> Result<(String, String), String> {
    let (k, v) = word
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got '{word}'"))?;
    let valid = !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!("invalid environment variable name '{k}'"));
    }
    Ok((k.to_string(), v.to_string()))
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid name '{name}' (use letters, digits, _ - . @)"
        ))
    }
}

fn check_hostname(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 || name.contains(['/', '\0', '\n']) {
        Err(format!("invalid hostname '{name}'"))
    } else {
        Ok(())
    }
}

fn check_mount(m: &ExtraMount) -> Result<(), String> {
    if !m.target.starts_with('/') {
        return Err(format!(
            "mount target '{}' is not an absolute path",
            m.target
        ));
    }
    if m.fstype.is_empty() || m.source.is_empty() {
        return Err("mount source and fstype must not be empty".into());
    }
    Ok(())
}

/// Splits a line into shell-like words: whitespace separates words,
/// `'...'` is literal, `"..."` allows `\"`, `\\`, `\$` and `` \` `` escapes,
/// a backslash outside quotes escapes the next character, and an unquoted
/// `#` at the start of a word starts a comment. No expansion of any kind.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(core::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '#' if !in_word => break,
            '\\' => {
                let n = chars.next().ok_or("trailing backslash")?;
                cur.push(n);
                in_word = true;
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => cur.push(n),
                            Some(n) => {
                                cur.push('\\');
                                cur.push(n);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(n) => cur.push(n),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Quotes a word so that [`split_words`] (and a POSIX shell) read it back
/// unchanged. Plain words are left alone.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./=:,@%+^".contains(c));
    if plain {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
