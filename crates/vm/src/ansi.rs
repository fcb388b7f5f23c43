//! Turning raw serial output into text that can be searched: firmware and GRUB paint the
//! screen with escape sequences, and every line ends in `\r\n`.

/// Removes ANSI/VT100 escape sequences, carriage returns and NUL bytes.
pub fn clean(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters and intermediates, then one final byte in @..~
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC: up to BEL or ESC \
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                // Character set selection and similar two-byte forms: ESC ( B
                Some('(') | Some(')') | Some('#') => {
                    chars.next();
                }
                _ => {}
            },
            '\r' | '\0' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn strips_sequences_and_carriage_returns() {
        let raw = b"\x1b[2J\x1b[01;01H\x1b[=3h\x1b[0m\x1b(BGRUB\r\n\x1b]0;title\x07/ # ls\r\n";
        assert_eq!(clean(raw), "GRUB\n/ # ls\n");
    }

    #[test]
    fn keeps_plain_text_and_survives_truncation() {
        assert_eq!(clean(b"kiln-init: boot complete in 1.234 s\r\n"), "kiln-init: boot complete in 1.234 s\n");
        assert_eq!(clean(b"abc\x1b["), "abc");
        assert_eq!(clean(b"a\xffb"), "a\u{fffd}b");
    }
}
