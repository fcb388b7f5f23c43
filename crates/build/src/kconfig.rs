//! Kconfig fragments: parse, merge, and check against the final `.config`.
//!
//! A fragment holds `CONFIG_X=value` and `# CONFIG_X is not set` lines; other `#` lines are
//! comments. After the build system resolves dependencies (`olddefconfig`), every option
//! a fragment asked for must have exactly that value, or the build stops and names the
//! fragment, the option and what it ended up as.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `# CONFIG_X is not set`
    Unset,
    /// Anything after `=`, verbatim: `y`, `m`, `"text"`, `0x10`, `64`.
    Set(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Unset => f.write_str("is not set"),
            Value::Set(v) => write!(f, "={v}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub name: String,
    pub value: Value,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Fragment {
    pub path: PathBuf,
    pub settings: Vec<Setting>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("{path}:{line}: {message}")]
    Syntax { path: PathBuf, line: usize, message: String },
    #[error("{0}")]
    Redefined(Box<Redefinition>),
}

/// One option requested with two different values (boxed: errors stay small).
#[derive(Debug, PartialEq, Eq)]
pub struct Redefinition {
    pub option: String,
    pub first: Value,
    pub first_path: PathBuf,
    pub first_line: usize,
    pub second: Value,
    pub second_path: PathBuf,
    pub second_line: usize,
}

impl fmt::Display for Redefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} requests `{}` but {}:{} requests `{}`; keep one",
            self.first_path.display(),
            self.first_line,
            config_line(&self.option, &self.first),
            self.second_path.display(),
            self.second_line,
            config_line(&self.option, &self.second),
        )
    }
}

impl Fragment {
    pub fn load(path: &Path) -> anyhow::Result<Fragment> {
        use anyhow::Context;
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Fragment::parse(path, &text)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Fragment, Error> {
        let mut settings = Vec::new();
        let mut seen = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |message: String| Error::Syntax { path: path.to_owned(), line, message };
            let l = raw.trim();
            let setting = if l.is_empty() {
                continue;
            } else if let Some(rest) = l.strip_prefix("# CONFIG_") {
                match rest.strip_suffix(" is not set") {
                    Some(name) => Setting { name: format!("CONFIG_{name}"), value: Value::Unset, line },
                    None => continue, // a comment that happens to start with CONFIG_
                }
            } else if l.starts_with('#') {
                continue;
            } else if let Some((name, value)) = l.split_once('=') {
                if !name.starts_with("CONFIG_") || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(err(format!("expected CONFIG_NAME=value, got `{l}`")));
                }
                if value.is_empty() {
                    return Err(err(format!("{name} has no value (write `# {name} is not set` to unset it)")));
                }
                Setting { name: name.to_string(), value: Value::Set(value.to_string()), line }
            } else {
                return Err(err(format!("expected CONFIG_NAME=value or `# CONFIG_NAME is not set`, got `{l}`")));
            };
            if let Some(prev) = seen.insert(setting.name.clone(), line) {
                return Err(err(format!("{} is already set on line {prev}", setting.name)));
            }
            settings.push(setting);
        }
        Ok(Fragment { path: path.to_owned(), settings })
    }
}

/// Concatenates fragments into one config; an option requested with two different
/// values by two fragments is an error naming both places.
pub fn merge(fragments: &[Fragment]) -> Result<String, Error> {
    let mut seen: BTreeMap<&str, (&Fragment, &Setting)> = BTreeMap::new();
    let mut out = String::new();
    for frag in fragments {
        // The file name only: the merged text is part of cache keys, which must not
        // depend on where the checkout is.
        let name = frag.path.file_name().unwrap_or(frag.path.as_os_str());
        out.push_str(&format!("# from {}\n", Path::new(name).display()));
        for s in &frag.settings {
            if let Some((pf, ps)) = seen.get(s.name.as_str()) {
                if ps.value != s.value {
                    return Err(Error::Redefined(Box::new(Redefinition {
                        option: s.name.clone(),
                        first: ps.value.clone(),
                        first_path: pf.path.clone(),
                        first_line: ps.line,
                        second: s.value.clone(),
                        second_path: frag.path.clone(),
                        second_line: s.line,
                    })));
                }
            }
            seen.insert(&s.name, (frag, s));
            match &s.value {
                Value::Unset => out.push_str(&format!("# {} is not set\n", s.name)),
                Value::Set(v) => out.push_str(&format!("{}={v}\n", s.name)),
            }
        }
    }
    Ok(out)
}

/// Reads a final `.config` into option → value (unset options map to `Unset`).
pub fn parse_dotconfig(text: &str) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    for l in text.lines() {
        if let Some(name) = l.strip_prefix("# ").and_then(|r| r.strip_suffix(" is not set")) {
            map.insert(name.to_string(), Value::Unset);
        } else if let Some((name, value)) = l.split_once('=') {
            if name.starts_with("CONFIG_") {
                map.insert(name.to_string(), Value::Set(value.to_string()));
            }
        }
    }
    map
}

/// One requested option that did not survive dependency resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub fragment: PathBuf,
    pub line: usize,
    pub option: String,
    pub wanted: Value,
    /// `None`: the option is not in the final config at all (a dependency is missing
    /// or the symbol does not exist in this version).
    pub got: Option<Value>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let got = match &self.got {
            None => "is not in the final .config (a dependency is missing, or no such option in this version)".to_string(),
            Some(v) => format!("ended up as `{}`", config_line(&self.option, v)),
        };
        let wanted = config_line(&self.option, &self.wanted);
        write!(f, "{}:{}: requested `{wanted}` but it {got}", self.fragment.display(), self.line)
    }
}

/// The setting as a `.config` line: `CONFIG_X=y` or `# CONFIG_X is not set`.
fn config_line(option: &str, value: &Value) -> String {
    match value {
        Value::Unset => format!("# {option} is not set"),
        Value::Set(v) => format!("{option}={v}"),
    }
}

/// Every setting of every fragment must hold in the final config. An `Unset` request is
/// satisfied by an absent option too.
pub fn check(fragments: &[Fragment], final_config: &str) -> Vec<Mismatch> {
    let have = parse_dotconfig(final_config);
    let mut out = Vec::new();
    for frag in fragments {
        for s in &frag.settings {
            let got = have.get(&s.name);
            let ok = match (&s.value, got) {
                (Value::Unset, None) | (Value::Unset, Some(Value::Unset)) => true,
                (want, Some(got)) => want == got,
                (Value::Set(_), None) => false,
            };
            if !ok {
                out.push(Mismatch {
                    fragment: frag.path.clone(),
                    line: s.line,
                    option: s.name.clone(),
                    wanted: s.value.clone(),
                    got: got.cloned(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
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
}
