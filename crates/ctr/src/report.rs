//! The lines meant for the operator (also written to /dev/console by the binary).

use crate::state::Exit;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

/// `kiln-ctr: stopped web (SIGTERM, exited 0 after 1.0 s); last log line: "bye"`.
pub fn stopped_line(name: &str, stop_signal: &str, exit: &Exit, took: Duration, last_log_line: Option<&str>) -> String {
    let mut s = format!("kiln-ctr: stopped {name} ({stop_signal}, {} after {:.1} s)", exit.describe(), took.as_secs_f64());
    match last_log_line {
        Some(l) => s.push_str(&format!("; last log line: {}", quote(l))),
        None => s.push_str("; no log output"),
    }
    s
}

/// `kiln-ctr: hog was killed by the OOM killer (memory limit 16 MiB)`.
pub fn oom_line(name: &str, memory_limit: Option<u64>) -> String {
    match memory_limit {
        Some(l) => format!("kiln-ctr: {name} was killed by the OOM killer (memory limit {})", bytes(l)),
        None => format!("kiln-ctr: {name} was killed by the OOM killer"),
    }
}

/// 16777216 → `16 MiB`; sizes that are not whole KiB/MiB/GiB stay in bytes.
pub fn bytes(n: u64) -> String {
    for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{} {unit}", n >> shift);
        }
    }
    format!("{n} B")
}

/// A log line in double quotes, control characters escaped, cut at 200 characters.
pub fn quote(line: &str) -> String {
    let mut out = String::from("\"");
    for (i, c) in line.chars().enumerate() {
        if i == 200 {
            out.push_str("...");
            break;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The last non-empty line of a log file (read from its last 64 KiB), if any.
pub fn last_line(path: &Path) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(64 << 10))).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    text.lines().map(|l| l.trim_end_matches('\r')).rfind(|l| !l.trim().is_empty()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_lines() {
        let e = Exit { code: Some(0), ..Exit::default() };
        assert_eq!(
            stopped_line("web", "SIGTERM", &e, Duration::from_millis(1040), Some("caught SIGTERM, bye")),
            "kiln-ctr: stopped web (SIGTERM, exited 0 after 1.0 s); last log line: \"caught SIGTERM, bye\""
        );
        let k = Exit { signal: Some(9), ..Exit::default() };
        assert_eq!(
            stopped_line("db", "SIGINT", &k, Duration::from_secs(10), None),
            "kiln-ctr: stopped db (SIGINT, killed by SIGKILL after 10.0 s); no log output"
        );
    }

    #[test]
    fn oom_lines() {
        assert_eq!(oom_line("hog", Some(16 << 20)), "kiln-ctr: hog was killed by the OOM killer (memory limit 16 MiB)");
        assert_eq!(oom_line("hog", None), "kiln-ctr: hog was killed by the OOM killer");
        assert_eq!(bytes(1000), "1000 B");
        assert_eq!(bytes(1 << 30), "1 GiB");
        assert_eq!(bytes(1536 << 10), "1536 KiB");
    }

    #[test]
    fn last_log_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.log");
        assert_eq!(last_line(&p), None);
        std::fs::write(&p, "").unwrap();
        assert_eq!(last_line(&p), None);
        std::fs::write(&p, "start\r\nserving \"/\"\n\n").unwrap();
        assert_eq!(last_line(&p).as_deref(), Some("serving \"/\""));
        assert_eq!(quote("serving \"/\"\t"), "\"serving \\\"/\\\"\\t\"");
        let long = "x".repeat(100_000) + "\nend";
        std::fs::write(&p, long).unwrap();
        assert_eq!(last_line(&p).as_deref(), Some("end"));
    }
}
