use crate::{io_err, Error, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// The lowercase hex sha256 of a file's contents.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io_err(format!("reading {}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks `path` against `expected`. On a mismatch the file is renamed to `NAME.bad`
/// (so that it is never used again and the next run fetches it afresh) and the error
/// names the file, the expected and the actual hash.
pub fn verify_sha256(path: &Path, expected: &str) -> Result<()> {
    let actual = sha256_file(path)?;
    if actual.eq_ignore_ascii_case(expected) {
        return Ok(());
    }
    let mut bad = path.as_os_str().to_owned();
    bad.push(".bad");
    let note = match std::fs::rename(path, &bad) {
        Ok(()) => format!(" (moved aside to {}; it will not be used)", Path::new(&bad).display()),
        Err(_) => " (delete it; it will not be used)".to_string(),
    };
    Err(Error::Mismatch { path: path.to_owned(), expected: expected.to_string(), actual, note })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        verify_sha256(&p, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD").unwrap();
    }

    #[test]
    fn mismatch_names_file_and_both_hashes_and_moves_it_aside() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("evil.tar.xz");
        std::fs::write(&p, b"not what was pinned").unwrap();
        let expected = "0".repeat(64);
        let err = verify_sha256(&p, &expected).unwrap_err().to_string();
        assert!(err.contains("evil.tar.xz"), "{err}");
        assert!(err.contains(&expected), "{err}");
        assert!(err.contains(&sha256_file(&dir.path().join("evil.tar.xz.bad")).unwrap()), "{err}");
        assert!(!p.exists(), "a bad file must not stay where it would be used");
    }
}
