use crate::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// All pinned sources, keyed by name (`linux`, `busybox`).
#[derive(Debug, Clone)]
pub struct Sources {
    pub path: PathBuf,
    pub sources: BTreeMap<String, Source>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub version: String,
    #[serde(rename = "provider", default)]
    pub providers: Vec<Provider>,
}

impl Source {
    /// The pinned sha256 of the source's tarball (every provider pins the same file), in
    /// lowercase: the identity of everything built from it, known without reading it.
    pub fn sha256(&self) -> String {
        self.providers.first().map(|p| p.sha256().to_lowercase()).unwrap_or_default()
    }
}

/// One way to obtain a source tarball; `sha256` pins the exact file it yields.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Provider {
    /// A tarball downloaded from `url`.
    Url { url: String, sha256: String },
    /// A member of a Debian binary package (`apt-get download` + `dpkg-deb -x`).
    DebianPackage { package: String, version: String, member: String, sha256: String },
    /// A file of a Debian source package (`apt-get source --download-only`).
    DebianSource { package: String, version: String, file: String, sha256: String },
}

impl Provider {
    pub fn sha256(&self) -> &str {
        match self {
            Provider::Url { sha256, .. }
            | Provider::DebianPackage { sha256, .. }
            | Provider::DebianSource { sha256, .. } => sha256,
        }
    }

    /// The name of the file this provider yields, as kept in the cache.
    pub fn file_name(&self) -> &str {
        let path = match self {
            Provider::Url { url, .. } => url.as_str(),
            Provider::DebianPackage { member, .. } => member.as_str(),
            Provider::DebianSource { file, .. } => file.as_str(),
        };
        path.rsplit('/').next().unwrap_or(path)
    }

    pub fn describe(&self) -> String {
        match self {
            Provider::Url { url, .. } => url.clone(),
            Provider::DebianPackage { package, version, .. } => format!("debian package {package}={version}"),
            Provider::DebianSource { package, version, .. } => format!("debian source {package}={version}"),
        }
    }
}

impl Sources {
    pub fn load(path: &Path) -> Result<Sources> {
        let text = std::fs::read_to_string(path).map_err(crate::io_err(format!("reading {}", path.display())))?;
        Sources::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Sources> {
        let spec_err = |message: String| Error::Spec { path: path.to_owned(), message };
        let sources: BTreeMap<String, Source> = toml::from_str(text).map_err(|e| spec_err(e.to_string()))?;
        for (name, source) in &sources {
            if source.providers.is_empty() {
                return Err(spec_err(format!("[{name}] has no [[{name}.provider]]: every source needs a pinned provider")));
            }
            for (i, p) in source.providers.iter().enumerate() {
                let sha = p.sha256();
                if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(spec_err(format!(
                        "[{name}] provider {} ({}): sha256 must be 64 hex digits, got {sha:?}",
                        i + 1,
                        p.describe()
                    )));
                }
            }
            // Providers are places to get one file from: a build must not depend on which
            // one answered, and its cache key is the pin, known before anything is fetched.
            let first = &source.providers[0];
            if let Some((i, p)) = source.providers.iter().enumerate().find(|(_, p)| !p.sha256().eq_ignore_ascii_case(first.sha256())) {
                return Err(spec_err(format!(
                    "[{name}] provider 1 ({}) pins sha256 {} but provider {} ({}) pins {}: the providers of a source \
                     are alternative places for the same file; fix the typo, or make the other file a source of its own",
                    first.describe(),
                    first.sha256(),
                    i + 1,
                    p.describe(),
                    p.sha256()
                )));
            }
        }
        Ok(Sources { path: path.to_owned(), sources })
    }

    /// Every pin in the file, with where it is (`[busybox] provider 2 (...)`).
    pub fn pins(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, source) in &self.sources {
            for (i, p) in source.providers.iter().enumerate() {
                out.push((format!("[{name}] provider {} ({})", i + 1, p.describe()), p.sha256().to_lowercase()));
            }
        }
        out
    }

    pub fn get(&self, name: &str) -> Result<&Source> {
        self.sources.get(name).ok_or_else(|| Error::Spec {
            path: self.path.clone(),
            message: format!("no source named [{name}]"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[busybox]
version = "1.35.0"
[[busybox.provider]]
kind = "url"
url = "https://example.org/busybox-1.35.0.tar.bz2"
sha256 = "faeeb244c35a348a334f4a59e44626ee870fb07b6884d68c10ae8bc19f83a694"
[[busybox.provider]]
kind = "debian-source"
package = "busybox"
version = "1:1.35.0-4"
file = "busybox_1.35.0.orig.tar.bz2"
sha256 = "faeeb244c35a348a334f4a59e44626ee870fb07b6884d68c10ae8bc19f83a694"
"#;

    #[test]
    fn parses_providers_in_order() {
        let s = Sources::parse(Path::new("sources.toml"), GOOD).unwrap();
        let bb = s.get("busybox").unwrap();
        assert_eq!(bb.version, "1.35.0");
        assert_eq!(bb.providers.len(), 2);
        assert_eq!(bb.providers[0].file_name(), "busybox-1.35.0.tar.bz2");
        assert_eq!(bb.providers[1].file_name(), "busybox_1.35.0.orig.tar.bz2");
    }

    #[test]
    fn the_real_sources_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sources.toml");
        let s = Sources::load(&path).unwrap();
        assert!(s.get("linux").is_ok() && s.get("busybox").is_ok());
    }

    #[test]
    fn missing_or_malformed_pin_is_an_error() {
        let no_pin = GOOD.replacen("sha256 = \"faeeb244c35a348a334f4a59e44626ee870fb07b6884d68c10ae8bc19f83a694\"\n", "", 1);
        let err = Sources::parse(Path::new("sources.toml"), &no_pin).unwrap_err().to_string();
        assert!(err.contains("sources.toml") && err.contains("sha256"), "{err}");
        let short = GOOD.replacen("faeeb244", "", 1);
        let err = Sources::parse(Path::new("sources.toml"), &short).unwrap_err().to_string();
        assert!(err.contains("64 hex digits"), "{err}");
    }

    #[test]
    fn providers_of_one_source_must_pin_the_same_file() {
        let s = Sources::parse(Path::new("sources.toml"), GOOD).unwrap();
        assert_eq!(s.get("busybox").unwrap().sha256(), "faeeb244c35a348a334f4a59e44626ee870fb07b6884d68c10ae8bc19f83a694");
        assert_eq!(s.pins().len(), 2);
        let typo = GOOD.replacen("faeeb244c35a", "faeeb244c35b", 1);
        let err = Sources::parse(Path::new("sources.toml"), &typo).unwrap_err().to_string();
        assert!(err.contains("sources.toml") && err.contains("faeeb244c35b") && err.contains("provider 2"), "{err}");
    }

    #[test]
    fn unknown_key_names_line() {
        let typo = GOOD.replace("version = \"1.35.0\"", "verison = \"1.35.0\"");
        let err = Sources::parse(Path::new("sources.toml"), &typo).unwrap_err().to_string();
        assert!(err.contains("verison") && err.contains("line 3"), "{err}");
    }
}
