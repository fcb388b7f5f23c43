use crate::hash::sha256_file;
use crate::spec::{Provider, Source, Sources};
use crate::{io_err, Error, Mismatch, Result};
use kiln_util::{lock_path, Lock, Mode};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a download may deliver less than a byte per second before the provider is
/// given up and the next one tried.
pub const DEFAULT_STALL: Duration = Duration::from_secs(30);

/// What a program run by a provider did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    pub success: bool,
    /// How it ended (`exit status: 28`), for messages.
    pub status: String,
    pub stdout: String,
}

/// Runs the external programs a provider needs (curl, apt-get, dpkg-deb). A trait so
/// tests can stand in for the network. `Err` when the program cannot be started.
pub trait Runner {
    fn run(&self, program: &str, args: &[&str], cwd: &Path) -> Result<RunOutput, String>;
}

/// Runs programs for real: stdout is captured, stderr (progress, errors) goes to the terminal.
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn run(&self, program: &str, args: &[&str], cwd: &Path) -> Result<RunOutput, String> {
        let out = duct::cmd(program, args)
            .dir(cwd)
            .stdout_capture()
            .unchecked()
            .run()
            .map_err(|e| format!("cannot run {program}: {e} (run `cargo xtask deps`)"))?;
        Ok(RunOutput {
            success: out.status.success(),
            status: out.status.to_string(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        })
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
    /// Why each provider tried before the one that delivered failed.
    pub failed: Vec<String>,
}

/// Fetches sources into `dir` (a cache that survives `git clean`): `DIR/NAME-VERSION/FILE`,
/// guarded by the lock `DIR/NAME-VERSION.lock` so two runs never download or check the
/// same file at once.
pub struct Fetcher {
    dir: PathBuf,
    runner: Box<dyn Runner>,
    stall: Duration,
    /// `sources.toml`, and every pin in it: for messages, and to keep a cached file that
    /// matches some pin when another pin does not match it.
    spec: PathBuf,
    pins: Vec<(String, String)>,
}

impl Fetcher {
    pub fn new(dir: impl Into<PathBuf>) -> Fetcher {
        Fetcher::with_runner(dir, Box::new(SystemRunner))
    }

    pub fn with_runner(dir: impl Into<PathBuf>, runner: Box<dyn Runner>) -> Fetcher {
        Fetcher { dir: dir.into(), runner, stall: DEFAULT_STALL, spec: "sources.toml".into(), pins: Vec::new() }
    }

    /// Names `sources`' file in messages and knows all its pins.
    pub fn for_sources(mut self, sources: &Sources) -> Fetcher {
        self.spec = sources.path.clone();
        self.pins = sources.pins();
        self
    }

    /// A download that delivers less than a byte per second for `stall` is given up.
    pub fn with_stall_timeout(mut self, stall: Duration) -> Fetcher {
        self.stall = stall;
        self
    }

    fn entry(&self, name: &str, source: &Source) -> PathBuf {
        self.dir.join(format!("{name}-{}", source.version))
    }

    /// Returns the verified tarball for `name`, from the cache when any provider's file is
    /// there, else from the first provider that delivers a file matching the pin.
    pub fn fetch(&self, name: &str, source: &Source) -> Result<Fetched> {
        let entry = self.entry(name, source);
        let lock_file = lock_path(&entry);
        let _lock = Lock::acquire(&lock_file, Mode::Exclusive).map_err(io_err("locking the download"))?;
        std::fs::create_dir_all(&entry).map_err(io_err(format!("creating {}", entry.display())))?;
        // Under the lock nobody else downloads here: a work directory is a dead run's.
        remove_work_dirs(&entry);
        let describe = |i: usize, p: &Provider| format!("[{name}] provider {} ({})", i + 1, p.describe());

        for (i, provider) in source.providers.iter().enumerate() {
            let path = entry.join(provider.file_name());
            if path.exists() {
                self.check_cached(&path, provider, &describe(i, provider))?;
                return Ok(Fetched { path, sha256: source.sha256(), how: "cached", failed: Vec::new() });
            }
        }
        let mut failed = Vec::new();
        for (i, provider) in source.providers.iter().enumerate() {
            let dest = entry.join(provider.file_name());
            let work = entry.join(format!(".tmp-{}", std::process::id()));
            std::fs::create_dir_all(&work).map_err(io_err(format!("creating {}", work.display())))?;
            eprintln!("fetching {name} {} from {}", source.version, provider.describe());
            let got = self.obtain(provider, &work).and_then(|file| {
                let actual = sha256_file(&file).map_err(|e| e.to_string())?;
                if actual.eq_ignore_ascii_case(provider.sha256()) {
                    Ok(file)
                } else {
                    Err(format!(
                        "sha256 mismatch: {} pins {} but the download has {actual} (deleted)",
                        self.spec.display(),
                        provider.sha256()
                    ))
                }
            });
            let result = match got {
                Ok(file) => std::fs::rename(&file, &dest).map_err(io_err(format!("renaming {} to {}", file.display(), dest.display()))),
                Err(reason) => {
                    let _ = std::fs::remove_dir_all(&work);
                    let line = format!("{}: {reason}", describe(i, provider));
                    if i + 1 < source.providers.len() {
                        eprintln!("  {line}; trying the next provider");
                    }
                    failed.push(line);
                    continue;
                }
            };
            let _ = std::fs::remove_dir_all(&work);
            result?;
            let _ = std::fs::write(verified_record(&dest), provider.sha256().to_lowercase());
            return Ok(Fetched { path: dest, sha256: source.sha256(), how: "downloaded", failed });
        }
        let tried = failed.iter().map(|l| format!("  {l}\n")).collect();
        Err(Error::NoProvider { name: name.into(), version: source.version.clone(), tried })
    }

    /// Checks a cached file against its provider's pin. On a mismatch, a file that matches
    /// some other pin (the one it was downloaded with, or another in `sources.toml`) is
    /// kept, since the pin is more likely wrong than the file; any other is moved aside.
    fn check_cached(&self, path: &Path, provider: &Provider, describe: &str) -> Result<()> {
        let actual = sha256_file(path)?;
        let expected = provider.sha256().to_lowercase();
        let record = verified_record(path);
        if actual == expected {
            if std::fs::read_to_string(&record).map(|r| r.trim() != actual).unwrap_or(true) {
                let _ = std::fs::write(&record, &actual);
            }
            return Ok(());
        }
        let recorded = std::fs::read_to_string(&record).unwrap_or_default();
        let matches = if recorded.trim() == actual {
            Some("the pin it was verified against when it was downloaded".to_string())
        } else {
            self.pins.iter().find(|(_, pin)| *pin == actual).map(|(place, _)| format!("the pin of {place}"))
        };
        let note = match matches {
            Some(which) => format!(
                " (the file was kept, since it matches {which}: if the pin in {} is a typo, fix it; if the source really changed, delete {} and it is fetched again)",
                self.spec.display(),
                path.display()
            ),
            None => {
                let mut bad = path.as_os_str().to_owned();
                bad.push(".bad");
                let _ = std::fs::remove_file(&record);
                match std::fs::rename(path, &bad) {
                    Ok(()) => format!(" (moved aside to {}; it will not be used)", Path::new(&bad).display()),
                    Err(_) => " (delete it; it will not be used)".to_string(),
                }
            }
        };
        Err(Error::Mismatch(Box::new(Mismatch {
            path: path.to_owned(),
            spec: self.spec.clone(),
            provider: describe.to_string(),
            expected,
            actual,
            note,
        })))
    }

    /// Runs one provider inside `work`, returning the path of the file it yielded, or why not.
    fn obtain(&self, provider: &Provider, work: &Path) -> Result<PathBuf, String> {
        let apt_root = "APT::Sandbox::User=root";
        let stall = self.stall.as_secs().max(1).to_string();
        let apt_timeout = format!("Acquire::http::Timeout={stall}");
        let failed = |program: &str, out: &RunOutput| format!("`{program}` failed ({})", out.status);
        match provider {
            Provider::Url { url, .. } => {
                let out = work.join(provider.file_name());
                let out_s = out.to_string_lossy();
                let progress = if std::io::IsTerminal::is_terminal(&std::io::stderr()) { "--progress-bar" } else { "-sS" };
                let args = [
                    "-fL", progress, "--connect-timeout", "15", "--speed-limit", "1", "--speed-time", &stall,
                    "-w", CURL_REPORT, "-o", &out_s, url,
                ];
                let run = self.runner.run("curl", &args, work)?;
                if !run.success {
                    return Err(curl_reason(&run, &stall));
                }
                Ok(out)
            }
            Provider::DebianPackage { package, version, member, .. } => {
                let spec = format!("{package}={version}");
                let run = self.runner.run("apt-get", &["download", "-q", "-o", apt_root, "-o", &apt_timeout, &spec], work)?;
                if !run.success {
                    return Err(failed("apt-get download", &run));
                }
                let deb = find_file(work, |n| n.ends_with(".deb"))
                    .ok_or_else(|| format!("apt-get download left no .deb in {}", work.display()))?;
                let tree = work.join("x");
                let run = self.runner.run("dpkg-deb", &["-x", &deb.to_string_lossy(), &tree.to_string_lossy()], work)?;
                if !run.success {
                    return Err(failed("dpkg-deb -x", &run));
                }
                let file = tree.join(member.trim_start_matches('/'));
                if !file.is_file() {
                    return Err(format!("{} has no member {member}", deb.display()));
                }
                Ok(file)
            }
            Provider::DebianSource { package, version, file, .. } => {
                let spec = format!("{package}={version}");
                let args = ["source", "--download-only", "-q", "-o", apt_root, "-o", &apt_timeout, &spec];
                let run = self.runner.run("apt-get", &args, work)?;
                if !run.success {
                    return Err(format!("{} (apt needs a deb-src entry: run `cargo xtask deps`)", failed("apt-get source", &run)));
                }
                let path = work.join(file);
                if !path.is_file() {
                    return Err(format!("apt-get source did not yield {file}"));
                }
                Ok(path)
            }
        }
    }
}

/// curl's `-w` report, printed even when it fails: exit code, seconds to connect, bytes
/// received, error message.
const CURL_REPORT: &str = "%{exitcode}|%{time_connect}|%{size_download}|%{errormsg}";

/// Why curl failed, from its `-w` report: a stall (connected, then too little data)
/// is told apart from failing to connect.
fn curl_reason(run: &RunOutput, stall: &str) -> String {
    let fields: Vec<&str> = run.stdout.trim().splitn(4, '|').collect();
    match fields.as_slice() {
        ["28", connect, bytes, message] if connect.parse::<f64>().is_ok_and(|t| t > 0.0) => {
            format!("stalled: the server sent {bytes} bytes, then less than 1 byte/s for {stall} s (curl: {message})")
        }
        [code, _, _, message] => format!("curl failed (exit code {code}): {message}"),
        _ => format!("curl failed ({})", run.status),
    }
}

/// The pin a cached file was verified against: `DIR/.FILE.sha256`. Only a hint for what
/// to do with a file that stops matching; a file is never trusted because of it.
fn verified_record(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.sha256"))
}

/// Deletes the `.tmp-PID` work directories in `entry` (call only with its lock held).
fn remove_work_dirs(entry: &Path) {
    let Ok(dir) = std::fs::read_dir(entry) else { return };
    for e in dir.flatten() {
        if e.file_name().to_string_lossy().starts_with(".tmp-") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn find_file(dir: &Path, pred: impl Fn(&str) -> bool) -> Option<PathBuf> {
    std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).find(|p| {
        p.is_file() && p.file_name().and_then(|n| n.to_str()).is_some_and(&pred)
    })
}

#[cfg(test)]
mod tests;
