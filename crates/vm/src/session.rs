//! A running QEMU whose serial console we read and type into.

use crate::ansi::clean;
use crate::machine::Machine;
use crate::{Error, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Output {
    raw: Vec<u8>,
    /// When each chunk of `raw` arrived (time since QEMU's start) and where it begins.
    arrivals: Vec<(Duration, usize)>,
    eof: bool,
}

pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    output: Arc<(Mutex<Output>, Condvar)>,
    started: Instant,
    /// Searches start here (an offset into the cleaned text), so each expectation
    /// matches output that came after the previous one.
    cursor: usize,
    status: Option<ExitStatus>,
    log: PathBuf,
    /// Text that ends any wait at once (a kernel panic will not get better).
    pub fail_on: Vec<String>,
}

impl Session {
    /// Starts QEMU, writing everything the guest prints to `log`.
    pub fn start(machine: &Machine, log: &Path) -> Result<Session> {
        Session::start_program("qemu-system-x86_64", &machine.args(), &machine.command_line(), log)
    }

    /// Starts any program as the "machine" (tests use a shell script).
    pub fn start_program(program: &str, args: &[String], shown: &str, log: &Path) -> Result<Session> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(|source| Error::Log { path: log.to_owned(), source })?;
        }
        let mut file = std::fs::File::create(log).map_err(|source| Error::Log { path: log.to_owned(), source })?;
        let _ = writeln!(file, "$ {shown}");
        let started = Instant::now();
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(Error::Spawn)?;
        let output = Arc::new((Mutex::new(Output::default()), Condvar::new()));
        let file = Arc::new(Mutex::new(file));
        let readers: [Box<dyn Read + Send>; 2] =
            [Box::new(child.stdout.take().expect("piped")), Box::new(child.stderr.take().expect("piped"))];
        for (i, mut reader) in readers.into_iter().enumerate() {
            let output = output.clone();
            let file = file.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    let n = reader.read(&mut buf).unwrap_or(0);
                    let (lock, cvar) = &*output;
                    let mut out = lock.lock().expect("output lock");
                    if n == 0 {
                        // stdout closing means QEMU is gone.
                        out.eof |= i == 0;
                        cvar.notify_all();
                        return;
                    }
                    let at = out.raw.len();
                    out.arrivals.push((started.elapsed(), at));
                    out.raw.extend_from_slice(&buf[..n]);
                    let _ = file.lock().expect("log lock").write_all(&buf[..n]);
                    cvar.notify_all();
                }
            });
        }
        let stdin = child.stdin.take();
        Ok(Session { child, stdin, output, started, cursor: 0, status: None, log: log.to_owned(), fail_on: Vec::new() })
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Time since QEMU started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Everything the guest printed so far, cleaned of escape sequences.
    pub fn text(&self) -> String {
        clean(&self.output.0.lock().expect("output lock").raw)
    }

    /// Every line the guest printed so far with the time since QEMU's start at which
    /// its first byte arrived, cleaned of escape sequences (a boot chart's raw data).
    pub fn timed_lines(&self) -> Vec<(Duration, String)> {
        let out = self.output.0.lock().expect("output lock");
        timed_lines(&out.raw, &out.arrivals)
    }

    fn tail(&self) -> String {
        let text = self.text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Waits until `needle` appears after the cursor; moves the cursor past it and
    /// returns the text between the old cursor and the match.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let output = self.output.clone();
        let (lock, cvar) = &*output;
        let mut out = lock.lock().expect("output lock");
        loop {
            let text = clean(&out.raw);
            if let Some(pos) = text.get(self.cursor..).and_then(|t| t.find(needle)) {
                let start = self.cursor;
                self.cursor += pos + needle.len();
                return Ok(text[start..start + pos].to_string());
            }
            if let Some(bad) = self.fail_on.iter().find(|b| text.get(self.cursor..).is_some_and(|t| t.contains(b.as_str()))) {
                let bad = bad.clone();
                drop(out);
                return Err(Error::Check(format!("the guest printed {bad:?} while we waited for {needle:?}; last output:\n{}", self.tail())));
            }
            let now = Instant::now();
            if out.eof {
                drop(out);
                let status = self.wait_exit(Duration::from_secs(5)).map(|s| s.to_string()).unwrap_or_default();
                return Err(Error::Exited { what: needle.into(), status, tail: self.tail() });
            }
            if now >= deadline {
                drop(out);
                return Err(Error::Timeout { what: needle.into(), waited: timeout, tail: self.tail() });
            }
            out = cvar.wait_timeout(out, deadline - now).expect("output lock").0;
        }
    }

    /// Types `text` on the serial console.
    pub fn send(&mut self, text: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().ok_or_else(|| Error::Check("qemu's stdin is closed".into()))?;
        stdin
            .write_all(text.as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|source| Error::Io { context: "typing on the serial console".into(), source })
    }

    /// Waits for QEMU to exit by itself; kills it after `timeout` and says so.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        if let Some(s) = self.status {
            return Ok(s);
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) => {
                    self.status = Some(s);
                    return Ok(s);
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                Ok(None) => {
                    self.kill();
                    return Err(Error::Timeout { what: "qemu to exit".into(), waited: timeout, tail: self.tail() });
                }
                Err(source) => return Err(Error::Io { context: "waiting for qemu".into(), source }),
            }
        }
    }

    /// Ends QEMU now.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }
}

