//! Digests: parsing, hashing while reading, and checking sizes.

use std::io::{self, Read};

use sha2::{Digest as _, Sha256, Sha384, Sha512};

/// A content digest, `ALGORITHM:HEX`, with a supported algorithm (sha256,
/// sha384, sha512) and lowercase hex of the right length.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Parses and checks a digest string.
    pub fn parse(s: &str) -> Result<Digest, String> {
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| format!("digest {s:?} has no algorithm"))?;
        let len = match alg {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            _ => return Err(format!("digest {s:?}: unsupported algorithm {alg:?}")),
        };
        if hex.len() != len || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(format!("digest {s:?} is not {len} lowercase hex digits"));
        }
        Ok(Digest(s.to_owned()))
    }

    /// The sha256 digest of `data`.
    pub fn sha256(data: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex(&Sha256::digest(data))))
    }

    /// `sha256`, `sha384` or `sha512`.
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, h)| h)
    }

    /// The whole digest, `ALGORITHM:HEX`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn hasher(&self) -> Hasher {
        match self.algorithm() {
            "sha384" => Hasher::Sha384(Sha384::new()),
            "sha512" => Hasher::Sha512(Sha512::new()),
            _ => Hasher::Sha256(Sha256::new()),
        }
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) enum Hasher {
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => format!("sha256:{}", hex(&h.finalize())),
            Hasher::Sha384(h) => format!("sha384:{}", hex(&h.finalize())),
            Hasher::Sha512(h) => format!("sha512:{}", hex(&h.finalize())),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks `data` against a digest and size; the error says what differs.
pub(crate) fn check(data: &[u8], digest: &Digest, size: Option<u64>) -> Result<(), String> {
    if let Some(size) = size {
        if data.len() as u64 != size {
            return Err(format!(
                "size is {} bytes, the descriptor says {size}",
                data.len()
            ));
        }
    }
    let mut h = digest.hasher();
    h.update(data);
    let actual = h.finish();
    if actual != digest.as_str() {
        return Err(format!("content has digest {actual}"));
    }
    Ok(())
}

/// A reader that hashes and counts what passes through it, and fails as
/// soon as more than `size` bytes come (when a size is expected).
/// Without a digest it only counts (and checks the size, if given).
pub(crate) struct Verifier<R> {
    inner: R,
    hasher: Option<Hasher>,
    digest: Option<Digest>,
    size: Option<u64>,
    read: u64,
}

impl<R: Read> Verifier<R> {
    pub(crate) fn new(inner: R, digest: &Digest, size: Option<u64>) -> Self {
        Self::maybe(inner, Some(digest), size)
    }

    pub(crate) fn maybe(inner: R, digest: Option<&Digest>, size: Option<u64>) -> Self {
        Verifier {
            inner,
            hasher: digest.map(Digest::hasher),
            digest: digest.cloned(),
            size,
            read: 0,
        }
    }

    /// Reads what is left, then compares size and digest; returns the size.
    pub(crate) fn finish(mut self) -> Result<u64, String> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match self.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        if let Some(size) = self.size {
            if self.read != size {
                return Err(format!(
                    "size is {} bytes, the descriptor says {size}",
                    self.read
                ));
            }
        }
        if let (Some(hasher), Some(digest)) = (self.hasher.take(), &self.digest) {
            let actual = hasher.finish();
            if actual != digest.as_str() {
                return Err(format!("content has digest {actual}"));
            }
        }
        Ok(self.read)
    }
}

impl<R: Read> Read for Verifier<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if let Some(size) = self.size {
            if self.read > size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("more than the {size} bytes the descriptor says"),
                ));
            }
        }
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// A reader that fails once more than `limit` bytes came through it, so a
/// decompression bomb stops at the limit instead of filling memory or disk.
pub(crate) struct Capped<R> {
    pub(crate) inner: R,
    pub(crate) limit: u64,
    pub(crate) read: u64,
}

/// The message of the error [`Capped`] returns; the layer code turns it into
/// [`crate::Error::TooBig`].
pub(crate) const CAP_EXCEEDED: &str = "kiln-oci: size cap exceeded";

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = self.limit.saturating_sub(self.read).saturating_add(1);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other(CAP_EXCEEDED));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_checks_algorithm_and_hex() {
        let d = Digest::sha256(b"");
        assert_eq!(
            d.as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
        for bad in [
            "sha256",
            "md5:00",
            "sha256:E3B0",
            "sha256:../../etc/passwd",
            "sha512:00",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn verifier_checks_size_and_digest() {
        let d = Digest::sha256(b"hello");
        let mut v = Verifier::new(&b"hello"[..], &d, Some(5));
        let mut s = String::new();
        v.read_to_string(&mut s).unwrap();
        assert!(v.finish().is_ok());
        assert!(Verifier::new(&b"hellp"[..], &d, Some(5))
            .finish()
            .unwrap_err()
            .contains("digest"));
        assert!(Verifier::new(&b"hell"[..], &d, Some(5))
            .finish()
            .unwrap_err()
            .contains("size is 4"));
        let mut long = Verifier::new(&b"hello!"[..], &d, Some(5));
        assert!(long.read_to_end(&mut Vec::new()).is_err());
        assert!(check(b"hello", &d, Some(5)).is_ok() && check(b"hello", &d, Some(6)).is_err());
    }

    #[test]
    fn capped_stops_at_the_limit() {
        let data = [0u8; 100];
        let mut c = Capped {
            inner: &data[..],
            limit: 100,
            read: 0,
        };
        assert_eq!(c.read_to_end(&mut Vec::new()).unwrap(), 100);
        let mut c = Capped {
            inner: &data[..],
            limit: 99,
            read: 0,
        };
        assert_eq!(
            c.read_to_end(&mut Vec::new()).unwrap_err().to_string(),
            CAP_EXCEEDED
        );
    }
}
