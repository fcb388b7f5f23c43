//! `/etc/kiln/init.conf`: a line-based format with shell-like words.
//!
//! ```text
//! # comment
//! hostname demo
//! env GREETING="hello world"
//! mount none /mnt/data tmpfs ro,nosuid,size=16m
//! onboot banner /bin/echo 'booted!'
//! onboot slow timeout=120 /bin/setup-disk
//! service httpd always stop_timeout=5 /sbin/httpd -f -p 80
//! shell /bin/sh -l
//! ```
//!
//! [`Config::parse`] never fails as a whole: bad lines are returned as
//! [`ConfigError`]s (with line numbers) and skipped. [`Config::render`]
//! produces text that parses back to the same `Config`; [`Config::check`]
//! says whether it will. The rules for each value are in [`crate::rules`].
//! With the `serde` feature, `Config` is also the `[init]` table of an image
//! spec, checked by the same rules while it is deserialized.

#[allow(unused_imports)]
use crate::prelude::*;

#[cfg(feature = "serde")]
use crate::config_serde as de;
use crate::policy::Restart;
pub use crate::rules::{parse_env, DEFAULT_ONBOOT_TIMEOUT_SECS, DEFAULT_STOP_TIMEOUT_SECS};
use crate::rules::{
    check_argv, check_env_key, check_hostname, check_mount, check_name, check_text, check_timeout, check_workdir,
    parse_secs, parse_user, shown,
};
pub use crate::rules::Ids;
pub use crate::words::{quote, split_words};
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

/// The option word of `onboot` lines: `timeout=SECS`.
const ONBOOT_TIMEOUT: &str = "timeout=";
/// The option word of `service` lines: `stop_timeout=SECS`.
const STOP_TIMEOUT: &str = "stop_timeout=";
/// The option word of `service` and `shell` lines: `user=UID:GID`.
const USER: &str = "user=";
/// The option words of `service` lines, in the order they are written.
pub(crate) const SERVICE_OPTIONS: &[&str] = &[STOP_TIMEOUT, USER];

/// The parsed config. `Config::default()` is what a missing file means.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize), serde(deny_unknown_fields))]
pub struct Config {
    /// `hostname NAME`.
    #[cfg_attr(feature = "serde", serde(default, deserialize_with = "de::hostname"))]
    pub hostname: Option<String>,
    /// `env KEY=VALUE` lines, in order (applied over [`DEFAULT_ENV`]).
    #[cfg_attr(feature = "serde", serde(default, deserialize_with = "de::env"))]
    pub env: Vec<(String, String)>,
    /// `mount SOURCE TARGET FSTYPE [OPTIONS]`, mounted after the built-in table.
    #[cfg_attr(feature = "serde", serde(default))]
    pub mounts: Vec<ExtraMount>,
    /// `onboot NAME [timeout=SECS] ARGV...`, run once, in order, each waited for.
    #[cfg_attr(feature = "serde", serde(default))]
    pub onboot: Vec<Command>,
    /// `service NAME RESTART [stop_timeout=SECS] ARGV...`, supervised.
    #[cfg_attr(feature = "serde", serde(default, deserialize_with = "de::services"))]
    pub services: Vec<Service>,
    /// `shell ARGV...`; `None` means [`DEFAULT_SHELL`].
    #[cfg_attr(feature = "serde", serde(default, deserialize_with = "de::shell"))]
    pub shell: Option<Vec<String>>,
    /// `workdir DIR`: where services and console shells start (an absolute path);
    /// `None`, or a directory that does not exist, means `HOME` (else `/`).
    #[cfg_attr(feature = "serde", serde(default, deserialize_with = "de::workdir"))]
    pub workdir: Option<String>,
    /// `shell user=UID:GID ARGV...`: the user and group the console shells run as
    /// (no supplementary groups); `None` means root. (In a spec: `shell_user`.)
    #[cfg_attr(feature = "serde", serde(default, deserialize_with = "de::user"))]
    pub shell_user: Option<Ids>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize), serde(deny_unknown_fields))]
pub struct ExtraMount {
    #[cfg_attr(feature = "serde", serde(deserialize_with = "de::mount_source"))]
    pub source: String,
    #[cfg_attr(feature = "serde", serde(deserialize_with = "de::mount_target"))]
    pub target: String,
    #[cfg_attr(feature = "serde", serde(deserialize_with = "de::mount_fstype"))]
    pub fstype: String,
    /// Comma-separated options: mount(8)'s flag words (`ro`, `nosuid`, ...)
    /// become `MS_*` flags, the rest is passed to mount(2) as `data`
    /// (see [`crate::mount_options`]).
    #[cfg_attr(feature = "serde", serde(default, deserialize_with = "de::mount_options"))]
    pub options: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize), serde(deny_unknown_fields))]
