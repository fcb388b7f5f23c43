//! Kconfig fragments: parse, merge, and check against the final `.config`.
//!
//! A fragment holds `CONFIG_X=value` and `# CONFIG_X is not set` lines (`CONFIG_X=n` is
//! the same as the latter); other `#` lines are comments, each on a line of its own: a
//! value is one word or one quoted string, and anything after it is an error. After the build system resolves dependencies (`olddefconfig`), every option
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
                match rest.split_once(" is not set") {
                    Some((name, "")) if is_name(name) => Setting { name: format!("CONFIG_{name}"), value: Value::Unset, line },
                    Some((name, _)) if is_name(name) => {
                        return Err(err(format!("text after `# CONFIG_{name} is not set`: put a comment on a line of its own")));
                    }
                    _ => continue, // a comment that happens to start with CONFIG_
                }
            } else if l.starts_with('#') {
                continue;
            } else if let Some((name, value)) = l.split_once('=') {
                if !name.starts_with("CONFIG_") || !is_name(name) {
                    return Err(err(format!("expected CONFIG_NAME=value, got `{l}`")));
                }
                Setting { name: name.to_string(), value: parse_value(name, value).map_err(err)?, line }
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

fn is_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The value after `CONFIG_X=`: `n` means "is not set", as in Kconfig itself; a quoted
/// string runs to its closing quote (`\"` and `\\` escaped); anything else is one word.
/// Text after the value (an inline `# comment`) is an error now, not a surprise after
/// the configuration ran.
fn parse_value(name: &str, value: &str) -> Result<Value, String> {
    if value.is_empty() {
        return Err(format!("{name} has no value (write `# {name} is not set` to unset it)"));
    }
    if value == "n" {
        return Ok(Value::Unset);
    }
    let rest = if let Some(body) = value.strip_prefix('"') {
        let mut chars = body.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                _ => {}
            }
        }
        let end = end.ok_or_else(|| format!("{name}: the string has no closing quote"))?;
        &body[end..]
    } else {
        let word = value.find(|c: char| c.is_whitespace() || c == '#').unwrap_or(value.len());
        &value[word..]
    };
    let rest = rest.trim_start();
    if rest.starts_with('#') {
        return Err(format!("{name}: a comment after the value is not allowed (Kconfig would read it as part of the value): put `{rest}` on the line above"));
    }
    if !rest.is_empty() {
        return Err(format!("{name}: unexpected `{rest}` after the value (quote a value that has spaces)"));
    }
    Ok(Value::Set(value.to_string()))
}

/// A fragment's text: a `# comment` line before each setting (as the house rule wants).
pub fn render(settings: &[(String, Value)]) -> String {
    settings.iter().map(|(name, value)| format!("# {name}\n{}\n", config_line(name, value))).collect()
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
            out.push_str(&config_line(&s.name, &s.value));
            out.push('\n');
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
pub fn config_line(option: &str, value: &Value) -> String {
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
mod tests;
