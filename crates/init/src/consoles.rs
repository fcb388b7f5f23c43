//! Parsing `/proc/consoles` into console tty paths.

#[allow(unused_imports)]
use crate::prelude::*;

/// Used when `/proc/consoles` lists nothing usable.
pub const FALLBACK_CONSOLE: &str = "/dev/console";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Console {
    /// Device path, e.g. `/dev/ttyS0`; `tty0` (the current VT) maps to `/dev/tty1`.
    pub path: String,
    /// The `C` flag: this is the device behind `/dev/console`.
    pub preferred: bool,
}

/// Parses `/proc/consoles`, e.g.
/// `ttyS0                -W- (EC p a)    4:64`.
/// Duplicates (e.g. `tty0` and `tty1`) are dropped, order is kept.
pub fn parse_proc_consoles(text: &str) -> Vec<Console> {
    let mut out: Vec<Console> = Vec::new();
    for line in text.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        if name.contains('/') || name == "." || name == ".." {
            continue;
        }
        let path = if name == "tty0" {
            "/dev/tty1".to_string()
        } else {
            format!("/dev/{name}")
        };
        let preferred = line
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'))
            .is_some_and(|(flags, _)| flags.contains('C'));
        match out.iter_mut().find(|c| c.path == path) {
            Some(c) => c.preferred |= preferred,
            None => out.push(Console { path, preferred }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_consoles() {
        let text = "tty0                 -WU (E  p  )    4:7\n\
                    ttyS0                -W- (EC p a)    4:64\n\
                    tty1                 -WU (E  p  )    4:1\n\n";
        let c = parse_proc_consoles(text);
        assert_eq!(
            c,
            [
                Console {
                    path: "/dev/tty1".into(),
                    preferred: false
                },
                Console {
                    path: "/dev/ttyS0".into(),
                    preferred: true
                },
            ]
        );
        assert!(parse_proc_consoles("").is_empty());
    }
}
