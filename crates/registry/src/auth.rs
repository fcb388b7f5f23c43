//! Credentials and authentication challenges. Credentials come from the user's Docker
//! config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: `auths.HOST.auth`
//! or `username`/`password`) or `KILN_REGISTRY_AUTH` (`HOST=USER:PASSWORD`, several
//! separated by commas or whitespace), which wins. They are never printed: `Debug`
//! shows the user name only.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variable with credentials (`HOST=USER:PASSWORD,...`).
pub const AUTH_ENV: &str = "KILN_REGISTRY_AUTH";

/// A user name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    password: String,
}

impl Login {
    pub fn new(user: &str, password: &str) -> Login {
        Login { user: user.into(), password: password.into() }
    }

    /// The `Authorization: Basic ...` value.
    pub fn basic(&self) -> String {
        format!("Basic {}", B64.encode(format!("{}:{}", self.user, self.password)))
    }
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Login({:?}, password hidden)", self.user)
    }
}

/// Logins by registry host (`HOST[:PORT]`, Docker Hub as `docker.io`).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    by_host: BTreeMap<String, Login>,
    /// Where each login came from, for messages (`~/.docker/config.json`, `KILN_REGISTRY_AUTH`).
    source: BTreeMap<String, String>,
}

impl Credentials {
    /// The user's credentials: the Docker config, then `KILN_REGISTRY_AUTH` over it.
    /// A file or variable that cannot be read is an error naming it.
    pub fn from_user() -> Result<Credentials, String> {
        let mut c = Credentials::default();
        let config = match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) => Some(PathBuf::from(dir).join("config.json")),
            None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")),
        };
        if let Some(path) = config.filter(|p| p.exists()) {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            c.add_docker_config(&path, &text)?;
        }
        if let Ok(v) = std::env::var(AUTH_ENV) {
            c.add_env(&v)?;
        }
        Ok(c)
    }

    /// Adds one login (tests, callers with their own source).
    pub fn insert(&mut self, host: &str, login: Login, source: &str) {
        self.by_host.insert(normalise_host(host), login);
        self.source.insert(normalise_host(host), source.into());
    }

    /// Reads a Docker `config.json`'s `auths`.
    pub fn add_docker_config(&mut self, path: &Path, text: &str) -> Result<(), String> {
        let shown = path.display();
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("{shown}: {e}"))?;
        let Some(auths) = v.get("auths").and_then(|a| a.as_object()) else { return Ok(()) };
        for (host, entry) in auths {
            let login = if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()).filter(|a| !a.is_empty()) {
                let raw = B64.decode(auth).map_err(|_| format!("{shown}: auths.{host}.auth is not base64"))?;
                let raw = String::from_utf8(raw).map_err(|_| format!("{shown}: auths.{host}.auth is not UTF-8"))?;
                let (u, p) = raw.split_once(':').ok_or_else(|| format!("{shown}: auths.{host}.auth is not USER:PASSWORD in base64"))?;
                Login::new(u, p)
            } else {
                match (entry.get("username").and_then(|u| u.as_str()), entry.get("password").and_then(|p| p.as_str())) {
                    (Some(u), Some(p)) => Login::new(u, p),
                    _ => continue, // identity tokens and credential helpers: not read
                }
            };
            self.insert(host, login, &shown.to_string());
        }
        Ok(())
    }

    /// Reads `HOST=USER:PASSWORD[,HOST=USER:PASSWORD...]`.
    pub fn add_env(&mut self, value: &str) -> Result<(), String> {
        for item in value.split([',', ' ', '\n', '\t']).filter(|s| !s.is_empty()) {
            let (host, login) = item.split_once('=').ok_or_else(|| format!("{AUTH_ENV}: an entry is not HOST=USER:PASSWORD"))?;
            let (user, password) =
                login.split_once(':').ok_or_else(|| format!("{AUTH_ENV}: the entry for {host} is not HOST=USER:PASSWORD"))?;
            self.insert(host, Login::new(user, password), AUTH_ENV);
        }
        Ok(())
    }

    /// The login for a registry host, and where it came from.
    pub fn get(&self, host: &str) -> Option<(&Login, &str)> {
        let h = normalise_host(host);
        Some((self.by_host.get(&h)?, self.source.get(&h).map_or("", String::as_str)))
    }
}

/// Docker writes Docker Hub as `https://index.docker.io/v1/`; others as `HOST[:PORT]`,
/// sometimes with a scheme.
fn normalise_host(host: &str) -> String {
    let h = host.trim_start_matches("https://").trim_start_matches("http://");
    let h = h.split('/').next().unwrap_or(h);
    match h {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        _ => h.to_owned(),
    }
}

/// A `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="..."`: send the login with every request.
    Basic,
    /// `Bearer realm="URL",service="...",scope="..."`: get a token from the realm.
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

impl Challenge {
    /// Parses the header's value; `None` for a scheme Kiln does not speak.
    pub fn parse(header: &str) -> Option<Challenge> {
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        let params = parse_params(params);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => Some(Challenge::Bearer {
                realm: params.get("realm")?.clone(),
                service: params.get("service").cloned(),
                scope: params.get("scope").cloned(),
            }),
            _ => None,
        }
    }
}

/// `key="value",key=value` (quoted values may hold commas).
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else { break };
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_owned());
        rest = next.trim_start_matches([',', ' ']);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = Challenge::parse(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#);
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull,push".into())
            })
        );
        assert_eq!(Challenge::parse(r#"Basic realm="kiln-test""#), Some(Challenge::Basic));
        assert_eq!(Challenge::parse("Negotiate"), None);
        assert_eq!(Challenge::parse("Bearer service=x"), None, "a bearer challenge needs a realm");
    }

    #[test]
    fn docker_config_and_environment() {
        let mut c = Credentials::default();
        let text = r#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNzOndvcmQ="},
            "127.0.0.1:5000": {"username": "kiln", "password": "s3cret"},
            "ghcr.io": {"identitytoken": "x"}}}"#;
        c.add_docker_config(Path::new("/h/.docker/config.json"), text).unwrap();
        let (hub, from) = c.get("docker.io").unwrap();
        assert_eq!((hub, from), (&Login::new("user", "pass:word"), "/h/.docker/config.json"));
        assert_eq!(c.get("127.0.0.1:5000").unwrap().0.basic(), "Basic a2lsbjpzM2NyZXQ=");
        assert!(c.get("ghcr.io").is_none());
        c.add_env("127.0.0.1:5000=other:pw, quay.io=q:r").unwrap();
        assert_eq!(c.get("127.0.0.1:5000").unwrap(), (&Login::new("other", "pw"), AUTH_ENV));
        assert_eq!(c.get("quay.io").unwrap().0.user, "q");
        let e = c.add_env("quay.io").unwrap_err();
        assert!(e.contains("HOST=USER:PASSWORD") && !e.contains("q:r"), "{e}");
        let e = c.add_docker_config(Path::new("c.json"), r#"{"auths":{"h":{"auth":"!!"}}}"#).unwrap_err();
        assert!(e.contains("auths.h.auth"), "{e}");
    }

    #[test]
    fn debug_never_shows_a_password() {
        let mut c = Credentials::default();
        c.insert("h", Login::new("kiln", "s3cret"), "test");
        let shown = format!("{c:?}");
        assert!(shown.contains("kiln") && !shown.contains("s3cret"), "{shown}");
    }
}
