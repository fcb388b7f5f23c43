//! The OCI distribution API over blocking HTTP(S) (ureq): manifests, blobs, auth.

use crate::auth::{Challenge, Credentials};
use crate::{Error, Reference, Result, MANIFEST_TYPES};
use kiln_oci::Digest;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use ureq::http::Response;
use ureq::Body;

/// The largest manifest or index accepted (containerd's limit).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// How the client connects.
#[derive(Debug, Clone)]
pub struct Options {
    /// Hosts (`HOST` or `HOST:PORT`) spoken to over plain HTTP besides loopback ones.
    pub insecure: Vec<String>,
    pub credentials: Credentials,
    /// Connect timeout, and the longest wait for a response or the next body bytes.
    pub timeout: Duration,
}

/// Hosts (`HOST[:PORT]`, comma- or space-separated) spoken to over plain HTTP besides
/// loopback ones.
pub const INSECURE_ENV: &str = "KILN_INSECURE_REGISTRIES";

impl Options {
    /// The user's settings: credentials ([`Credentials::from_user`]) and the hosts in
    /// [`INSECURE_ENV`]. An unreadable credentials file is an error naming it.
    pub fn from_user() -> Result<Options, String> {
        let credentials = Credentials::from_user()?;
        let insecure = std::env::var(INSECURE_ENV).unwrap_or_default().split([',', ' ']).filter(|s| !s.is_empty()).map(str::to_owned).collect();
        Ok(Options { insecure, credentials, ..Options::default() })
    }
}

impl Default for Options {
    fn default() -> Options {
        Options { insecure: Vec::new(), credentials: Credentials::default(), timeout: Duration::from_secs(30) }
    }
}

/// Download progress of one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<'a> {
    /// A blob download starts; `resumed` bytes were already there from an earlier try.
    Start { digest: &'a Digest, size: u64, resumed: u64 },
    /// This many more bytes arrived.
    Bytes(u64),
    /// The blob is complete and checked.
    Done,
}

/// A manifest or index as the registry sent it, checked against its digest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// A registry client; one per build (it keeps tokens per repository).
pub struct Client {
    agent: ureq::Agent,
    opts: Options,
    /// `Authorization` values by `HOST/REPOSITORY`.
    auth: Mutex<HashMap<String, String>>,
}

impl Client {
    pub fn new(opts: Options) -> Client {
        let t = Some(opts.timeout);
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(t)
            .timeout_recv_response(t)
            .timeout_recv_body(None)
            .user_agent(concat!("kiln-registry/", env!("CARGO_PKG_VERSION")))
            .build();
        Client { agent: config.into(), opts, auth: Mutex::new(HashMap::new()) }
    }

    /// `http://` for loopback and insecure hosts, else `https://`, then the API host.
    pub fn base_url(&self, r: &Reference) -> String {
        let host_only = r.host.rsplit_once(':').map_or(r.host.as_str(), |(h, _)| h);
        let plain = r.is_loopback() || self.opts.insecure.iter().any(|i| i == &r.host || i == host_only);
        format!("{}://{}", if plain { "http" } else { "https" }, r.api_host())
    }

