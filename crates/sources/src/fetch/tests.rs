use super::*;
use crate::hash::hex;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::rc::Rc;

/// Pretends to be curl: serves `body` for URLs containing "good", fails otherwise.
struct FakeNet {
    body: Vec<u8>,
    calls: Rc<RefCell<Vec<String>>>,
}

impl Runner for FakeNet {
    fn run(&self, program: &str, args: &[&str], _cwd: &Path) -> Result<RunOutput, String> {
        let url = args.last().unwrap().to_string();
        self.calls.borrow_mut().push(format!("{program} {url}"));
        if !url.contains("good") {
            let stdout = "6|0.000000|0|Could not resolve host: down.example".into();
            return Ok(RunOutput { success: false, status: "exit status: 6".into(), stdout });
        }
        let out = args.iter().position(|a| *a == "-o").map(|i| args[i + 1]).unwrap();
        std::fs::write(out, &self.body).unwrap();
        Ok(RunOutput { success: true, status: "exit status: 0".into(), stdout: String::new() })
    }
}

fn sha(body: &[u8]) -> String {
    hex(&Sha256::digest(body))
}

fn source(body: &[u8], urls: &[&str]) -> Source {
    let sha256 = sha(body);
    Source {
        version: "1.0".into(),
        providers: urls.iter().map(|u| Provider::Url { url: u.to_string(), sha256: sha256.clone() }).collect(),
    }
}

fn fetcher(dir: &Path, body: &[u8]) -> (Fetcher, Rc<RefCell<Vec<String>>>) {
    let calls = Rc::new(RefCell::new(Vec::new()));
    let net = FakeNet { body: body.to_vec(), calls: calls.clone() };
    (Fetcher::with_runner(dir, Box::new(net)), calls)
}

#[test]
fn falls_back_to_next_provider_then_uses_cache_offline() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(b"tarball", &["https://down.example/x.tar.xz", "https://good.example/x.tar.xz"]);
    let (f, calls) = fetcher(dir.path(), b"tarball");
    let Fetched { path, how, failed, .. } = f.fetch("x", &src).unwrap();
    assert_eq!(how, "downloaded");
    assert_eq!(std::fs::read(&path).unwrap(), b"tarball");
    assert_eq!(calls.borrow().len(), 2);
    assert!(failed.len() == 1 && failed[0].contains("down.example") && failed[0].contains("Could not resolve"), "{failed:?}");
    // Second run: no network needed at all.
    let (offline, calls) = fetcher(dir.path(), b"");
    let again = offline.fetch("x", &src).unwrap();
    assert_eq!((again.path, again.how), (path, "cached"));
    assert!(calls.borrow().is_empty());
}

#[test]
fn tampered_download_is_an_error_and_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(b"pinned", &["https://good.example/x.tar.xz"]);
    let (f, _) = fetcher(dir.path(), b"tampered");
    let err = f.fetch("x", &src).unwrap_err().to_string();
    assert!(err.contains("sha256 mismatch") && err.contains("x.tar.xz") && err.contains(&sha(b"tampered")), "{err}");
    assert!(!dir.path().join("x-1.0/x.tar.xz").exists());
}

#[test]
fn tampered_cache_is_an_error_then_refetched() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(b"pinned", &["https://good.example/x.tar.xz"]);
    let (f, _) = fetcher(dir.path(), b"pinned");
    let path = f.fetch("x", &src).unwrap().path;
    std::fs::write(&path, b"corrupted").unwrap();
    let err = f.fetch("x", &src).unwrap_err().to_string();
    assert!(err.contains("sha256 mismatch") && err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("moved aside"), "{err}");
    let again = f.fetch("x", &src).unwrap();
    assert_eq!((std::fs::read(&again.path).unwrap(), again.how), (b"pinned".to_vec(), "downloaded"));
}

#[test]
fn all_providers_failing_lists_each() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(b"x", &["https://a.example/x.tgz", "https://b.example/x.tgz"]);
    let (f, _) = fetcher(dir.path(), b"x");
    let err = f.fetch("x", &src).unwrap_err().to_string();
    assert!(err.contains("a.example") && err.contains("b.example") && err.contains("Could not resolve"), "{err}");
}

/// Issue 8, defect 9: a typo in a pin used to move the good cached file aside. A file
/// that matches another pin (here: the one it was downloaded with) is kept, and the
/// error names sources.toml, the provider and both hashes.
#[test]
fn a_pin_typo_keeps_the_good_cached_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = source(b"tarball", &["https://good.example/linux.tar.xz"]);
    let (f, _) = fetcher(dir.path(), b"tarball");
    let path = f.fetch("linux", &good).unwrap().path;
    let mut typo = good.clone();
    let typo_pin = format!("0{}", &sha(b"tarball")[1..]);
    typo.providers[0] = Provider::Url { url: "https://good.example/linux.tar.xz".into(), sha256: typo_pin.clone() };
    let err = f.fetch("linux", &typo).unwrap_err().to_string();
    assert!(err.contains("sources.toml") && err.contains("[linux] provider 1 (https://good.example/linux.tar.xz)"), "{err}");
    assert!(err.contains(&typo_pin) && err.contains(&sha(b"tarball")) && err.contains("kept"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"tarball", "the good file stays where it is");
    // With the pin fixed it is used again, offline.
    assert_eq!(f.fetch("linux", &good).unwrap().how, "cached");
}

