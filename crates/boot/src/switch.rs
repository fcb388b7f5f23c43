//! Switching root, as util-linux `switch_root` does: move `/dev`, `/proc`,
//! `/sys` and `/run` into the new root, delete the initramfs (only if `/` is
//! ramfs or tmpfs, and never across into another file system), move the new
//! root onto `/`, chroot into it; then the init is exec'd.

use crate::prelude::*;
use crate::sys::{errno_text, failed, Kind, Sys, RAMFS_MAGIC, TMPFS_MAGIC};

/// Where the overlay is mounted, and the root switched to.
pub const NEW_ROOT: &str = "/sysroot";
/// The mounts that go along into the new root.
pub const MOVED: [&str; 4] = ["/dev", "/proc", "/sys", "/run"];
/// Tried in this order when `init=` is not given: Kiln puts kiln-init at `/init`.
pub const INITS: [&str; 2] = ["/init", "/sbin/init"];

/// The program to exec in the new root: `init=` if given, else the first of
/// [`INITS`] that is an executable file there. Checked before anything is
/// deleted, so a failure can still reach the rescue shell.
pub fn choose_init(sys: &mut impl Sys, new_root: &str, wanted: Option<&str>) -> Result<String, String> {
    if let Some(path) = wanted {
        return match sys.check_executable(new_root, path) {
            Ok(()) => Ok(path.to_string()),
            Err(e) => Err(format!("init={path}: not an executable file in the live image: {}", errno_text(e))),
        };
    }
    for path in INITS {
        if sys.check_executable(new_root, path).is_ok() {
            return Ok(path.to_string());
        }
    }
    Err(format!(
        "no init in the live image: neither {} nor {} is an executable file",
        INITS[0], INITS[1]
    ))
}

/// Deletes what is below `dir` on the file system `dev`; directories of
/// other file systems (mount points) are left alone. Returns how many
/// entries could not be deleted.
pub fn remove_tree(sys: &mut impl Sys, dir: &str, dev: u64) -> usize {
    let Ok(entries) = sys.read_dir(dir) else {
        return 1;
    };
    let mut failures = 0;
    for e in entries {
        let path = if dir == "/" { format!("/{}", e.name) } else { format!("{dir}/{}", e.name) };
        if e.is_dir {
            match sys.stat(&path) {
                Ok(st) if st.dev == dev => failures += remove_tree(sys, &path, dev),
                Ok(_) => continue, // another file system: keep it, and its mount point
                Err(_) => {
                    failures += 1;
                    continue;
                }
            }
        }
        if sys.remove(&path, e.is_dir).is_err() {
            failures += 1;
        }
    }
    failures
}

/// Everything up to (not including) the exec. An error before the initramfs
/// is deleted leaves the rescue shell in place.
pub fn switch_root(sys: &mut impl Sys, new_root: &str) -> Result<(), String> {
    let root_dev = sys.stat(new_root).map_err(|e| failed(&format!("cannot stat {new_root}"), e))?.dev;
    for m in MOVED {
        let target = format!("{new_root}{m}");
        match sys.stat(&target) {
            Ok(st) if st.kind == Kind::Dir && st.dev == root_dev => sys
                .move_mount(m, &target)
                .map_err(|e| failed(&format!("cannot move {m} to {target}"), e))?,
            // As switch_root(8): no place for it (or something is mounted there already).
            _ => {
                sys.log(&format!("the live image has no directory {m}; unmounting {m}"));
                let _ = sys.unmount(m, true);
            }
        }
    }
    sys.chdir(new_root).map_err(|e| failed(&format!("cannot change to {new_root}"), e))?;
    let old_dev = sys.stat("/").map_err(|e| failed("cannot stat /", e))?.dev;
    match sys.fs_type("/") {
        Ok(RAMFS_MAGIC | TMPFS_MAGIC) => {
            let failures = remove_tree(sys, "/", old_dev);
            if failures > 0 {
                sys.log(&format!("could not delete {failures} files of the initramfs"));
            }
        }
        _ => sys.log("/ is not an initramfs (ramfs or tmpfs); leaving its files"),
    }
    sys.move_mount(".", "/").map_err(|e| failed(&format!("cannot move {new_root} to /"), e))?;
    sys.chroot(".").map_err(|e| failed(&format!("cannot chroot into {new_root}"), e))?;
    sys.chdir("/").map_err(|e| failed("cannot change to / in the new root", e))
}