pub struct Command {
    #[cfg_attr(feature = "serde", serde(deserialize_with = "de::onboot_name"))]
    pub name: String,
    #[cfg_attr(feature = "serde", serde(rename = "command", deserialize_with = "de::onboot_command"))]
    pub argv: Vec<String>,
    /// Seconds it may run; then its process group is killed and boot goes on.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "timeout", default = "de::onboot_timeout_default", deserialize_with = "de::onboot_timeout")
    )]
    pub timeout_secs: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize), serde(deny_unknown_fields))]
pub struct Service {
    /// Also names the log file `/var/log/NAME.log`.
    #[cfg_attr(feature = "serde", serde(deserialize_with = "de::service_name"))]
    pub name: String,
    #[cfg_attr(feature = "serde", serde(default = "de::restart_default", deserialize_with = "de::restart"))]
    pub restart: Restart,
    #[cfg_attr(feature = "serde", serde(rename = "command", deserialize_with = "de::service_command"))]
    pub argv: Vec<String>,
    /// Seconds between SIGTERM and SIGKILL at shutdown.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "stop_timeout", default = "de::stop_timeout_default", deserialize_with = "de::stop_timeout")
    )]
    pub stop_timeout_secs: u32,
    /// `user=UID:GID`: who it runs as (no supplementary groups); `None`: root.
    #[cfg_attr(feature = "serde", serde(default, deserialize_with = "de::user"))]
    pub user: Option<Ids>,
}

impl Command {
    /// An `onboot` command with the default timeout.
    pub fn new(name: &str, argv: &[&str]) -> Command {
        Command {
            name: name.to_string(),
            argv: argv.iter().map(|a| a.to_string()).collect(),
            timeout_secs: DEFAULT_ONBOOT_TIMEOUT_SECS,
        }
    }
}

impl Service {
    /// A service with the default stop timeout.
    pub fn new(name: &str, restart: Restart, argv: &[&str]) -> Service {
        Service {
            name: name.to_string(),
            restart,
            argv: argv.iter().map(|a| a.to_string()).collect(),
            stop_timeout_secs: DEFAULT_STOP_TIMEOUT_SECS,
            user: None,
        }
    }
}

fn user_word((uid, gid): Ids) -> String {
    format!("{USER}{uid}:{gid}")
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

/// Takes a leading `OPTION=SECS` word off `args`, or returns `default`.
fn take_secs<'a>(args: &'a [String], option: &str, default: u32) -> Result<(u32, &'a [String]), String> {
    match args.split_first() {
        Some((w, rest)) if w.starts_with(option) => Ok((parse_secs(&w[option.len()..])?, rest)),
        _ => Ok((default, args)),
    }
}

/// An optional `user=UID:GID` word at the start of `args`.
fn take_user(args: &[String]) -> Result<(Option<Ids>, &[String]), String> {
    match args.split_first() {
        Some((w, rest)) if w.starts_with(USER) => Ok((Some(parse_user(&w[USER.len()..])?), rest)),
        _ => Ok((None, args)),
    }
}

impl Config {
    /// Parses the config text. Bad lines are reported and skipped.
    pub fn parse(text: &str) -> (Config, Vec<ConfigError>) {
        let mut cfg = Config::default();
        let mut errors = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let applied = split_words(line).and_then(|words| cfg.apply(&words));
            if let Err(message) = applied {
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
                const USAGE: &str = "onboot NAME [timeout=SECS] ARGV...";
                want(!args.is_empty(), USAGE)?;
                check_name(&args[0])?;
                let (timeout_secs, argv) =
                    take_secs(&args[1..], ONBOOT_TIMEOUT, DEFAULT_ONBOOT_TIMEOUT_SECS)?;
                want(!argv.is_empty(), USAGE)?;
                check_argv(argv)?;
                self.onboot.push(Command {
                    name: args[0].clone(),
                    argv: argv.to_vec(),
                    timeout_secs,
                });
            }
            "service" => {
                const USAGE: &str =
                    "service NAME always|on-failure|never [stop_timeout=SECS] [user=UID:GID] ARGV...";
                want(args.len() >= 2, USAGE)?;
                check_name(&args[0])?;
                if self.services.iter().any(|s| s.name == args[0]) {
                    return Err(format!("duplicate service {}", shown(&args[0])));
                }
                let restart = Restart::from_word(&args[1])?;
                let (stop_timeout_secs, argv) =
                    take_secs(&args[2..], STOP_TIMEOUT, DEFAULT_STOP_TIMEOUT_SECS)?;
                let (user, argv) = take_user(argv)?;
                want(!argv.is_empty(), USAGE)?;
                check_argv(argv)?;
                self.services.push(Service {
                    name: args[0].clone(),
                    restart,
                    argv: argv.to_vec(),
                    stop_timeout_secs,
                    user,
                });
            }
            "workdir" => {
                want(args.len() == 1, "workdir DIR")?;
                check_workdir(&args[0])?;
                self.workdir = Some(args[0].clone());
            }
            "shell" => {
                let (user, argv) = take_user(args)?;
                want(!argv.is_empty(), "shell [user=UID:GID] ARGV...")?;
                check_argv(argv)?;
                self.shell = Some(argv.to_vec());
                self.shell_user = user;
            }
            other => return Err(format!("unknown keyword {}", shown(other))),
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
            let timeout = format!("{ONBOOT_TIMEOUT}{}", c.timeout_secs);
            let mut w = vec!["onboot", c.name.as_str()];
            if c.timeout_secs != DEFAULT_ONBOOT_TIMEOUT_SECS {
                w.push(&timeout);
            }
            w.extend(c.argv.iter().map(String::as_str));
            line(&w);
        }
        for s in &self.services {
            let timeout = format!("{STOP_TIMEOUT}{}", s.stop_timeout_secs);
            let user = s.user.map(user_word).unwrap_or_default();
            let mut w = vec!["service", s.name.as_str(), s.restart.as_str()];
            if s.stop_timeout_secs != DEFAULT_STOP_TIMEOUT_SECS {
                w.push(&timeout);
            }
            if s.user.is_some() {
                w.push(&user);
            }
            w.extend(s.argv.iter().map(String::as_str));
            line(&w);
        }
        if let Some(dir) = &self.workdir {
            line(&["workdir", dir]);
        }

