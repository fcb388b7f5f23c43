//! A recording [`Sys`] for unit tests: a small tree of files with `st_dev`
//! numbers, block devices that appear at a given time, a clock that moves
//! only when the code sleeps, and failures injected per call.

use crate::prelude::*;
use crate::sys::{DirEntry, Kind, Stat, Sys, TMPFS_MAGIC};
use rustix::io::Errno;
use std::collections::BTreeMap;

/// The initramfs's `st_dev`; other file systems use other numbers.
pub const ROOTFS_DEV: u64 = 1;
pub const SYSROOT_DEV: u64 = 2;
pub const RUN_DEV: u64 = 3;

#[derive(Clone)]
pub struct Node {
    pub kind: Kind,
    pub dev: u64,
    pub exec: bool,
    pub data: Vec<u8>,
}

pub struct BlockDev {
    pub name: String,
    pub partition: bool,
    pub appears_ms: u64,
    /// devtmpfs made `/dev/NAME` (else it needs mknod).
    pub node: bool,
    pub data: Vec<u8>,
}

pub struct Fake {
    pub now: u64,
    pub nodes: BTreeMap<String, Node>,
    pub block: Vec<BlockDev>,
    /// A call whose description starts with the key (or is it, if the key
    /// ends with `$`) fails with the error.
    pub fail: Vec<(&'static str, Errno)>,
    pub root_fs_type: u64,
    pub exec_error: Errno,
    /// Calls that changed something: `mount TARGET FSTYPE SOURCE FLAGS DATA`,
    /// `move FROM TO`, `umount [-l] T`, `mkdir P`, `mknod P MAJ:MIN`, `loop F`,
    /// `copy A B`, `chdir P`, `chroot P`, `rm P`, `rmdir P`, `exec P`, `shell`.
    pub calls: Vec<String>,
    pub logs: Vec<String>,
    /// `/proc/cmdline`.
    pub cmdline: String,
}

impl Fake {
    /// A live initramfs: `/init`, `/bin/sh`, `/dev/console`, the mount
    /// points, and a new root whose `/init` is executable.
    pub fn new(cmdline: &str) -> Fake {
        let mut f = Fake {
            now: 0,
            nodes: BTreeMap::new(),
            block: Vec::new(),
            fail: Vec::new(),
            root_fs_type: TMPFS_MAGIC,
            exec_error: Errno::NOEXEC,
            calls: Vec::new(),
            logs: Vec::new(),
            cmdline: String::new(),
        };
        for d in ["/", "/bin", "/dev", "/proc", "/sys", "/run"] {
            f.add(d, Kind::Dir, ROOTFS_DEV, b"");
        }
        f.add("/init", Kind::File, ROOTFS_DEV, b"kiln-boot");
        f.add("/bin/sh", Kind::File, ROOTFS_DEV, b"busybox");
        f.add("/dev/console", Kind::Other, ROOTFS_DEV, b"");
        f.add("/sysroot", Kind::Dir, SYSROOT_DEV, b"");
        for d in ["/dev", "/proc", "/sys", "/run", "/sbin"] {
            f.add(&format!("/sysroot{d}"), Kind::Dir, SYSROOT_DEV, b"");
        }
        f.add("/sysroot/init", Kind::File, SYSROOT_DEV, b"kiln-init");
        f.nodes.get_mut("/sysroot/init").unwrap().exec = true;
        f.cmdline = cmdline.to_string();
        f
    }

    pub fn add(&mut self, path: &str, kind: Kind, dev: u64, data: &[u8]) {
        let node = Node { kind, dev, exec: false, data: data.to_vec() };
        self.nodes.insert(path.to_string(), node);
    }

    /// The squashfs image on the medium.
    pub fn with_image(mut self) -> Fake {
        self.add("/run/initramfs/live/LiveOS/squashfs.img", Kind::File, 7, b"hsqs");
        self
    }

