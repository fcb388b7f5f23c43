//! Live mode's initramfs: kiln-boot as `/init`, BusyBox (`/bin/sh` and its applet
//! links) for the rescue shell, the console and null devices and the mount points
//! kiln-boot uses. The root file system itself goes to `/LiveOS/squashfs.img` on the
//! medium (`kiln_iso::SQUASHFS_PATH`).

use crate::Result;
use kiln_initramfs::{Data, Tree};
use std::path::Path;

/// The mount points kiln-boot needs before it has mounted anything.
const DIRS: &[(&str, u32)] = &[("bin", 0o755), ("dev", 0o755), ("proc", 0o555), ("sys", 0o555), ("run", 0o755), ("sysroot", 0o755)];

/// The live initramfs of kiln-boot at `boot` and, for the rescue shell, the static
/// BusyBox at `busybox` with links for its `applets` (install paths such as `bin/sh`).
pub fn live_initramfs(boot: &Path, busybox: &Path, applets: &[String]) -> Result<Tree> {
    let mut t = Tree::new();
    for (dir, mode) in DIRS {
        t.dir(dir, *mode)?;
    }
    t.char_dev("dev/console", 0o600, 5, 1)?;
    t.char_dev("dev/null", 0o666, 1, 3)?;
    t.file("init", 0o755, Data::Path(boot.to_owned()))?;
    t.file("bin/busybox", 0o755, Data::Path(busybox.to_owned()))?;
    t.symlink("bin/sh", "busybox")?;
    for applet in applets.iter().filter(|a| *a != "bin/busybox" && *a != "bin/sh") {
        t.symlink(applet, "/bin/busybox")?;
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_initramfs::Kind;

    #[test]
    fn holds_the_helper_busybox_and_the_mount_points_only() {
        let applets = ["bin/sh".to_string(), "bin/busybox".to_string(), "sbin/poweroff".to_string()];
        let t = live_initramfs(Path::new("/b/kiln-boot"), Path::new("/b/busybox"), &applets).unwrap();
        assert!(matches!(&t.get("init").unwrap().kind, Kind::File(Data::Path(p)) if p == Path::new("/b/kiln-boot")));
        assert!(matches!(&t.get("bin/sh").unwrap().kind, Kind::Symlink(to) if to == "busybox"));
        assert!(matches!(t.get("dev/console").unwrap().kind, Kind::CharDev { major: 5, minor: 1 }));
        for d in ["proc", "sys", "run", "sysroot", "dev"] {
            assert!(t.get(d).unwrap().is_dir(), "{d}");
        }
        let names: Vec<&str> = t.iter().map(|e| e.path.as_str()).collect();
        assert!(matches!(&t.get("sbin/poweroff").unwrap().kind, Kind::Symlink(to) if to == "/bin/busybox"));
        assert_eq!(names.len(), 13, "{names:?}");
    }
}