#[test]
fn a_cached_file_matching_a_pin_elsewhere_in_sources_toml_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[busybox]\nversion = \"1.0\"\n[[busybox.provider]]\nkind = \"url\"\nurl = \"https://good.example/bb.tar.bz2\"\nsha256 = \"{}\"\n\
         [other]\nversion = \"1.0\"\n[[other.provider]]\nkind = \"url\"\nurl = \"https://good.example/o.tar.xz\"\nsha256 = \"{}\"\n",
        sha(b"busybox"),
        sha(b"other")
    );
    let sources = Sources::parse(Path::new("/repo/sources.toml"), &text).unwrap();
    let (f, _) = fetcher(dir.path(), b"");
    let f = f.for_sources(&sources);
    let cached = dir.path().join("busybox-1.0/bb.tar.bz2");
    std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
    std::fs::write(&cached, b"other").unwrap();
    let err = f.fetch("busybox", sources.get("busybox").unwrap()).unwrap_err().to_string();
    assert!(err.contains("/repo/sources.toml") && err.contains("the pin of [other] provider 1"), "{err}");
    assert!(err.contains(&sha(b"busybox")) && err.contains(&sha(b"other")), "{err}");
    assert!(cached.exists() && !dir.path().join("busybox-1.0/bb.tar.bz2.bad").exists());
}

#[test]
fn work_dirs_of_dead_runs_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(b"t", &["https://good.example/x.tar.xz"]);
    let leftover = dir.path().join("x-1.0/.tmp-12345/x");
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("linux-source.deb"), b"half a download").unwrap();
    let (f, _) = fetcher(dir.path(), b"t");
    f.fetch("x", &src).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path().join("x-1.0")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "the file and its verified pin, nothing else: {names:?}");
}

/// A server on 127.0.0.1 that accepts connections and never sends a byte.
fn stalling_server() -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/linux.tar.xz", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        // Read the request and whatever follows until curl gives up and closes.
        while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
    });
    (url, handle)
}

/// A server on 127.0.0.1 that answers one request with `body`.
fn serving(body: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/linux.tar.xz", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                return;
            }
            req.extend_from_slice(&buf[..n]);
        }
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        conn.write_all(head.as_bytes()).unwrap();
        conn.write_all(body).unwrap();
    });
    url
}

/// Issue 8, defect 2: a server that accepts and then sends nothing used to hang the
/// build forever. With real curl: the stall is given up after the stall time, the
/// reason is reported, and the next provider delivers.
#[test]
fn a_stalled_download_falls_through_to_the_next_provider() {
    let dir = tempfile::tempdir().unwrap();
    let (stalled, server) = stalling_server();
    let good = serving(b"tarball");
    let src = source(b"tarball", &[&stalled, &good]);
    let f = Fetcher::new(dir.path()).with_stall_timeout(Duration::from_secs(1));
    let started = std::time::Instant::now();
    let got = f.fetch("linux", &src).unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_eq!((std::fs::read(&got.path).unwrap(), got.how), (b"tarball".to_vec(), "downloaded"));
    assert_eq!(got.failed.len(), 1, "{:?}", got.failed);
    let reason = &got.failed[0];
    assert!(reason.contains(&stalled) && reason.contains("stalled") && reason.contains("for 1 s"), "{reason}");
    server.join().unwrap();
}

#[test]
fn a_stall_with_no_other_provider_is_an_error_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let (stalled, server) = stalling_server();
    let src = source(b"tarball", &[&stalled]);
    let f = Fetcher::new(dir.path()).with_stall_timeout(Duration::from_secs(1));
    let err = f.fetch("linux", &src).unwrap_err().to_string();
    assert!(err.contains("no provider could supply linux 1.0") && err.contains("stalled"), "{err}");
    server.join().unwrap();
}

#[test]
fn curl_reasons_tell_a_stall_from_a_refused_connection() {
    let run = |stdout: &str| RunOutput { success: false, status: "exit status: 28".into(), stdout: stdout.into() };
    let stall = curl_reason(&run("28|0.000626|0|Operation too slow. Less than 1 bytes/sec transferred the last 2 seconds"), "2");
    assert!(stall.starts_with("stalled: the server sent 0 bytes, then less than 1 byte/s for 2 s"), "{stall}");
    let refused = curl_reason(&run("7|0.000000|0|Failed to connect to 127.0.0.1 port 1"), "2");
    assert_eq!(refused, "curl failed (exit code 7): Failed to connect to 127.0.0.1 port 1");
    assert_eq!(curl_reason(&run(""), "2"), "curl failed (exit status: 28)");
}
