//! Bearer-token auth (Docker Hub's and most public registries' scheme) against a small
//! fake registry: docker-registry's own token auth needs a token service with signed
//! JWTs, so this side of the client is checked with a server that speaks just the
//! exchange: 401 + challenge, the token request (with the login), the retry.

use kiln_registry::{Client, Credentials, Login, Options, Reference};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const MANIFEST: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}"#;

/// Serves the token exchange on 127.0.0.1; records each request's line and
/// Authorization header.
fn fake_registry() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (log, host) = (seen.clone(), addr.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("authorization:") {
                    auth = h[h.len() - v.len()..].trim().to_owned();
                }
            }
            log.lock().unwrap().push(format!("{} | {auth}", line.trim()));
            let (status, headers, body): (&str, String, Vec<u8>) = if line.contains("/token?") {
                // kiln:pw in base64 is a2lsbjpwdw==
                if auth == "Basic a2lsbjpwdw==" && line.contains("scope=repository:team/app:pull") && line.contains("service=fake") {
                    ("200 OK", String::new(), br#"{"token":"t0k3n"}"#.to_vec())
                } else {
                    ("401 Unauthorized", String::new(), Vec::new())
                }
            } else if auth == "Bearer t0k3n" {
                let digest = kiln_oci::Digest::sha256(MANIFEST);
                ("200 OK", format!("Content-Type: application/vnd.oci.image.manifest.v1+json\r\nDocker-Content-Digest: {}\r\n", digest.as_str()), MANIFEST.to_vec())
            } else {
                let challenge = format!("Bearer realm=\"http://{host}/token\",service=\"fake\",scope=\"repository:team/app:pull\"");
                ("401 Unauthorized", format!("WWW-Authenticate: {challenge}\r\n"), Vec::new())
            };
            let head = line.starts_with("HEAD");
            let _ = write!(stream, "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            if !head {
                let _ = stream.write_all(&body);
            }
        }
    });
    (addr, seen)
}

#[test]
fn bearer_tokens_are_fetched_with_the_login_and_reused() {
    let (addr, seen) = fake_registry();
    let r = Reference::parse(&format!("docker://{addr}/team/app:1")).unwrap();
    let mut creds = Credentials::default();
    creds.insert(&addr, Login::new("kiln", "pw"), "the test");
    let c = Client::new(Options { credentials: creds, ..Options::default() });
    let digest = c.resolve(&r).unwrap();
    assert_eq!(digest, kiln_oci::Digest::sha256(MANIFEST));
    let m = c.manifest(&r, digest.as_str()).unwrap();
    assert_eq!(m.bytes, MANIFEST);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "challenge, token, HEAD, GET (the token reused): {seen:#?}");
    assert!(seen[1].contains("/token?") && seen[1].ends_with("Basic a2lsbjpwdw=="), "{seen:#?}");
    assert!(seen[2].starts_with("HEAD") && seen[3].starts_with("GET") && seen[3].ends_with("Bearer t0k3n"), "{seen:#?}");
}

#[test]
fn a_refused_token_request_says_how_to_log_in() {
    let (addr, _) = fake_registry();
    let r = Reference::parse(&format!("docker://{addr}/team/app:1")).unwrap();
    let e = Client::new(Options::default()).resolve(&r).unwrap_err().to_string();
    assert!(e.contains("asks for a login") && e.contains("docker login"), "{e}");
    let mut creds = Credentials::default();
    creds.insert(&addr, Login::new("kiln", "nope"), "KILN_REGISTRY_AUTH");
    let e = Client::new(Options { credentials: creds, ..Options::default() }).resolve(&r).unwrap_err().to_string();
    assert!(e.contains("\"kiln\" (from KILN_REGISTRY_AUTH) was refused") && !e.contains("nope"), "{e}");
}
