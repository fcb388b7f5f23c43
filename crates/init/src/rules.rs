//! The rules an init configuration value must follow, wherever it comes from:
//! a line of `/etc/kiln/init.conf` ([`Config::parse`]), a `Config` built in
//! code ([`Config::check`]) or an image spec's `[init]` table (the `serde`
//! feature). One function per kind of value, so the three cannot disagree.
//!
//! [`Config::parse`]: crate::config::Config::parse
//! [`Config::check`]: crate::config::Config::check

#[allow(unused_imports)]
use crate::prelude::*;

use crate::config::ExtraMount;

/// Seconds an `onboot` command may run before it is killed.
pub const DEFAULT_ONBOOT_TIMEOUT_SECS: u32 = 60;
/// Seconds a service gets between SIGTERM and SIGKILL at shutdown.
pub const DEFAULT_STOP_TIMEOUT_SECS: u32 = 10;
/// Longest timeout accepted (a day): larger values are typos.
pub const MAX_TIMEOUT_SECS: u32 = 86_400;
/// Longest service/onboot name, and the kernel's hostname limit.
pub const MAX_NAME_LEN: usize = 64;

/// `'value'` with newlines and other control characters escaped.
pub(crate) fn shown(value: &str) -> String {
    format!("'{}'", value.escape_debug())
}

/// Names of services and `onboot` commands: they name the log file
/// `/var/log/NAME.log`. Letters, digits, `_ - . @`; not `.` or `..`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid name {} (1-64 letters, digits, _ - . @; it names /var/log/NAME.log)",
            shown(name)
        ))
    }
}

/// Hostnames (config and `kiln.hostname=`): 1-64 letters, digits, `-` and
/// `.`, starting with a letter or digit (RFC 1123).
pub fn check_hostname(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid hostname {} (1-64 letters, digits, - and ., starting with a letter or digit)",
            shown(name)
        ))
    }
}

/// Environment variable names: letters, digits and `_`, not starting with a digit.
pub fn check_env_key(key: &str) -> Result<(), String> {
    let ok = !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid environment variable name {}", shown(key)))
    }
}

/// Any other value (environment values, arguments, mount fields): one line
/// of text, since init.conf has one entry per line, and no NUL, which no
/// system call can take.
pub fn check_text(value: &str) -> Result<(), String> {
    if value.contains('\n') {
        Err(format!(
            "{} contains a newline (init.conf has one entry per line; use ; in shell commands)",
            shown(value)
        ))
    } else if value.contains('\0') {
        Err(format!("{} contains a NUL byte", shown(value)))
    } else {
        Ok(())
    }
}

/// Parses `KEY=VALUE` (see [`check_env_key`], [`check_text`]).
pub fn parse_env(word: &str) -> Result<(String, String), String> {
    let (k, v) = word
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {}", shown(word)))?;
    check_env_key(k)?;
    check_text(v)?;
    Ok((k.to_string(), v.to_string()))
}

/// A command line: a program and its arguments.
pub fn check_argv(argv: &[String]) -> Result<(), String> {
    match argv.first() {
        None => return Err("empty command".into()),
        Some(p) if p.is_empty() => return Err("empty program name".into()),
        Some(_) => {}
    }
    argv.iter().try_for_each(|a| check_text(a))
}

/// Timeouts, in whole seconds: 1 to [`MAX_TIMEOUT_SECS`].
pub fn check_timeout(secs: u32) -> Result<(), String> {
    if (1..=MAX_TIMEOUT_SECS).contains(&secs) {
        Ok(())
    } else {
        Err(format!(
            "timeout {secs} s out of range (1 to {MAX_TIMEOUT_SECS} seconds)"
        ))
    }
}

/// Parses a timeout word (`30`).
pub fn parse_secs(word: &str) -> Result<u32, String> {
    let secs = word
        .parse::<u32>()
        .map_err(|_| format!("timeout {} is not a whole number of seconds", shown(word)))?;
    check_timeout(secs)?;
    Ok(secs)
}

