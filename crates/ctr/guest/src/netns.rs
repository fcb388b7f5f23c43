//! Named network namespaces, made as `ip netns add` does: a new namespace bind-mounted
//! onto an empty file, which keeps it alive after the process leaves it.

use kiln_ctr::error::Context;
use kiln_ctr::Result;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::fs::File;
use std::path::Path;

/// Creates the namespace file `path` (an old one is removed first).
pub fn create(path: &Path) -> Result<()> {
    remove(path);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
    }
    File::create(path).context(|| format!("creating {}", path.display()))?;
    let orig = File::open("/proc/thread-self/ns/net").context(|| "opening /proc/thread-self/ns/net".into())?;
    unshare(CloneFlags::CLONE_NEWNET).context(|| "unshare(CLONE_NEWNET)".into())?;
    let bound = mount(Some("/proc/thread-self/ns/net"), path, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .context(|| format!("bind-mounting the new network namespace on {}", path.display()));
    setns(&orig, CloneFlags::CLONE_NEWNET).context(|| "returning to the original network namespace".into())?;
    if bound.is_err() {
        let _ = std::fs::remove_file(path);
    }
    bound
}

/// Unmounts and removes the namespace file; quiet if it is not there.
pub fn remove(path: &Path) {
    let _ = umount2(path, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(path);
}
