//! Image references: `docker://[HOST[:PORT]/]NAME[:TAG][@sha256:HEX]`, normalised as
//! Docker does (no host: Docker Hub; a one-part name there: `library/NAME`; no tag
//! and no digest: `latest`).

use kiln_oci::Digest;
use std::fmt;
use std::net::IpAddr;

/// The scheme every registry reference starts with (as skopeo writes them).
pub const SCHEME: &str = "docker://";

/// Docker Hub's name in references, and the host its API answers on.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// `HOST[:PORT]` as written (`docker.io` when none was).
    pub host: String,
    /// The repository path (`library/alpine`, `team/app`).
    pub repository: String,
    /// The tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// The pinned digest, if the reference has one.
    pub digest: Option<Digest>,
}

impl Reference {
    /// Whether `s` is meant as a registry reference (starts with `docker://`).
    pub fn is_reference(s: &str) -> bool {
        s.starts_with(SCHEME)
    }

    /// Parses `docker://...`; the error says what is wrong and what a reference looks like.
    pub fn parse(s: &str) -> Result<Reference, String> {
        let usage = "a registry reference is docker://[HOST[:PORT]/]NAME[:TAG][@sha256:DIGEST]";
        let rest = s.strip_prefix(SCHEME).ok_or_else(|| format!("{s:?} does not start with {SCHEME}; {usage}"))?;
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d).map_err(|e| format!("{s:?}: {e}"))?)),
            None => (rest, None),
        };
        if digest.as_ref().is_some_and(|d| d.algorithm() != "sha256") {
            return Err(format!("{s:?}: registries address content by sha256 digests"));
        }
        // A tag is after the last ':' that follows the last '/' (a port's ':' is before it).
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && !t.starts_with(['.', '-'])
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !ok {
                return Err(format!("{s:?}: tag {t:?} is not 1-128 of [A-Za-z0-9_.-] (not starting with . or -)"));
            }
        }
        let (host, path) = match name.split_once('/') {
            Some((h, p)) if h.contains(['.', ':']) || h == "localhost" => (h.to_owned(), p.to_owned()),
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let host = if host == "index.docker.io" { DOCKER_HUB.to_owned() } else { host };
        if host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')) {
            return Err(format!("{s:?}: bad registry host {host:?}; {usage}"));
        }
        let repository = if host == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path };
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
                && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
                && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
        };
        if repository.len() > 255 || !repository.split('/').all(component_ok) {
            return Err(format!(
                "{s:?}: repository {repository:?} must be lowercase letters, digits and . _ - between / (each part starting and ending with a letter or digit)"
            ));
        }
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_owned()),
            (t, _) => t.map(str::to_owned),
        };
        Ok(Reference { host, repository, tag, digest })
    }

    /// The same reference without its digest (what a lock file keys on).
    pub fn unpinned(&self) -> Reference {
        Reference { digest: None, tag: self.tag.clone().or_else(|| Some("latest".into())), ..self.clone() }
    }

    /// The same reference pinned to `digest` (the tag kept for people to read).
    pub fn pinned(&self, digest: &Digest) -> Reference {
        Reference { digest: Some(digest.clone()), ..self.clone() }
    }

    /// The host the registry's API answers on (Docker Hub's differs from its name).
    pub fn api_host(&self) -> &str {
        if self.host == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.host
        }
    }

    /// What the manifest endpoint takes: the digest if pinned, else the tag.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.as_str().to_owned(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    /// Whether plain HTTP is allowed by default: `localhost` and 127.0.0.0/8 (and ::1),
    /// as Docker allows.
    pub fn is_loopback(&self) -> bool {
        let host = host_name(&self.host);
        host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// `HOST` of `HOST[:PORT]` (IPv6 literals keep no brackets).
fn host_name(host_port: &str) -> &str {
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.host, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{}", d.as_str())?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = String;
    fn from_str(s: &str) -> Result<Reference, String> {
        Reference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn hosts_ports_tags_and_digests() {
        let r = Reference::parse("docker://127.0.0.1:5000/kiln/app:1.0").unwrap();
        assert_eq!((r.host.as_str(), r.repository.as_str(), r.tag.as_deref()), ("127.0.0.1:5000", "kiln/app", Some("1.0")));
        assert!(r.is_loopback() && r.digest.is_none());
        let r = Reference::parse(&format!("docker://localhost:5000/app@{D}")).unwrap();
        assert_eq!((r.tag, r.digest.unwrap().as_str()), (None, D));
        let r = Reference::parse(&format!("docker://ghcr.io/o/app:v2@{D}")).unwrap();
        assert_eq!((r.host.as_str(), r.tag.as_deref(), r.is_loopback()), ("ghcr.io", Some("v2"), false));
        assert_eq!(r.to_string(), format!("docker://ghcr.io/o/app:v2@{D}"));
        assert_eq!(r.unpinned().to_string(), "docker://ghcr.io/o/app:v2");
        assert_eq!(r.manifest_ref(), D);
        let r = Reference::parse("docker://[::1]:5000/app").unwrap();
        assert!(r.is_loopback() && r.tag.as_deref() == Some("latest"));
        assert!(!Reference::parse("docker://10.0.2.2:5000/app").unwrap().is_loopback());
        assert!(!Reference::parse("docker://127.example.com/app").unwrap().is_loopback());
    }

    #[test]
    fn docker_hub_is_normalised_as_docker_does() {
        let r = Reference::parse("docker://alpine").unwrap();
        assert_eq!(r.to_string(), "docker://docker.io/library/alpine:latest");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        let r = Reference::parse("docker://index.docker.io/team/app:3").unwrap();
        assert_eq!(r.to_string(), "docker://docker.io/team/app:3");
        assert_eq!(Reference::parse("docker://team/app").unwrap().host, "docker.io");
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        for (input, says) in [
            ("/tmp/app.tar", "does not start with docker://"),
            ("docker://App:1", "lowercase"),
            ("docker://127.0.0.1:5000/app:", "tag"),
            ("docker://127.0.0.1:5000/app:-x", "tag"),
            ("docker://127.0.0.1:5000/app@sha256:12", "64 lowercase hex"),
            (&format!("docker://h.io/app@sha512:{}", "a".repeat(128)), "sha256"),
            ("docker://h.io//app", "repository"),
            ("docker://h.io/app-/x", "repository"),
            ("docker://h_o.io:5000/app", "bad registry host"),
        ] {
            let e = Reference::parse(input).unwrap_err();
            assert!(e.contains(says), "{input}: {e}");
        }
    }
}
