use crate::{io_err, Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Read;
use std::path::Path;

/// Extracts a `.tar.xz` or `.tar.bz2` into `dest`, dropping the tarball's single top-level
/// directory. The tree is unpacked next to `dest` and renamed into place only when
/// complete, so an interrupted extraction never leaves a half tree at `dest`.
pub fn extract_tarball(archive: &Path, dest: &Path) -> Result<()> {
    let file = std::fs::File::open(archive).map_err(io_err(format!("opening {}", archive.display())))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(len).with_style(
        ProgressStyle::with_template("  extracting {msg} [{bar:30}] {bytes}/{total_bytes}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(archive.file_name().unwrap_or_default().to_string_lossy().into_owned());
    let reader = bar.wrap_read(std::io::BufReader::new(file));
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
    let tmp = parent.join(format!(".extract-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io_err(format!("creating {}", tmp.display())))?;

    let mut tar = tar::Archive::new(decoder);
    tar.set_preserve_mtime(true);
    let unpacked = tar.unpack(&tmp).map_err(io_err(format!("extracting {}", archive.display())));
    bar.finish_and_clear();
    if let Err(e) = unpacked {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_and_strips_top_dir() {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o755);
        header.set_cksum();
        builder.append_data(&mut header, "pkg-1.0/scripts/run", &b"hello"[..]).unwrap();
        let tarball = builder.into_inner().unwrap();
        let mut xz = Vec::new();
        xz2::read::XzEncoder::new(&tarball[..], 1).read_to_end(&mut xz).unwrap();
        let archive = dir.path().join("pkg-1.0.tar.xz");
        std::fs::write(&archive, xz).unwrap();

        let dest = dir.path().join("src/pkg");
        extract_tarball(&archive, &dest).unwrap();
        let script = dest.join("scripts/run");
        assert_eq!(std::fs::read(&script).unwrap(), b"hello");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&script).unwrap().permissions().mode() & 0o111, 0o111);
        assert_eq!(std::fs::read_dir(dir.path().join("src")).unwrap().count(), 1, "no temp dir left");
    }

    #[test]
    fn corrupt_archive_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("bad.tar.xz");
        std::fs::write(&archive, b"this is not xz").unwrap();
        let dest = dir.path().join("out/bad");
        let err = extract_tarball(&archive, &dest).unwrap_err().to_string();
        assert!(err.contains("bad.tar.xz"), "{err}");
        assert!(!dest.exists());
        assert_eq!(std::fs::read_dir(dir.path().join("out")).unwrap().count(), 0);
    }
}