    pub fn disk(mut self, name: &str, partition: bool, appears_ms: u64, data: Vec<u8>) -> Fake {
        let d = BlockDev { name: name.into(), partition, appears_ms, node: true, data };
        self.block.push(d);
        self
    }

    pub fn fail(mut self, call: &'static str, e: Errno) -> Fake {
        self.fail.push((call, e));
        self
    }

    fn call(&mut self, c: String) -> Result<(), Errno> {
        let hit = |k: &str| k.strip_suffix('$').map_or(c.starts_with(k), |exact| c == exact);
        if let Some((_, e)) = self.fail.iter().find(|(k, _)| hit(k)) {
            return Err(*e);
        }
        self.calls.push(c);
        Ok(())
    }

    fn visible(&self) -> impl Iterator<Item = &BlockDev> {
        self.block.iter().filter(|d| d.appears_ms <= self.now)
    }

    fn block_dev(&self, path: &str) -> Option<&BlockDev> {
        let name = path.strip_prefix("/dev/")?;
        self.visible().find(|d| d.name == name)
    }

    /// `/sys/class/block/NAME/FILE` of a visible device.
    fn sys_block<'a>(&'a self, path: &'a str) -> Option<(&'a BlockDev, &'a str)> {
        let (name, file) = path.strip_prefix("/sys/class/block/")?.split_once('/')?;
        Some((self.visible().find(|d| d.name == name)?, file))
    }

    pub fn calls_like(&self, prefix: &str) -> Vec<&str> {
        self.calls.iter().filter(|c| c.starts_with(prefix)).map(String::as_str).collect()
    }
}

