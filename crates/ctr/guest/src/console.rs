//! Messages for the operator: on stderr (kiln-init's log of the service) and, one
//! line each, on /dev/console.

use std::io::Write;

/// Prints `line` (already `kiln-ctr: ...`) on stderr and on /dev/console.
pub fn say(line: &str) {
    eprintln!("{line}");
    if let Ok(mut c) = std::fs::OpenOptions::new().write(true).open("/dev/console") {
        let _ = c.write_all(format!("{line}\n").as_bytes());
    }
}
