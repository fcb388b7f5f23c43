//! Boot scripts: what to wait for, what to type, what must (not) be printed.

use crate::machine::Machine;
use crate::session::Session;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Wait for the guest's boot-complete marker; the time it took is the boot time.
    Boot { marker: String, timeout: Duration },
    /// Wait until a shell answers on the console (typing before it reads is unreliable:
    /// a boot loader menu would take the keys).
    Shell { timeout: Duration },
    /// Type a command; its output must contain each of `expect`.
    Command { cmd: String, expect: Vec<String>, timeout: Duration },
    /// Type a command that may take a while to show something (no markers around it),
    /// then wait for `expect`.
    Type { text: String, expect: String, timeout: Duration },
    /// Type a command that ends the machine: QEMU must exit by itself with `status`
    /// and the guest must have printed each of `expect` on the way.
    Exit { cmd: String, status: i32, expect: Vec<String>, timeout: Duration },
    /// The guest must never print this (checked over the whole run, at the end).
    Never(String),
}

#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    pub error: Option<String>,
    pub seconds: f64,
    /// Host time from QEMU's start to the boot-complete marker.
    pub boot_seconds: Option<f64>,
    /// The uptime the guest itself reported in the marker line.
    pub guest_uptime: Option<f64>,
    pub checks: usize,
    pub log: PathBuf,
    pub command_line: String,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.error.is_none()
    }
}

/// Boots `machine` and runs `steps` against its console. Never hangs: every step has a
/// timeout and QEMU is killed at the end whatever happened.
pub fn run_script(name: &str, machine: &Machine, steps: &[Step], log: &Path) -> CaseResult {
    let started = Instant::now();
    let mut result = CaseResult {
        name: name.to_string(),
        error: None,
        seconds: 0.0,
        boot_seconds: None,
        guest_uptime: None,
        checks: 0,
        log: log.to_owned(),
        command_line: machine.command_line(),
    };
    let outcome = Session::start(machine, log).and_then(|mut session| {
        session.fail_on = steps.iter().filter_map(|s| if let Step::Never(t) = s { Some(t.clone()) } else { None }).collect();
        let r = run_steps(&mut session, steps, &mut result);
        let r = r.and_then(|()| check_never(&session, steps, &mut result));
        session.kill();
        r
    });
    result.error = outcome.err().map(|e| e.to_string());
    result.seconds = started.elapsed().as_secs_f64();
    result
}

fn run_steps(s: &mut Session, steps: &[Step], result: &mut CaseResult) -> Result<()> {
    let mut n = 0;
    for step in steps {
        n += 1;
        match step {
            Step::Boot { marker, timeout } => {
                s.expect(marker, *timeout)?;
                result.boot_seconds = Some(s.elapsed().as_secs_f64());
                let rest = s.expect("\n", Duration::from_secs(5))?;
                result.guest_uptime = parse_uptime(&rest);
            }
            Step::Shell { timeout } => {
                let deadline = Instant::now() + *timeout;
                let marker = format!(":KILN-READY-{n}:");
                loop {
                    s.send(&format!("echo :KILN-READY''-{n}:\n"))?;
                    match s.expect(&marker, Duration::from_secs(3)) {
                        Ok(_) => break,
                        Err(Error::Timeout { .. }) if Instant::now() < deadline => continue,
                        Err(e) => return Err(e),
                    }
                }
            }
            Step::Command { cmd, expect, timeout } => {
                let (begin, end) = (format!(":KILN-B-{n}:"), format!(":KILN-E-{n}:"));
                s.send(&format!("echo :KILN-B''-{n}:; {cmd}; echo :KILN-E''-{n}:\n"))?;
                s.expect(&begin, *timeout)?;
                let output = s.expect(&end, *timeout)?;
                for want in expect {
                    if !output.contains(want.as_str()) {
                        return Err(Error::Check(format!("`{cmd}` printed no {want:?}; it printed:\n{}", output.trim())));
                    }
                    result.checks += 1;
                }
            }
            Step::Type { text, expect, timeout } => {
                s.send(text)?;
                s.expect(expect, *timeout)?;
                result.checks += 1;
            }
            Step::Exit { cmd, status, expect, timeout } => {
                s.send(&format!("{cmd}\n"))?;
                let got = s.wait_exit(*timeout)?;
                let text = s.text();
                if got.code() != Some(*status) {
                    return Err(Error::Check(format!("`{cmd}`: qemu exited with {got}, expected exit status {status}")));
                }
                result.checks += 1;
                for want in expect {
                    if !text.contains(want.as_str()) {
                        return Err(Error::Check(format!("after `{cmd}` the guest never printed {want:?}")));
                    }
                    result.checks += 1;
                }
            }
            Step::Never(_) => {}
        }
    }
    Ok(())
}

fn check_never(s: &Session, steps: &[Step], result: &mut CaseResult) -> Result<()> {
    let text = s.text();
    for step in steps {
        if let Step::Never(bad) = step {
            if let Some(pos) = text.find(bad.as_str()) {
                let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
                let line = text[line_start..].lines().next().unwrap_or_default();
                return Err(Error::Check(format!("the guest printed {bad:?}: {line}")));
            }
            result.checks += 1;
        }
    }
    Ok(())
}

/// `" in 1.234 s"` → 1.234: the number after the marker.
fn parse_uptime(rest: &str) -> Option<f64> {
    rest.split_whitespace().find_map(|w| w.parse::<f64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_after_marker() {
        assert_eq!(parse_uptime(" in 1.234 s"), Some(1.234));
        assert_eq!(parse_uptime(""), None);
    }
}
