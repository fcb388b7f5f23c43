//! Attaching a file to a loop device, read-only with autoclear: a free
//! device from `/dev/loop-control`, then `LOOP_CONFIGURE` (Linux 5.8), else
//! the older `LOOP_SET_FD` + `LOOP_SET_STATUS64`.

use crate::os::{cstr, exists};
use alloc::format;
use alloc::string::String;
use core::ffi::c_void;
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::ioctl::{Ioctl, IoctlOutput, Opcode};

const LOOP_SET_FD: Opcode = 0x4C00;
const LOOP_SET_STATUS64: Opcode = 0x4C04;
const LOOP_CONFIGURE: Opcode = 0x4C0A;
const LOOP_CTL_GET_FREE: Opcode = 0x4C82;
const LO_FLAGS_READ_ONLY: u32 = 1;
const LO_FLAGS_AUTOCLEAR: u32 = 4;
const LOOP_MAJOR: u32 = 7;

/// `struct loop_info64` of `<linux/loop.h>`.
#[repr(C)]
struct LoopInfo64 {
    device: u64,
    inode: u64,
    rdevice: u64,
    offset: u64,
    sizelimit: u64,
    number: u32,
    encrypt_type: u32,
    encrypt_key_size: u32,
    flags: u32,
    file_name: [u8; 64],
    crypt_name: [u8; 64],
    encrypt_key: [u8; 32],
    init: [u64; 2],
}

/// `struct loop_config`.
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

const _: () = assert!(core::mem::size_of::<LoopInfo64>() == 232);
const _: () = assert!(core::mem::size_of::<LoopConfig>() == 304);

/// An ioctl with a pointer or integer argument whose result is its return value.
struct Raw {
    opcode: Opcode,
    arg: *mut c_void,
}

// SAFETY: used only with the loop ioctls above, each given the argument its
// definition in <linux/loop.h> takes (an fd number, a device number, or a
// pointer to a live, correctly laid out loop_info64/loop_config), and none
// of them writes to memory beyond that argument. The output is the return
// value, not read from the pointer.
unsafe impl Ioctl for Raw {
    type Output = IoctlOutput;
    const IS_MUTATING: bool = true;
    fn opcode(&self) -> Opcode {
        self.opcode
    }
    fn as_ptr(&mut self) -> *mut c_void {
        self.arg
    }
    unsafe fn output_from_ptr(out: IoctlOutput, _: *mut c_void) -> rustix::io::Result<IoctlOutput> {
        Ok(out)
    }
}

fn ioctl(fd: impl AsFd, opcode: Opcode, arg: *mut c_void) -> Result<IoctlOutput, Errno> {
    // SAFETY: see `Raw`; every caller passes the argument `opcode` expects.
    unsafe { rustix::ioctl::ioctl(fd, Raw { opcode, arg }) }
}

fn info(file: &str) -> LoopInfo64 {
    let mut name = [0u8; 64];
    let n = file.len().min(63);
    name[..n].copy_from_slice(&file.as_bytes()[..n]);
    LoopInfo64 {
        device: 0,
        inode: 0,
        rdevice: 0,
        offset: 0,
        sizelimit: 0,
        number: 0,
        encrypt_type: 0,
        encrypt_key_size: 0,
        flags: LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR,
        file_name: name,
        crypt_name: [0; 64],
        encrypt_key: [0; 32],
        init: [0; 2],
    }
}

/// Attaches `file` to a free loop device: its path, and an open fd that
/// keeps it attached until the device is mounted (autoclear).
pub fn attach(file: &str) -> Result<(String, OwnedFd), Errno> {
    let ro = OFlags::RDONLY | OFlags::CLOEXEC;
    let backing = rustix::fs::open(file, ro, Mode::empty())?;
    let ctl = rustix::fs::open("/dev/loop-control", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
    // Another process may take the free device first: then EBUSY, and again.
    let mut tries = 0;
    loop {
        tries += 1;
        let n = ioctl(&ctl, LOOP_CTL_GET_FREE, core::ptr::null_mut())? as u32;
        let path = format!("/dev/loop{n}");
        if !exists(&path) {
            let dev = rustix::fs::makedev(LOOP_MAJOR, n);
            let p = cstr(&path)?;
            let _ = rustix::fs::mknodat(rustix::fs::CWD, &p, FileType::BlockDevice, Mode::from_raw_mode(0o600), dev);
        }
        let dev = rustix::fs::open(path.as_str(), ro, Mode::empty())?;
        match configure(&dev, &backing, file) {
            Ok(()) => return Ok((path, dev)),
            Err(Errno::BUSY) if tries < 10 => continue,
            Err(e) => return Err(e),
        }
    }
}

fn configure(dev: &OwnedFd, backing: &OwnedFd, file: &str) -> Result<(), Errno> {
    let mut config = LoopConfig {
        fd: backing.as_raw_fd() as u32,
        block_size: 0, // the default: 512
        info: info(file),
        reserved: [0; 8],
    };
    match ioctl(dev, LOOP_CONFIGURE, (&raw mut config).cast()) {
        Ok(_) => return Ok(()),
        Err(Errno::INVAL | Errno::NOTTY) => {} // before Linux 5.8
        Err(e) => return Err(e),
    }
    ioctl(dev, LOOP_SET_FD, backing.as_raw_fd() as usize as *mut c_void)?;
    let mut info = info(file);
    if let Err(e) = ioctl(dev, LOOP_SET_STATUS64, (&raw mut info).cast()) {
        let _ = ioctl(dev, 0x4C01, core::ptr::null_mut()); // LOOP_CLR_FD
        return Err(e);
    }
    Ok(())
}