/// Splits `raw` into lines, each with the arrival time of the chunk its first byte came in.
fn timed_lines(raw: &[u8], arrivals: &[(Duration, usize)]) -> Vec<(Duration, String)> {
    let mut lines = Vec::new();
    let mut start = 0;
    while start < raw.len() {
        let end = raw[start..].iter().position(|&b| b == b'\n').map_or(raw.len(), |p| start + p + 1);
        let chunk = arrivals.partition_point(|&(_, at)| at <= start).saturating_sub(1);
        let when = arrivals.get(chunk).map_or(Duration::ZERO, |&(t, _)| t);
        let text = clean(&raw[start..end]);
        let text = text.trim_end_matches(['\n', '\r']);
        if !text.trim().is_empty() {
            lines.push((when, text.to_string()));
        }
        start = end;
    }
    lines
}

impl Drop for Session {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, log: &Path) -> Session {
        Session::start_program("sh", &["-c".into(), script.into()], script, log).unwrap()
    }

    #[test]
    fn expect_moves_a_cursor_and_logs_everything() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("t.log");
        let mut s = sh("printf 'one\\r\\n\\033[0mtwo\\n'; read x; echo got $x; exit 3", &log);
        assert_eq!(s.expect("one", Duration::from_secs(5)).unwrap(), "");
        assert_eq!(s.expect("two", Duration::from_secs(5)).unwrap(), "\n");
        assert!(s.expect("one", Duration::from_millis(200)).is_err(), "already consumed");
        s.send("hi\n").unwrap();
        s.expect("got hi", Duration::from_secs(5)).unwrap();
        assert_eq!(s.wait_exit(Duration::from_secs(5)).unwrap().code(), Some(3));
        drop(s);
        assert!(std::fs::read_to_string(&log).unwrap().contains("got hi"));
    }

    #[test]
    fn lines_carry_the_arrival_time_of_their_first_byte() {
        let ms = Duration::from_millis;
        let raw = b"Linux version 6\r\nboot\x1b[0m com\nplete\n\n42\n";
        // Chunks at 0 ("Linux version 6\r\nboot"), 10 ms (" com\nple"), 20 ms (the rest).
        let arrivals = [(ms(0), 0), (ms(10), 22), (ms(20), 35)];
        let lines = timed_lines(raw, &arrivals);
        let got: Vec<(u128, &str)> = lines.iter().map(|(t, l)| (t.as_millis(), l.as_str())).collect();
        assert_eq!(got, [(0, "Linux version 6"), (0, "boot com"), (10, "plete"), (20, "42")]);
        assert!(timed_lines(b"", &[]).is_empty());
    }

    #[test]
    fn a_session_records_when_lines_arrive() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sh("echo first; sleep 0.3; echo second", &dir.path().join("t.log"));
        s.expect("second", Duration::from_secs(5)).unwrap();
        let lines = s.timed_lines();
        assert_eq!(lines.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(), ["first", "second"]);
        assert!(lines[1].0 >= lines[0].0 + Duration::from_millis(200), "{lines:?}");
    }

    #[test]
    fn a_hung_guest_times_out_and_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sh("echo booting; sleep 600", &dir.path().join("hang.log"));
        let t = Instant::now();
        let err = s.expect("login:", Duration::from_millis(300)).unwrap_err().to_string();
        assert!(err.contains("timed out") && err.contains("booting"), "{err}");
        assert!(s.wait_exit(Duration::from_millis(300)).is_err());
        assert!(t.elapsed() < Duration::from_secs(10));
        assert!(s.child.try_wait().unwrap().is_some(), "killed");
    }

    #[test]
    fn fail_on_ends_the_wait_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sh("echo 'Kernel panic - not syncing'; sleep 600", &dir.path().join("p.log"));
        s.fail_on.push("Kernel panic".into());
        let t = Instant::now();
        let err = s.expect("boot complete", Duration::from_secs(60)).unwrap_err().to_string();
        assert!(err.contains("Kernel panic") && t.elapsed() < Duration::from_secs(30), "{err}");
    }

    #[test]
    fn early_exit_is_reported_with_status() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sh("echo Kernel panic; exit 1", &dir.path().join("x.log"));
        let err = s.expect("boot complete", Duration::from_secs(10)).unwrap_err().to_string();
        assert!(err.contains("exited") && err.contains("Kernel panic"), "{err}");
    }
}