    /// The manifest or index `reference` (a tag or digest) names, checked against the
    /// digest when it is one.
    pub fn manifest(&self, r: &Reference, reference: &str) -> Result<Manifest> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base_url(r), r.repository);
        let what = format!("{}/{}:{reference}", r.host, r.repository);
        let resp = self.request(r, "GET", &url, &[("Accept", MANIFEST_TYPES.join(", "))], &what)?;
        let header_type = header(&resp, "content-type");
        let mut bytes = Vec::new();
        resp.into_body()
            .into_reader()
            .take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| unreachable(r, &url, e.to_string()))?;
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(Error::Format { what, reason: format!("manifest over {MAX_MANIFEST_BYTES} bytes") });
        }
        let digest = Digest::sha256(&bytes);
        if let Ok(wanted) = Digest::parse(reference) {
            if wanted != digest {
                let size = bytes.len() as u64;
                return Err(Error::Digest { what: format!("manifest of {what}"), digest: wanted.as_str().into(), actual: digest.as_str().into(), size });
            }
        }
        let body_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .map_err(|e| Error::Format { what: what.clone(), reason: format!("manifest is not JSON: {e}") })?
            .get("mediaType")
            .and_then(|m| m.as_str().map(str::to_owned));
        let media_type = body_type.or(header_type.filter(|t| MANIFEST_TYPES.contains(&t.as_str()))).ok_or_else(|| Error::Format {
            what: what.clone(),
            reason: "the manifest names no media type".into(),
        })?;
        Ok(Manifest { bytes, media_type, digest })
    }

    /// The digest a tag points to now (`HEAD`, falling back to fetching it when the
    /// registry sends no `Docker-Content-Digest`).
    pub fn resolve(&self, r: &Reference) -> Result<Digest> {
        let tag = r.unpinned().manifest_ref();
        let url = format!("{}/v2/{}/manifests/{tag}", self.base_url(r), r.repository);
        let what = format!("{}/{}:{tag}", r.host, r.repository);
        let resp = self.request(r, "HEAD", &url, &[("Accept", MANIFEST_TYPES.join(", "))], &what)?;
        match header(&resp, "docker-content-digest").and_then(|d| Digest::parse(&d).ok()) {
            Some(d) => Ok(d),
            None => Ok(self.manifest(r, &tag)?.digest),
        }
    }

    /// Downloads blob `digest` of `size` bytes into `partial` (appending to what an
    /// earlier try left there when the registry honours a range), checks size and
    /// sha256, and renames it to `dest`. A mismatch removes `partial`. Returns the bytes
    /// fetched now.
    pub fn blob(&self, r: &Reference, digest: &Digest, size: u64, partial: &Path, dest: &Path, progress: &mut dyn FnMut(Progress)) -> Result<u64> {
        let url = format!("{}/v2/{}/blobs/{}", self.base_url(r), r.repository, digest.as_str());
        let what = format!("blob {} of {}/{}", digest.as_str(), r.host, r.repository);
        let have = std::fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
        let have = if have >= size { 0 } else { have };
        let range = (have > 0).then(|| ("Range", format!("bytes={have}-")));
        let resp = self.request(r, "GET", &url, range.as_slice(), &what)?;
        let resumed = if resp.status().as_u16() == 206 { have } else { 0 };
        let mut file = File::options().create(true).append(false).write(true).read(true).truncate(false).open(partial).map_err(Error::io(partial))?;
        let mut hasher = Sha256::new();
        if resumed > 0 {
            // Hash what is kept, then write after it.
            let mut kept = (&mut file).take(resumed);
            std::io::copy(&mut kept, &mut HashWriter(&mut hasher)).map_err(Error::io(partial))?;
        }
        file.set_len(resumed).map_err(Error::io(partial))?;
        file.seek(std::io::SeekFrom::Start(resumed)).map_err(Error::io(partial))?;
        progress(Progress::Start { digest, size, resumed });
        let mut body = resp.into_body().into_reader().take(size - resumed + 1);
        let mut got = resumed;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = body.read(&mut buf).map_err(|e| unreachable(r, &url, format!("{what}: {e} after {got} of {size} bytes (kept for a resumed download)")))?;
            if n == 0 {
                break;
            }
            got += n as u64;
            if got > size {
                drop(file);
                let _ = std::fs::remove_file(partial);
                return Err(Error::Size { what: "blob".into(), digest: digest.as_str().into(), expected: size, actual: got });
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).map_err(Error::io(partial))?;
            progress(Progress::Bytes(n as u64));
        }
        let actual = format!("sha256:{}", hex(&hasher.finalize()));
        if got != size || actual != digest.as_str() {
            drop(file);
            let _ = std::fs::remove_file(partial);
            if got != size {
                return Err(Error::Size { what: "blob".into(), digest: digest.as_str().into(), expected: size, actual: got });
            }
            return Err(Error::Digest { what: "blob".into(), digest: digest.as_str().into(), actual, size: got });
        }
        file.sync_all().map_err(Error::io(partial))?;
        drop(file);
        std::fs::rename(partial, dest).map_err(Error::io(dest))?;
        progress(Progress::Done);
        Ok(got - resumed)
    }

    /// One request with the repository's credentials; on `401`, answers the challenge
    /// once and retries. Statuses other than 2xx become errors naming `what`.
    fn request(&self, r: &Reference, method: &str, url: &str, headers: &[(&str, String)], what: &str) -> Result<Response<Body>> {
        let key = format!("{}/{}", r.host, r.repository);
        let mut auth = self.auth.lock().expect("auth cache").get(&key).cloned();
        for attempt in 0..2 {
            let resp = self.send(r, method, url, headers, auth.as_deref())?;
            let status = resp.status().as_u16();
            if status == 401 && attempt == 0 {
                let challenge = header(&resp, "www-authenticate").and_then(|h| Challenge::parse(&h)).ok_or_else(|| Error::Auth {
                    registry: r.host.clone(),
                    reason: format!("{what}: HTTP 401 without a Basic or Bearer challenge"),
                })?;
                let value = self.authorize(r, &challenge)?;
                self.auth.lock().expect("auth cache").insert(key.clone(), value.clone());
                auth = Some(value);
                continue;
            }
            if status == 401 || status == 403 {
                return Err(self.refused(r, status, what));
            }
            if !(200..300).contains(&status) {
                let detail = match error_detail(resp) {
                    d if d.is_empty() && status == 404 => ": not found (check the repository name and the tag or digest)".into(),
                    d => d,
                };
                return Err(Error::Status { what: what.into(), url: url.into(), status, detail });
            }
            return Ok(resp);
        }
        Err(self.refused(r, 401, what))
    }

    fn send(&self, r: &Reference, method: &str, url: &str, headers: &[(&str, String)], auth: Option<&str>) -> Result<Response<Body>> {
        let result = if method == "HEAD" {
            let mut req = self.agent.head(url);
            for (k, v) in headers.iter().map(|(k, v)| (*k, v.as_str())).chain(auth.map(|a| ("Authorization", a))) {
                req = req.header(k, v);
            }
            req.call()
        } else {
            let mut req = self.agent.get(url);
            for (k, v) in headers.iter().map(|(k, v)| (*k, v.as_str())).chain(auth.map(|a| ("Authorization", a))) {
                req = req.header(k, v);
            }
            req.call()
        };
        result.map_err(|e| unreachable(r, url, e.to_string()))
    }

    /// The `Authorization` value that answers a challenge.
    fn authorize(&self, r: &Reference, challenge: &Challenge) -> Result<String> {
        let login = self.opts.credentials.get(&r.host).map(|(l, _)| l);
        match challenge {
            Challenge::Basic => login.map(|l| l.basic()).ok_or_else(|| self.needs_login(r)),
            Challenge::Bearer { realm, service, scope } => {
                let scope = scope.clone().unwrap_or_else(|| format!("repository:{}:pull", r.repository));
                let mut url = format!("{realm}?scope={}", query(&scope));
                if let Some(s) = service {
                    url.push_str(&format!("&service={}", query(s)));
                }
                // A login goes to the token service only over TLS (or to this same
                // plain-HTTP registry the user allowed).
                let same_plain = realm.starts_with(&self.base_url(r)) && self.base_url(r).starts_with("http://");
                let login = login.filter(|_| realm.starts_with("https://") || same_plain);
                let mut req = self.agent.get(&url);
                if let Some(l) = login {
                    req = req.header("Authorization", &l.basic());
                }
                let resp = req.call().map_err(|e| unreachable(r, realm, format!("token service: {e}")))?;
                let status = resp.status().as_u16();
                if status == 401 || status == 403 {
                    return Err(self.refused(r, status, "token service"));
                }
                if status != 200 {
                    return Err(Error::Status { what: "token service".into(), url: realm.clone(), status, detail: error_detail(resp) });
                }
                let text = resp.into_body().with_config().limit(1 << 20).read_to_string().map_err(|e| unreachable(r, realm, e.to_string()))?;
                let v: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| Error::Auth { registry: r.host.clone(), reason: format!("token service {realm}: {e}") })?;
                let token = v.get("token").or_else(|| v.get("access_token")).and_then(|t| t.as_str()).ok_or_else(|| Error::Auth {
                    registry: r.host.clone(),
                    reason: format!("token service {realm} sent no token"),
                })?;
                Ok(format!("Bearer {token}"))
            }
        }
    }

    fn needs_login(&self, r: &Reference) -> Error {
        Error::Auth {
            registry: r.host.clone(),
            reason: format!(
                "the registry asks for a login and none is configured for {0}: `docker login {0}` (~/.docker/config.json) or {1}={0}=USER:PASSWORD",
                r.host,
                crate::AUTH_ENV
            ),
        }
    }

    fn refused(&self, r: &Reference, status: u16, what: &str) -> Error {
        let reason = match self.opts.credentials.get(&r.host) {
            Some((login, source)) => format!("{what}: the login {:?} (from {source}) was refused (HTTP {status}): wrong user or password, or no pull access", login.user),
            None => return self.needs_login(r),
        };
        Error::Auth { registry: r.host.clone(), reason }
    }
}

fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).map(|s| s.split(';').next().unwrap_or(s).trim().to_owned())
}

/// The registry's error message (`{"errors":[{"code","message"}]}`), briefly.
fn error_detail(resp: Response<Body>) -> String {
    let text = resp.into_body().with_config().limit(64 << 10).read_to_string().unwrap_or_default();
    let parsed: Option<Vec<String>> = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| {
        v.get("errors")?.as_array().map(|es| {
            es.iter().map(|e| format!("{} {}", e.get("code").and_then(|c| c.as_str()).unwrap_or(""), e.get("message").and_then(|c| c.as_str()).unwrap_or(""))).collect()
        })
    });
    match parsed {
        Some(es) if !es.is_empty() => format!(": {}", es.join("; ")),
        _ => String::new(),
    }
}

fn unreachable(r: &Reference, url: &str, reason: String) -> Error {
    let hint = if url.starts_with("https://") && !reason.contains("os error") {
        " (if this registry speaks plain HTTP only, list it in KILN_INSECURE_REGISTRIES)"
    } else {
        ""
    };
    Error::Unreachable { host: r.host.clone(), url: url.into(), reason: format!("{reason}{hint}") }
}

/// Percent-encodes a query value.
fn query(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_listed_hosts() {
        let c = Client::new(Options { insecure: vec!["10.0.2.2:5000".into(), "reg.lan".into()], ..Options::default() });
        let url = |s: &str| c.base_url(&Reference::parse(s).unwrap());
        assert_eq!(url("docker://127.0.0.1:5000/a"), "http://127.0.0.1:5000");
        assert_eq!(url("docker://localhost/a"), "http://localhost");
        assert_eq!(url("docker://10.0.2.2:5000/a"), "http://10.0.2.2:5000");
        assert_eq!(url("docker://10.0.2.2:5001/a"), "https://10.0.2.2:5001");
        assert_eq!(url("docker://reg.lan:443/a"), "http://reg.lan:443");
        assert_eq!(url("docker://alpine"), "https://registry-1.docker.io");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(query("repository:library/alpine:pull,push"), "repository:library/alpine:pull%2Cpush");
        assert_eq!(query("a b&c"), "a%20b%26c");
    }
}
