//! A recording [`Sys`] for unit tests. `/proc/filesystems` and `/proc/mounts`
//! become readable once proc is mounted, like on a real system.

use crate::prelude::*;
use crate::sys::Sys;
use rustix::io::Errno;
use std::collections::HashMap;

#[derive(Default)]
pub struct Fake {
    pub filesystems: String,
    pub mounts_text: String,
    /// Other readable files.
    pub files: HashMap<&'static str, Result<String, Errno>>,
    /// mount/umount on this target fails with this error, every time.
    pub fail: HashMap<&'static str, Errno>,
    /// ... or only the first time.
    pub fail_once: HashMap<&'static str, Errno>,
    pub block_devices: Vec<&'static str>,
    /// Successful calls: `mount TARGET FSTYPE SOURCE FLAGS DATA`, `mkdir P`,
    /// `umount T`, `umount -l T`.
    pub calls: Vec<String>,
    pub logs: Vec<String>,
    pub proc_mounted: bool,
}

impl Fake {
    pub fn with_fs(list: &[&str]) -> Fake {
        let filesystems = list.iter().map(|f| format!("nodev\t{f}\n")).collect();
        Fake {
            filesystems,
            ..Fake::default()
        }
    }

    pub fn mounted_targets(&self) -> Vec<&str> {
        self.calls
            .iter()
            .filter_map(|c| c.strip_prefix("mount "))
            .map(|c| c.split(' ').next().unwrap())
            .collect()
    }

    fn failure(&mut self, target: &str) -> Option<Errno> {
        if let Some(e) = self.fail_once.remove(target) {
            return Some(e);
        }
        self.fail.get(target).copied()
    }
}

impl Sys for Fake {
    fn mount(
        &mut self,
        source: &str,
        target: &str,
        fstype: &str,
        flags: u64,
        data: Option<&str>,
    ) -> Result<(), Errno> {
        if let Some(e) = self.failure(target) {
            return Err(e);
        }
        self.calls.push(format!(
            "mount {target} {fstype} {source} {flags:#x} {}",
            data.unwrap_or("-")
        ));
        if target == "/proc" {
            self.proc_mounted = true;
        }
        Ok(())
    }
    fn unmount(&mut self, target: &str, detach: bool) -> Result<(), Errno> {
        if let Some(e) = self.failure(target) {
            return Err(e);
        }
        let flag = if detach { "-l " } else { "" };
        self.calls.push(format!("umount {flag}{target}"));
        Ok(())
    }
    fn is_block_device(&mut self, path: &str) -> bool {
        self.block_devices.contains(&path)
    }
    fn mkdir_p(&mut self, path: &str) -> Result<(), Errno> {
        self.calls.push(format!("mkdir {path}"));
        Ok(())
    }
    fn read_file(&mut self, path: &str) -> Result<String, Errno> {
        if let Some(r) = self.files.get(path) {
            return r.clone();
        }
        match path {
            _ if !self.proc_mounted => Err(Errno::NOENT),
            "/proc/filesystems" => Ok(self.filesystems.clone()),
            "/proc/mounts" => Ok(self.mounts_text.clone()),
            _ => Err(Errno::NOENT),
        }
    }
    fn log(&mut self, msg: &str) {
        self.logs.push(msg.to_string());
    }
}
