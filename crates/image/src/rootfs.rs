//! The root file system of an image, as an in-memory tree (no root, no temp directory).

use crate::Result;
use kiln_initramfs::{Data, Tree};
use std::path::Path;

pub struct RootfsInputs<'a> {
    /// The static BusyBox binary.
    pub busybox: &'a Path,
    /// Install paths of its applets (`bin/sh`, `usr/bin/wc`, ...), from `--list-full`.
    pub applets: &'a [String],
    /// The static kiln-init binary; it becomes `/init`.
    pub init: &'a Path,
    /// `/etc/kiln/init.conf`.
    pub init_conf: String,
}

/// Directories every image has, with their modes.
const DIRS: &[(&str, u32)] = &[
    ("bin", 0o755),
    ("sbin", 0o755),
    ("usr/bin", 0o755),
    ("usr/sbin", 0o755),
    ("dev", 0o755),
    ("proc", 0o555),
    ("sys", 0o555),
    ("run", 0o755),
    ("tmp", 0o1777),
    ("root", 0o700),
    ("etc/kiln", 0o755),
    ("var/log", 0o755),
];

pub fn rootfs(inputs: &RootfsInputs) -> Result<Tree> {
    let mut t = Tree::new();
    for (dir, mode) in DIRS {
        t.dir(dir, *mode)?;
    }
    // The kernel opens /dev/console for init before anything is mounted on /dev.
    t.char_dev("dev/console", 0o600, 5, 1)?;
    t.char_dev("dev/null", 0o666, 1, 3)?;
    t.file("init", 0o755, Data::Path(inputs.init.to_owned()))?;
    t.file("bin/busybox", 0o755, Data::Path(inputs.busybox.to_owned()))?;
    for applet in inputs.applets {
        if applet != "bin/busybox" {
            t.symlink(applet, "/bin/busybox")?;
        }
    }
    t.file("etc/kiln/init.conf", 0o644, Data::Bytes(inputs.init_conf.clone().into_bytes()))?;
    t.file("etc/passwd", 0o644, Data::Bytes(b"root:x:0:0:root:/root:/bin/sh\n".to_vec()))?;
    t.file("etc/group", 0o644, Data::Bytes(b"root:x:0:\n".to_vec()))?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_initramfs::Kind;

    #[test]
    fn has_init_console_and_applet_links() {
        let dir = tempfile::tempdir().unwrap();
        let (bb, init) = (dir.path().join("busybox"), dir.path().join("init"));
        std::fs::write(&bb, b"bb").unwrap();
        std::fs::write(&init, b"init").unwrap();
        let applets = vec!["bin/sh".to_string(), "bin/busybox".to_string(), "usr/sbin/chroot".to_string()];
        let t = rootfs(&RootfsInputs { busybox: &bb, applets: &applets, init: &init, init_conf: "hostname x\n".into() }).unwrap();
        assert!(matches!(t.get("dev/console").unwrap().kind, Kind::CharDev { major: 5, minor: 1 }));
        assert_eq!(t.get("init").unwrap().mode, 0o755);
        assert!(matches!(&t.get("bin/sh").unwrap().kind, Kind::Symlink(target) if target == "/bin/busybox"));
        assert!(matches!(&t.get("usr/sbin/chroot").unwrap().kind, Kind::Symlink(_)));
        assert!(matches!(t.get("bin/busybox").unwrap().kind, Kind::File(_)));
        assert_eq!(t.get("tmp").unwrap().mode, 0o1777);

        let mut cpio = Vec::new();
        t.write_newc(&mut cpio, 0).unwrap();
        let back = kiln_initramfs::read_newc(&cpio).unwrap();
        let conf = back.iter().find(|e| e.name == "etc/kiln/init.conf").unwrap();
        assert_eq!(conf.data, b"hostname x\n");
    }
}
