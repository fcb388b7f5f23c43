use crate::hash::verify_sha256;
use crate::spec::{Provider, Source};
use crate::{io_err, Error, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the external programs a provider needs (curl, apt-get, dpkg-deb). A trait so
/// tests can stand in for the network.
pub trait Runner {
    fn run(&self, program: &str, args: &[&str], cwd: &Path) -> Result<(), String>;
}

/// Runs programs for real, their progress output going to the terminal.
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn run(&self, program: &str, args: &[&str], cwd: &Path) -> Result<(), String> {
        let status = Command::new(program)
            .args(args)
            .current_dir(cwd)
            .stdout(std::process::Stdio::null())
            .status()
            .map_err(|e| format!("cannot run {program}: {e} (run `cargo xtask deps`)"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{program} {}` failed ({status})", args.join(" ")))
        }
    }
}

/// A verified source tarball.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub path: PathBuf,
    /// Its sha256 (verified just now): the identity of everything built from it.
    pub sha256: String,
    /// `cached` or `downloaded`.
    pub how: &'static str,
}

/// Fetches sources into `dir` (a cache that survives `git clean`).
pub struct Fetcher {
    dir: PathBuf,
    runner: Box<dyn Runner>,
}

impl Fetcher {
    pub fn new(dir: impl Into<PathBuf>) -> Fetcher {
        Fetcher { dir: dir.into(), runner: Box::new(SystemRunner) }
    }

    pub fn with_runner(dir: impl Into<PathBuf>, runner: Box<dyn Runner>) -> Fetcher {
        Fetcher { dir: dir.into(), runner }
    }

    fn cached_path(&self, name: &str, source: &Source, provider: &Provider) -> PathBuf {
        self.dir.join(format!("{name}-{}", source.version)).join(provider.file_name())
    }

    /// Returns the verified tarball for `name`, from the cache when any provider's file is
    /// there, else from the first provider that delivers.
    pub fn fetch(&self, name: &str, source: &Source) -> Result<Fetched> {
        for provider in &source.providers {
            let path = self.cached_path(name, source, provider);
            if path.exists() {
                verify_sha256(&path, provider.sha256())?;
                return Ok(Fetched { path, sha256: provider.sha256().to_lowercase(), how: "cached" });
            }
        }
        let mut tried = String::new();
        for provider in &source.providers {
            let dest = self.cached_path(name, source, provider);
            let parent = dest.parent().expect("cached path has a parent");
            std::fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
            let work = parent.join(format!(".tmp-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&work);
            std::fs::create_dir_all(&work).map_err(io_err(format!("creating {}", work.display())))?;
            eprintln!("fetching {name} {} from {}", source.version, provider.describe());
            let got = self.obtain(provider, &work);
            let result = match got {
                Ok(file) => verify_sha256(&file, provider.sha256()).and_then(|()| {
                    std::fs::rename(&file, &dest).map_err(io_err(format!("renaming {} to {}", file.display(), dest.display())))
                }),
                Err(message) => {
                    tried.push_str(&format!("  {}: {message}\n", provider.describe()));
                    let _ = std::fs::remove_dir_all(&work);
                    continue;
                }
            };
            let _ = std::fs::remove_dir_all(&work);
            result?;
            return Ok(Fetched { path: dest, sha256: provider.sha256().to_lowercase(), how: "downloaded" });
        }
        Err(Error::NoProvider { name: name.into(), version: source.version.clone(), tried })
    }

    /// Runs one provider inside `work`, returning the path of the file it yielded.
    fn obtain(&self, provider: &Provider, work: &Path) -> Result<PathBuf, String> {
        let apt_root = "APT::Sandbox::User=root";
        match provider {
            Provider::Url { url, .. } => {
                let out = work.join(provider.file_name());
                let out_s = out.to_string_lossy();
                let progress = if std::io::IsTerminal::is_terminal(&std::io::stderr()) { "--progress-bar" } else { "-sS" };
                self.runner.run(
                    "curl",
                    &["-fL", progress, "--connect-timeout", "15", "-o", &out_s, url],
                    work,
                )?;
                Ok(out)
            }
            Provider::DebianPackage { package, version, member, .. } => {
                let spec = format!("{package}={version}");
                self.runner.run("apt-get", &["download", "-q", "-o", apt_root, &spec], work)?;
                let deb = find_file(work, |n| n.ends_with(".deb"))
                    .ok_or_else(|| format!("apt-get download left no .deb in {}", work.display()))?;
                let tree = work.join("x");
                self.runner.run("dpkg-deb", &["-x", &deb.to_string_lossy(), &tree.to_string_lossy()], work)?;
                let file = tree.join(member.trim_start_matches('/'));
                if !file.is_file() {
                    return Err(format!("{} has no member {member}", deb.display()));
                }
                Ok(file)
            }
            Provider::DebianSource { package, version, file, .. } => {
                let spec = format!("{package}={version}");
                self.runner
                    .run("apt-get", &["source", "--download-only", "-q", "-o", apt_root, &spec], work)
                    .map_err(|e| format!("{e} (apt needs a deb-src entry: run `cargo xtask deps`)"))?;
                let path = work.join(file);
                if !path.is_file() {
                    return Err(format!("apt-get source did not yield {file}"));
                }
                Ok(path)
            }
        }
    }
}

fn find_file(dir: &Path, pred: impl Fn(&str) -> bool) -> Option<PathBuf> {
    std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).find(|p| {
        p.is_file() && p.file_name().and_then(|n| n.to_str()).is_some_and(&pred)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hex;
    use sha2::{Digest, Sha256};
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Pretends to be curl: serves `body` for URLs containing "good", fails otherwise.
    struct FakeNet {
        body: Vec<u8>,
        calls: Rc<RefCell<Vec<String>>>,
    }

    impl Runner for FakeNet {
        fn run(&self, program: &str, args: &[&str], _cwd: &Path) -> Result<(), String> {
            let url = args.last().unwrap().to_string();
            self.calls.borrow_mut().push(format!("{program} {url}"));
            if !url.contains("good") {
                return Err("could not resolve host".into());
            }
            let out = args.iter().position(|a| *a == "-o").map(|i| args[i + 1]).unwrap();
            std::fs::write(out, &self.body).unwrap();
            Ok(())
        }
    }

    fn source(body: &[u8], urls: &[&str]) -> Source {
        let sha256 = hex(&Sha256::digest(body));
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
        let Fetched { path, how, .. } = f.fetch("x", &src).unwrap();
        assert_eq!(how, "downloaded");
        assert_eq!(std::fs::read(&path).unwrap(), b"tarball");
        assert_eq!(calls.borrow().len(), 2);
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
        assert!(err.contains("sha256 mismatch") && err.contains("x.tar.xz"), "{err}");
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
        let again = f.fetch("x", &src).unwrap();
        assert_eq!((std::fs::read(&again.path).unwrap(), again.how), (b"pinned".to_vec(), "downloaded"));
    }

    #[test]
    fn all_providers_failing_lists_each() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(b"x", &["https://a.example/x.tgz", "https://b.example/x.tgz"]);
        let (f, _) = fetcher(dir.path(), b"x");
        let err = f.fetch("x", &src).unwrap_err().to_string();
        assert!(err.contains("a.example") && err.contains("b.example") && err.contains("could not resolve"), "{err}");
    }
}