/// A working directory (`workdir`): an absolute path.
pub fn check_workdir(dir: &str) -> Result<(), String> {
    if !dir.starts_with('/') {
        return Err(format!("working directory {} is not an absolute path", shown(dir)));
    }
    check_text(dir)
}

/// A user and group id to run a program as.
pub type Ids = (u32, u32);

/// A user to run programs as (`user=UID:GID`): numeric ids, resolved from names at
/// build time (the guest may have no passwd file).
pub fn parse_user(word: &str) -> Result<Ids, String> {
    let bad = || format!("user {} is not UID:GID (two numbers, such as 1000:1000)", shown(word));
    let (u, g) = word.split_once(':').ok_or_else(bad)?;
    let num = |s: &str| s.parse::<u32>().ok().filter(|_| !s.starts_with('+'));
    Ok((num(u).ok_or_else(bad)?, num(g).ok_or_else(bad)?))
}

/// A mount target: an absolute path.
pub fn check_mount_target(target: &str) -> Result<(), String> {
    if !target.starts_with('/') {
        return Err(format!("mount target {} is not an absolute path", shown(target)));
    }
    check_text(target)
}

/// A mount source or file system type: not empty.
pub fn check_mount_field(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("mount source and fstype must not be empty".into());
    }
    check_text(value)
}

/// A `mount` entry: absolute target, non-empty source and type.
pub fn check_mount(m: &ExtraMount) -> Result<(), String> {
    check_mount_target(&m.target)?;
    check_mount_field(&m.source)?;
    check_mount_field(&m.fstype)?;
    m.options.as_deref().map_or(Ok(()), check_text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["web", "getty@ttyS0", "a.b_c-d", "x"] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "tab\t", &"n".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostnames() {
        for ok in ["kiln", "kiln-demo", "box1.example.org", "7up"] {
            assert_eq!(check_hostname(ok), Ok(()), "{ok}");
        }
        for bad in ["", "my host", "my host\nname", "-x", ".x", "a/b", "a_b", &"h".repeat(65)] {
            assert!(check_hostname(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_hostname("a\nb").unwrap_err(),
            "invalid hostname 'a\\nb' (1-64 letters, digits, - and ., starting with a letter or digit)"
        );
    }

    #[test]
    fn env() {
        assert_eq!(parse_env("A_1=x=y"), Ok(("A_1".into(), "x=y".into())));
        assert_eq!(parse_env("_=").unwrap().1, "");
        assert!(parse_env("A B=1").is_err());
        assert!(parse_env("1A=1").is_err());
        assert!(parse_env("=1").is_err());
        assert!(parse_env("A=two\nlines").is_err());
        assert_eq!(
            parse_env("nokey").unwrap_err(),
            "expected KEY=VALUE, got 'nokey'"
        );
    }

    #[test]
    fn argv_text_and_timeouts() {
        assert!(check_argv(&[]).is_err());
        assert!(check_argv(&["".into()]).is_err());
        assert!(check_argv(&["/bin/sh".into(), "-c".into(), "a\nb".into()]).is_err());
        assert_eq!(check_argv(&["/bin/sh".into(), "".into()]), Ok(()));
        assert!(check_text("nul\0").is_err());
        assert_eq!(parse_secs("30"), Ok(30));
        for bad in ["0", "-1", "1.5", "", "86401", "5s"] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mounts() {
        let m = |source: &str, target: &str, fstype: &str, options: Option<&str>| ExtraMount {
            source: source.into(),
            target: target.into(),
            fstype: fstype.into(),
            options: options.map(Into::into),
        };
        assert_eq!(check_mount(&m("none", "/mnt", "tmpfs", Some("ro"))), Ok(()));
        assert!(check_mount(&m("none", "mnt", "tmpfs", None)).is_err());
        assert!(check_mount(&m("", "/mnt", "tmpfs", None)).is_err());
        assert!(check_mount(&m("none", "/mnt", "", None)).is_err());
        assert!(check_mount(&m("none", "/mnt", "tmpfs", Some("a\nb"))).is_err());
    }
}