impl Sys for Fake {
    fn mount(&mut self, source: &str, target: &str, fstype: &str, flags: u64, data: Option<&str>)
        -> Result<(), Errno> {
        self.call(format!("mount {target} {fstype} {source} {flags:#x} {}", data.unwrap_or("-")))
    }
    /// What was below `from` is below `to` afterwards.
    fn move_mount(&mut self, from: &str, to: &str) -> Result<(), Errno> {
        self.call(format!("move {from} {to}"))?;
        let prefix = format!("{from}/");
        let moved: Vec<String> = self.nodes.keys().filter(|p| p.starts_with(&prefix)).cloned().collect();
        for p in moved {
            let node = self.nodes.remove(&p).unwrap();
            self.nodes.insert(format!("{to}/{}", &p[prefix.len()..]), node);
        }
        Ok(())
    }
    fn unmount(&mut self, target: &str, detach: bool) -> Result<(), Errno> {
        self.call(format!("umount {}{target}", if detach { "-l " } else { "" }))
    }
    fn mkdir_p(&mut self, path: &str) -> Result<(), Errno> {
        self.call(format!("mkdir {path}"))?;
        if !self.nodes.contains_key(path) {
            self.add(path, Kind::Dir, RUN_DEV, b"");
        }
        Ok(())
    }
    fn read_file(&mut self, path: &str) -> Result<String, Errno> {
        if path == "/proc/cmdline" {
            return Ok(self.cmdline.clone());
        }
        if let Some((d, file)) = self.sys_block(path) {
            return match file {
                "size" => Ok(format!("{}\n", d.data.len() / 512)),
                "dev" => Ok("8:0\n".to_string()),
                _ => Err(Errno::NOENT),
            };
        }
        let node = self.nodes.get(path).ok_or(Errno::NOENT)?;
        String::from_utf8(node.data.clone()).map_err(|_| Errno::ILSEQ)
    }
    fn read_dir(&mut self, path: &str) -> Result<Vec<DirEntry>, Errno> {
        if path == "/sys/class/block" {
            let names = self.visible().map(|d| DirEntry { name: d.name.clone(), is_dir: false });
            return Ok(names.collect());
        }
        let prefix = if path == "/" { "/".to_string() } else { format!("{path}/") };
        let entries = self
            .nodes
            .iter()
            .filter_map(|(p, n)| {
                let name = p.strip_prefix(&prefix)?;
                (!name.is_empty() && !name.contains('/'))
                    .then(|| DirEntry { name: name.to_string(), is_dir: n.kind == Kind::Dir })
            })
            .collect();
        Ok(entries)
    }
    fn read_at(&mut self, path: &str, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if let Some((_, e)) = self.fail.iter().find(|(k, _)| format!("read {path}").starts_with(k)) {
            return Err(*e);
        }
        let d = self.block_dev(path).ok_or(Errno::NOENT)?;
        if !d.node {
            return Err(Errno::NOENT);
        }
        let data = d.data.get(offset as usize..).unwrap_or_default();
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok(n)
    }
    fn stat(&mut self, path: &str) -> Result<Stat, Errno> {
        if let Some((d, file)) = self.sys_block(path) {
            return match file {
                "partition" if d.partition => Ok(Stat { kind: Kind::File, dev: 0 }),
                _ => Err(Errno::NOENT),
            };
        }
        if let Some(d) = self.block_dev(path) {
            return match d.node {
                true => Ok(Stat { kind: Kind::Block, dev: 5 }),
                false => Err(Errno::NOENT),
            };
        }
        let n = self.nodes.get(path).ok_or(Errno::NOENT)?;
        Ok(Stat { kind: n.kind, dev: n.dev })
    }
    fn mknod_block(&mut self, path: &str, major: u32, minor: u32) -> Result<(), Errno> {
        self.call(format!("mknod {path} {major}:{minor}"))?;
        let name = path.strip_prefix("/dev/").unwrap_or_default().to_string();
        if let Some(d) = self.block.iter_mut().find(|d| d.name == name) {
            d.node = true;
        }
        Ok(())
    }
    fn attach_loop(&mut self, file: &str) -> Result<String, Errno> {
        self.call(format!("loop {file}"))?;
        Ok("/dev/loop0".to_string())
    }
    fn copy_file(&mut self, from: &str, to: &str) -> Result<u64, Errno> {
        let node = self.nodes.get(from).cloned().ok_or(Errno::NOENT)?;
        self.call(format!("copy {from} {to}"))?;
        let len = node.data.len() as u64;
        self.nodes.insert(to.to_string(), node);
        Ok(len)
    }
    fn check_executable(&mut self, root: &str, path: &str) -> Result<(), Errno> {
        match self.nodes.get(&format!("{root}{path}")) {
            None => Err(Errno::NOENT),
            Some(n) if n.kind != Kind::File || !n.exec => Err(Errno::ACCESS),
            Some(_) => Ok(()),
        }
    }
    fn fs_type(&mut self, _path: &str) -> Result<u64, Errno> {
        Ok(self.root_fs_type)
    }
    fn chdir(&mut self, path: &str) -> Result<(), Errno> {
        self.call(format!("chdir {path}"))
    }
    fn chroot(&mut self, path: &str) -> Result<(), Errno> {
        self.call(format!("chroot {path}"))
    }
    fn remove(&mut self, path: &str, dir: bool) -> Result<(), Errno> {
        let prefix = format!("{path}/");
        if dir && self.nodes.keys().any(|p| p.starts_with(&prefix)) {
            return Err(Errno::NOTEMPTY);
        }
        self.call(format!("{} {path}", if dir { "rmdir" } else { "rm" }))?;
        self.nodes.remove(path);
        Ok(())
    }
    fn exec(&mut self, path: &str) -> Errno {
        match self.call(format!("exec {path}")) {
            Ok(()) => self.exec_error,
            Err(e) => e,
        }
    }
    fn shell(&mut self, why: &str) {
        self.calls.push("shell".to_string());
        self.logs.push(why.to_string());
    }
    fn now_ms(&mut self) -> u64 {
        self.now
    }
    fn sleep_ms(&mut self, ms: u64) {
        self.now += ms;
    }
    fn log(&mut self, msg: &str) {
        self.logs.push(msg.to_string());
    }
}
