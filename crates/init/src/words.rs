//! Shell-like words: how `/etc/kiln/init.conf` lines are split, and how the
//! build tool quotes values so they split back unchanged.

#[allow(unused_imports)]
use crate::prelude::*;

/// Splits a line into shell-like words: whitespace separates words,
/// `'...'` is literal, `"..."` allows `\"`, `\\`, `\$` and `` \` `` escapes,
/// a backslash outside quotes escapes the next character, and an unquoted
/// `#` at the start of a word starts a comment. No expansion of any kind.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(core::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '#' if !in_word => break,
            '\\' => {
                let n = chars.next().ok_or("trailing backslash")?;
                cur.push(n);
                in_word = true;
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => cur.push(n),
                            Some(n) => {
                                cur.push('\\');
                                cur.push(n);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(n) => cur.push(n),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Quotes a word so that [`split_words`] (and a POSIX shell) read it back
/// unchanged. Plain words are left alone.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./=:,@%+^".contains(c));
    if plain {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