        if let Some(argv) = &self.shell {
            let user = self.shell_user.map(user_word).unwrap_or_default();
            let mut w = vec!["shell"];
            if self.shell_user.is_some() {
                w.push(&user);
            }
            w.extend(argv.iter().map(String::as_str));
            line(&w);
        }
        out
    }

    /// Validates a `Config` built in code (e.g. by the build tool) with the
    /// rules `parse` applies, and checks that it survives render/parse.
    /// Returns the first problem, naming the entry.
    pub fn check(&self) -> Result<(), String> {
        let ctx = |what: String| move |e: String| format!("{what}: {e}");
        if let Some(h) = &self.hostname {
            check_hostname(h).map_err(ctx("hostname".into()))?;
        }
        for (k, v) in &self.env {
            check_env_key(k)
                .and_then(|()| check_text(v))
                .map_err(ctx(format!("env {}", shown(k))))?;
        }
        for m in &self.mounts {
            check_mount(m).map_err(ctx(format!("mount {}", shown(&m.target))))?;
        }
        for c in &self.onboot {
            check_name(&c.name)
                .and_then(|()| check_command(&c.argv, &[ONBOOT_TIMEOUT]))
                .and_then(|()| check_timeout(c.timeout_secs))
                .map_err(ctx(format!("onboot {}", shown(&c.name))))?;
        }
        for (i, s) in self.services.iter().enumerate() {
            let what = format!("service {}", shown(&s.name));
            if self.services[..i].iter().any(|t| t.name == s.name) {
                return Err(format!("{what}: duplicate service name"));
            }
            check_name(&s.name)
                .and_then(|()| check_command(&s.argv, SERVICE_OPTIONS))
                .and_then(|()| check_timeout(s.stop_timeout_secs))
                .map_err(ctx(what))?;
        }
        if let Some(sh) = &self.shell {
            check_command(sh, &[USER]).map_err(ctx("shell".into()))?;
        }
        if self.shell_user.is_some() && self.shell.is_none() {
            return Err("shell_user: set shell too (the user runs that command)".into());
        }
        if let Some(dir) = &self.workdir {
            check_workdir(dir).map_err(ctx("workdir".into()))?;
        }
        // The rules above should make this hold; a rule that misses a case shows here.
        let (back, errors) = Config::parse(&self.render());
        if let Some(e) = errors.first() {
            return Err(e.message.clone());
        }
        if &back != self {
            return Err("config does not survive render/parse".into());
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

/// A command whose first word would be read back as the line's option.
/// A command whose line has option words before it (`options`): its program's name
/// must not look like one of them.
pub(crate) fn check_command(argv: &[String], options: &[&str]) -> Result<(), String> {
    check_argv(argv)?;
    if options.iter().any(|o| argv[0].starts_with(o)) {
        return Err(format!(
            "program {} would be read as an option",
            shown(&argv[0])
        ));
    }
    Ok(())
}

/// What [`load`] found: the config to use and what to say about it.
pub struct Loaded {
    pub config: Config,
    /// Lines for the console: a missing or unreadable file, bad lines.
    pub messages: Vec<String>,
}

/// Reads and parses [`crate::CONFIG_PATH`]. A missing or unreadable file
/// means the defaults, and says so.
pub fn load(sys: &mut impl crate::sys::Sys) -> Loaded {
    match sys.read_file(crate::CONFIG_PATH) {
        Ok(text) => {
            let (config, errors) = Config::parse(&text);
            let messages = errors.iter().map(|e| e.to_string()).collect();
            Loaded { config, messages }
        }
        Err(e) => Loaded {
            config: Config::default(),
            messages: vec![format!(
                "{}: {}; using the built-in defaults",
                crate::CONFIG_PATH,
                crate::sys::errno_text(e)
            )],
        },
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
