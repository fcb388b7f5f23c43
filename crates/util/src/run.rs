//! Running long build commands: progress on the terminal, the whole output in a log file,
//! and on failure the log's last lines and its path.

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// How many lines of the log a failure shows.
pub const TAIL_LINES: usize = 25;

/// The log file of a labelled step: `kernel build` → `LOG_DIR/kernel-build.log`.
pub fn log_path(log_dir: &Path, label: &str) -> std::path::PathBuf {
    let name: String = label.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    log_dir.join(format!("{}.log", name.trim_matches('-')))
}

/// Runs `cmd` with stdout and stderr into `LOG_DIR/LABEL.log`, showing a spinner with
/// the latest line.
pub fn run_logged(label: &str, cmd: duct::Expression, log_dir: &Path) -> Result<()> {
    let log = &log_path(log_dir, label);
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {prefix} [{elapsed}] {msg}").expect("valid template"),
    );
    bar.set_prefix(label.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    let started = Instant::now();
    let reader = cmd.stderr_to_stdout().unchecked().reader().with_context(|| format!("{label}: cannot start"))?;
    let mut lines = BufReader::new(&reader);
    let mut line = Vec::new();
    let mut count = 0u64;
    loop {
        line.clear();
        let n = lines.read_until(b'\n', &mut line).with_context(|| format!("{label}: reading output"))?;
        if n == 0 {
            break;
        }
        file.write_all(&line).with_context(|| format!("writing {}", log.display()))?;
        count += 1;
        let text = String::from_utf8_lossy(&line);
        bar.set_message(format!("{count} lines | {}", text.trim_end().chars().take(70).collect::<String>()));
    }
    bar.finish_and_clear();
    let status = reader.try_wait().context("waiting for the build")?.map(|o| o.status);
    match status {
        Some(s) if s.success() => {
            eprintln!("  {label}: done in {:.0?} (log: {})", started.elapsed(), log.display());
            Ok(())
        }
        other => {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail = tail(&text, TAIL_LINES);
            let how = other.map(|s| s.to_string()).unwrap_or_else(|| "did not finish".into());
            bail!("{label} failed ({how}); last lines of {}:\n{tail}\nfull log: {}", log.display(), log.display())
        }
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_logs_everything() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("logs/say-hello.log");
        run_logged("say hello", duct::cmd!("sh", "-c", "echo out; echo err >&2"), &dir.path().join("logs")).unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("out") && text.contains("err"));
    }

    #[test]
    fn failure_shows_tail_and_log_path() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("make.log");
        let script = "for i in $(seq 1 100); do echo line$i; done; echo 'error: boom' >&2; exit 3";
        let err = run_logged("make", duct::cmd!("sh", "-c", script), dir.path()).unwrap_err().to_string();
        assert!(err.contains("error: boom") && err.contains("line100"), "{err}");
        assert!(!err.contains("line50\n"), "only the tail: {err}");
        assert!(err.contains(&log.display().to_string()) && err.contains("exit status: 3"), "{err}");
    }
}
