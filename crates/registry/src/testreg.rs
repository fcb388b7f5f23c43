//! A real registry for tests: Debian's `docker-registry` (the CNCF distribution
//! registry 2.8) on a free port of 127.0.0.1, storage in a temporary directory,
//! optionally behind an htpasswd login; images pushed into it with `skopeo`.
//! Dropping it kills the registry. A missing tool is an error, never a skip.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running registry.
pub struct TestRegistry {
    pub addr: SocketAddr,
    login: Option<(String, String)>,
    dir: tempfile::TempDir,
    child: Child,
}

impl TestRegistry {
    /// Starts a registry; with `login`, every request needs it (basic auth).
    pub fn start(login: Option<(&str, &str)>) -> Result<TestRegistry, String> {
        let dir = tempfile::Builder::new().prefix("kiln-registry-").tempdir().map_err(|e| e.to_string())?;
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut auth = String::new();
        if let Some((user, password)) = login {
            let hash = bcrypt::hash(password, 5).map_err(|e| e.to_string())?;
            std::fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n")).map_err(|e| e.to_string())?;
            auth = format!("auth:\n  htpasswd:\n    realm: kiln-test\n    path: {}\n", dir.path().join("htpasswd").display());
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{auth}",
            dir.path().join("storage").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.path().join("registry.log")).map_err(|e| e.to_string())?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting docker-registry (Debian package docker-registry; `cargo xtask deps`): {e}"))?;
        let mut reg = TestRegistry { addr, login: login.map(|(u, p)| (u.into(), p.into())), dir, child };
        reg.wait_ready()?;
        Ok(reg)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("docker-registry exited ({status}): {}", self.log()));
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("docker-registry did not listen on {} within 30 s: {}", self.addr, self.log()))
    }

    /// What the registry logged.
    pub fn log(&self) -> String {
        let mut s = String::new();
        let _ = std::fs::File::open(self.dir.path().join("registry.log")).and_then(|mut f| f.read_to_string(&mut s));
        s
    }

    /// `docker://127.0.0.1:PORT/NAME` (NAME with its tag or digest).
    pub fn reference(&self, name: &str) -> String {
        format!("docker://{}/{name}", self.addr)
    }

    /// Copies `source` (skopeo syntax: `oci-archive:PATH`, `oci:DIR:TAG`) to NAME:TAG
    /// here; `all` copies every platform of an index.
    pub fn push(&self, source: &str, name_tag: &str, all: bool) -> Result<(), String> {
        let mut cmd = Command::new("skopeo");
        cmd.args(["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"]);
        if all {
            cmd.arg("--all");
        }
        if let Some((u, p)) = &self.login {
            cmd.arg(format!("--dest-creds={u}:{p}"));
        }
        cmd.arg(source).arg(format!("docker://{}/{name_tag}", self.addr));
        let out = cmd.output().map_err(|e| format!("running skopeo (Debian package skopeo): {e}"))?;
        if !out.status.success() {
            return Err(format!("skopeo copy {source} -> {name_tag}: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(())
    }

    /// Where the registry keeps blob `digest`'s bytes (to alter them in tests).
    pub fn blob_data(&self, digest: &kiln_oci::Digest) -> PathBuf {
        let hex = digest.hex();
        self.storage().join("docker/registry/v2/blobs").join(digest.algorithm()).join(&hex[..2]).join(hex).join("data")
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
