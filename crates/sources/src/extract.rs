use crate::hash::HashingReader;
use crate::{io_err, Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Extracts a `.tar.xz` or `.tar.bz2` into `dest`, dropping the tarball's single top-level
/// directory, and checks the sha256 of every byte of the file it read against `sha256`:
/// the file is verified by the very read that uses it, and the tree is moved into place
/// only when it matched. The tree is unpacked next to `dest` (`.DEST.extract-PID`) and
/// renamed into place only when complete, so an interrupted extraction never leaves a
/// half tree at `dest`.
pub fn extract_tarball(archive: &Path, sha256: &str, dest: &Path) -> Result<()> {
    let file = File::open(archive).map_err(io_err(format!("opening {}", archive.display())))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let hashed = Arc::new(Mutex::new(HashingReader::new(file)));
    let bar = ProgressBar::new(len).with_style(
        ProgressStyle::with_template("  extracting {msg} [{bar:30}] {bytes}/{total_bytes}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(archive.file_name().unwrap_or_default().to_string_lossy().into_owned());
    let reader = bar.wrap_read(std::io::BufReader::new(Shared(hashed.clone())));
    let name = archive.to_string_lossy();
    let decoder: Box<dyn Read> = if name.ends_with(".tar.xz") || name.ends_with(".txz") {
        Box::new(xz2::read::XzDecoder::new_multi_decoder(reader))
    } else if name.ends_with(".tar.bz2") {
        Box::new(bzip2::read::MultiBzDecoder::new(reader))
    } else {
        return Err(Error::Other(format!("{}: unsupported archive type (want .tar.xz or .tar.bz2)", archive.display())));
    };

    let parent = dest.parent().ok_or_else(|| Error::Other(format!("{} has no parent", dest.display())))?;
    std::fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
    let tmp = extract_dir(dest, std::process::id());
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io_err(format!("creating {}", tmp.display())))?;

    let mut tar = tar::Archive::new(decoder);
    tar.set_preserve_mtime(true);
    let unpacked = tar.unpack(&tmp).map_err(io_err(format!("extracting {}", archive.display())));
    bar.finish_and_clear();
    drop(tar);
    // The bytes after the archive's end (padding) are part of the file too.
    let actual = unpacked.and_then(|()| {
        let mut h = hashed.lock().expect("not poisoned");
        std::io::copy(&mut *h, &mut std::io::sink()).map_err(io_err(format!("reading {}", archive.display())))?;
        Ok(h.hex())
    });
    match actual {
        Ok(a) if a.eq_ignore_ascii_case(sha256) => {}
        Ok(a) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::Other(format!(
                "{}: sha256 {a} read while extracting, but the pin is {sha256}; nothing was extracted",
                archive.display()
            )));
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    }
    let top: Vec<_> = std::fs::read_dir(&tmp)
        .map_err(io_err(format!("reading {}", tmp.display())))?
        .flatten()
        .map(|e| e.path())
        .collect();
    let root = match top.as_slice() {
        [only] if only.is_dir() => only.clone(),
        _ => tmp.clone(),
    };
    let _ = std::fs::remove_dir_all(dest);
    std::fs::rename(&root, dest).map_err(io_err(format!("renaming {} to {}", root.display(), dest.display())))?;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// Where `dest` is extracted before it is renamed into place: `.DEST.extract-PID`.
pub(crate) fn extract_dir(dest: &Path, pid: u32) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dest.with_file_name(format!(".{name}.extract-{pid}"))
}

/// Lets the decoder read through the hasher while the hasher stays reachable afterwards.
struct Shared(Arc<Mutex<HashingReader<File>>>);

impl Read for Shared {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256_file;

    fn tarball_xz(dir: &Path) -> PathBuf {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o755);
        header.set_cksum();
        builder.append_data(&mut header, "pkg-1.0/scripts/run", &b"hello"[..]).unwrap();
        let tarball = builder.into_inner().unwrap();
        let mut xz = Vec::new();
        xz2::read::XzEncoder::new(&tarball[..], 1).read_to_end(&mut xz).unwrap();
        let archive = dir.join("pkg-1.0.tar.xz");
        std::fs::write(&archive, xz).unwrap();
        archive
    }

    #[test]
    fn extracts_and_strips_top_dir() {
        let dir = tempfile::tempdir().unwrap();
        let archive = tarball_xz(dir.path());
        let dest = dir.path().join("src/pkg");
        extract_tarball(&archive, &sha256_file(&archive).unwrap(), &dest).unwrap();
        let script = dest.join("scripts/run");
        assert_eq!(std::fs::read(&script).unwrap(), b"hello");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&script).unwrap().permissions().mode() & 0o111, 0o111);
        assert_eq!(std::fs::read_dir(dir.path().join("src")).unwrap().count(), 1, "no temp dir left");
    }

    #[test]
    fn a_file_that_does_not_match_the_pin_is_not_extracted() {
        let dir = tempfile::tempdir().unwrap();
        let archive = tarball_xz(dir.path());
        // Trailing bytes the decoder never needs still count.
        let good = sha256_file(&archive).unwrap();
        std::fs::OpenOptions::new().append(true).open(&archive).unwrap().write_all(b"\0\0\0\0").unwrap();
        let dest = dir.path().join("src/pkg");
        let err = extract_tarball(&archive, &good, &dest).unwrap_err().to_string();
        assert!(err.contains(&good) && err.contains("nothing was extracted"), "{err}");
        assert!(!dest.exists());
        assert_eq!(std::fs::read_dir(dir.path().join("src")).unwrap().count(), 0, "no temp dir left");
    }

    #[test]
    fn corrupt_archive_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("bad.tar.xz");
        std::fs::write(&archive, b"this is not xz").unwrap();
        let dest = dir.path().join("out/bad");
        let err = extract_tarball(&archive, &"0".repeat(64), &dest).unwrap_err().to_string();
        assert!(err.contains("bad.tar.xz"), "{err}");
        assert!(!dest.exists());
        assert_eq!(std::fs::read_dir(dir.path().join("out")).unwrap().count(), 0);
    }

    use std::io::Write;
}
