//! System calls for the binary, on rustix: kiln-guest's helpers (logging,
//! files, stdio, clock, signals), and kiln-boot's own: reading at an offset,
//! copying, directories, block devices, and the real [`Sys`].

use crate::loopdev;
use crate::rescue;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicPtr, Ordering};
use core::time::Duration;
use kiln_boot::sys::{DirEntry, Kind, Stat, Sys};
use kiln_guest::Logger;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, CWD};
use rustix::io::Errno;
use rustix::mount::{MountFlags, UnmountFlags};

/// The helpers kiln-init needs too: see the kiln-guest crate.
pub use kiln_guest::{
    cstr, ensure_stdio, exists, is_file, mkdir_p, now, read_to_string, sleep, stderr, unblock_signals, write_all,
};

/// `kiln-boot: MSG` lines on stderr (the console).
pub const LOGGER: Logger = Logger::new("kiln-boot");

/// `kiln-boot: MSG` on stderr. Never fails.
pub fn log(msg: &str) {
    LOGGER.log(msg);
}

/// The environment the kernel gave us, passed on to the init.
static ENVP: AtomicPtr<*const u8> = AtomicPtr::new(core::ptr::null_mut());

pub fn set_envp(envp: *mut *mut u8) {
    ENVP.store(envp.cast(), Ordering::Relaxed);
}

fn open_read(path: &str) -> Result<OwnedFd, Errno> {
    rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty())
}

/// Fills `buf` from `offset` as far as the file goes.
pub fn pread_full(fd: impl AsFd, mut offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut done = 0;
    while done < buf.len() {
        match rustix::io::pread(&fd, &mut buf[done..], offset) {
            Ok(0) => break,
            Ok(n) => {
                done += n;
                offset += n as u64;
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

fn copy(from: &str, to: &str) -> Result<u64, Errno> {
    let src = open_read(from)?;
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC;
    let dst = rustix::fs::open(to, flags, Mode::from_raw_mode(0o644))?;
    let mut total = 0u64;
    loop {
        match rustix::fs::sendfile(&dst, &src, None, 1 << 30) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// The real system. It keeps the loop device open until the exec: with
/// autoclear, the last close before the mount would detach it.
#[derive(Default)]
pub struct RealSys {
    loop_fds: Vec<OwnedFd>,
}

impl Sys for RealSys {
    fn mount(&mut self, source: &str, target: &str, fstype: &str, flags: u64, data: Option<&str>)
        -> Result<(), Errno> {
        let data = data.map(cstr).transpose()?;
        let flags = MountFlags::from_bits_retain(flags as _);
        rustix::mount::mount(source, target, fstype, flags, data.as_deref())
    }
    fn move_mount(&mut self, from: &str, to: &str) -> Result<(), Errno> {
        rustix::mount::mount_move(from, to)
    }
    fn unmount(&mut self, target: &str, detach: bool) -> Result<(), Errno> {
        let flags = if detach { UnmountFlags::DETACH } else { UnmountFlags::empty() };
        rustix::mount::unmount(target, flags)
    }
    fn mkdir_p(&mut self, path: &str) -> Result<(), Errno> {
        mkdir_p(path)
    }
    fn read_file(&mut self, path: &str) -> Result<String, Errno> {
        read_to_string(path)
    }
    fn read_dir(&mut self, path: &str) -> Result<Vec<DirEntry>, Errno> {
        let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        let mut out = Vec::new();
        for e in rustix::fs::Dir::read_from(&fd)? {
            let e = e?;
            let name = e.file_name().to_string_lossy();
            if name == "." || name == ".." {
                continue;
            }
            let is_dir = match e.file_type() {
                FileType::Unknown => rustix::fs::statat(&fd, e.file_name(), AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory),
                t => t == FileType::Directory,
            };
            out.push(DirEntry { name: name.into_owned(), is_dir });
        }
        Ok(out)
    }
    fn read_at(&mut self, path: &str, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        pread_full(open_read(path)?, offset, buf)
    }
    fn stat(&mut self, path: &str) -> Result<Stat, Errno> {
        let st = rustix::fs::lstat(path)?;
        let kind = match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Dir,
            FileType::BlockDevice => Kind::Block,
            _ => Kind::Other,
        };
        Ok(Stat { kind, dev: st.st_dev })
    }
    fn mknod_block(&mut self, path: &str, major: u32, minor: u32) -> Result<(), Errno> {
        let dev = rustix::fs::makedev(major, minor);
        rustix::fs::mknodat(CWD, path, FileType::BlockDevice, Mode::from_raw_mode(0o600), dev)
    }
    fn attach_loop(&mut self, file: &str) -> Result<String, Errno> {
        let (path, fd) = loopdev::attach(file)?;
        self.loop_fds.push(fd);
        Ok(path)
    }
    fn copy_file(&mut self, from: &str, to: &str) -> Result<u64, Errno> {
        copy(from, to)
    }
    fn check_executable(&mut self, root: &str, path: &str) -> Result<(), Errno> {
        // Resolved inside `root`, so an absolute symlink (/sbin/init ->
        // /lib/systemd/systemd) means the new root's file, not the initramfs's.
        let dir = rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        let rel = path.trim_start_matches('/');
        let flags = OFlags::PATH | OFlags::CLOEXEC;
        let st = match rustix::fs::openat2(&dir, rel, flags, Mode::empty(), ResolveFlags::IN_ROOT) {
            Ok(fd) => rustix::fs::fstat(fd)?,
            Err(Errno::NOSYS) => rustix::fs::stat(format!("{root}{path}").as_str())?, // before Linux 5.6
            Err(e) => return Err(e),
        };
        let regular = FileType::from_raw_mode(st.st_mode) == FileType::RegularFile;
        if regular && st.st_mode & 0o111 != 0 {
            Ok(())
        } else {
            Err(Errno::ACCESS)
        }
    }
    fn fs_type(&mut self, path: &str) -> Result<u64, Errno> {
        Ok(rustix::fs::statfs(path)?.f_type as u64)
    }
    fn chdir(&mut self, path: &str) -> Result<(), Errno> {
        rustix::process::chdir(path)
    }
    fn chroot(&mut self, path: &str) -> Result<(), Errno> {
        rustix::process::chroot(path)
    }
    fn remove(&mut self, path: &str, dir: bool) -> Result<(), Errno> {
        let flags = if dir { AtFlags::REMOVEDIR } else { AtFlags::empty() };
        rustix::fs::unlinkat(CWD, path, flags)
    }
    fn exec(&mut self, path: &str) -> Errno {
        let Ok(prog) = cstr(path) else { return Errno::INVAL };
        let argv = [prog.as_ptr().cast::<u8>(), core::ptr::null()];
        let mut envp = ENVP.load(Ordering::Relaxed).cast_const();
        let empty = [core::ptr::null::<u8>()];
        if envp.is_null() {
            envp = empty.as_ptr();
        }
        unblock_signals();
        // SAFETY: `argv` is a NULL-terminated array of pointers to
        // NUL-terminated strings (`prog` lives until the call returns), and
        // `envp` is the kernel's NULL-terminated environment array, which
        // stays mapped for the life of the process, or an empty array.
        unsafe { rustix::runtime::execve(&prog, argv.as_ptr(), envp) }
    }
    fn shell(&mut self, why: &str) {
        log(why);
        rescue::shell();
    }
    fn now_ms(&mut self) -> u64 {
        now().as_millis() as u64
    }
    fn sleep_ms(&mut self, ms: u64) {
        sleep(Duration::from_millis(ms));
    }
    fn log(&mut self, msg: &str) {
        log(msg)
    }
}

