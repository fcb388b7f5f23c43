//! QEMU command lines for the ways Kiln's artifacts boot.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Debian's `ovmf` package: the UEFI firmware as one file for `-bios`.
pub const OVMF_PATH: &str = "/usr/share/ovmf/OVMF.fd";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// QEMU's default BIOS.
    SeaBios,
    /// UEFI, as `-bios /usr/share/ovmf/OVMF.fd`.
    Ovmf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// The ISO as a CD-ROM (`-cdrom`).
    Cdrom(PathBuf),
    /// The ISO (or a disk image) as a raw hard disk, as after `dd` to a USB stick.
    Disk(PathBuf),
    /// The ISO as a USB stick: a USB 3 (xHCI) controller with a mass-storage device,
    /// what a stick on a real machine is.
    Usb(PathBuf),
    /// Network boot: the PC's PXE ROM loads `bootfile` from QEMU's built-in TFTP
    /// server, which serves `dir`.
    Pxe { dir: PathBuf, bootfile: String },
    /// Direct kernel boot, no boot loader.
    Kernel { kernel: PathBuf, initrd: PathBuf, append: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

#[derive(Debug, Clone)]
pub struct Machine {
    pub firmware: Firmware,
    pub boot: Boot,
    /// `-m`; `None` leaves QEMU's default (128 MiB), as in a user's plain command line.
    pub memory_mib: Option<u32>,
    pub accel: Accel,
    /// Make a guest reboot end QEMU (tests use it so `reboot` is observable).
    pub no_reboot: bool,
    /// A second, writable disk (`-drive file=PATH,format=raw`): a live system's
    /// persistence partition, as a user plugs in a second USB stick.
    pub data_disk: Option<PathBuf>,
}

impl Machine {
    pub fn new(firmware: Firmware, boot: Boot, accel: Accel) -> Machine {
        Machine { firmware, boot, memory_mib: None, accel, no_reboot: false, data_disk: None }
    }

    /// The arguments after `qemu-system-x86_64`. Nothing here is needed for the guest to
    /// boot, get a shell or power off beyond what a user's plain command line has.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        if let Some(m) = self.memory_mib {
            a.extend(["-m".into(), m.to_string()]);
        }
        a.push("-nographic".into());
        // TCG is QEMU's default: only KVM, where the probe found it working, adds a flag.
        if self.accel == Accel::Kvm {
            a.extend(["-accel".into(), "kvm".into()]);
        }
        if self.firmware == Firmware::Ovmf {
            a.extend(["-bios".into(), OVMF_PATH.into()]);
        }
        match &self.boot {
            Boot::Cdrom(iso) => a.extend(["-cdrom".into(), iso.display().to_string()]),
            // snapshot=on: the guest's writes never reach the artifact under test.
            Boot::Disk(img) => a.extend(["-drive".into(), format!("file={},format=raw,snapshot=on", img.display())]),
            Boot::Usb(img) => a.extend([
                "-drive".into(),
                format!("if=none,id=stick,file={},format=raw,snapshot=on", img.display()),
                "-device".into(),
                "qemu-xhci".into(),
                "-device".into(),
                "usb-storage,drive=stick".into(),
            ]),
            Boot::Pxe { dir, bootfile } => {
                a.extend(["-nic".into(), format!("user,tftp={},bootfile={bootfile}", dir.display()), "-boot".into(), "n".into()])
            }
            Boot::Kernel { kernel, initrd, append } => a.extend([
                "-kernel".into(),
                kernel.display().to_string(),
                "-initrd".into(),
                initrd.display().to_string(),
                "-append".into(),
                append.clone(),
            ]),
        }
        if let Some(disk) = &self.data_disk {
            a.extend(["-drive".into(), format!("file={},format=raw", disk.display())]);
        }
        if self.no_reboot {
            a.push("-no-reboot".into());
        }
        a
    }

    /// The command as a user would type it (for logs and error messages).
    pub fn command_line(&self) -> String {
        let quote = |s: &String| if s.contains(' ') { format!("'{s}'") } else { s.clone() };
        let args: Vec<String> = self.args().iter().map(quote).collect();
        format!("qemu-system-x86_64 {}", args.join(" "))
    }
}

/// Whether KVM actually works here. `/dev/kvm` can exist, and QEMU can start with it,
/// while guests still hang (seen on nested virtualisation): so the probe boots the real
/// kernel under KVM and wants its first line within a few seconds; otherwise TCG.
pub fn probe_kvm(kernel: &Path, initrd: &Path) -> Accel {
    if std::fs::File::options().read(true).write(true).open("/dev/kvm").is_err() {
        return Accel::Tcg;
    }
    let boot = Boot::Kernel { kernel: kernel.to_owned(), initrd: initrd.to_owned(), append: "console=ttyS0".into() };
    let mut machine = Machine::new(Firmware::SeaBios, boot, Accel::Kvm);
    machine.no_reboot = true;
    let log = std::env::temp_dir().join(format!("kiln-kvm-probe-{}.log", std::process::id()));
    let works = crate::Session::start(&machine, &log)
        .and_then(|mut s| s.expect("Linux version", Duration::from_secs(15)))
        .is_ok();
    let _ = std::fs::remove_file(&log);
    if works {
        Accel::Kvm
    } else {
        Accel::Tcg
    }
}

/// [`probe_kvm`], remembered in `memo` until the host reboots (the memo holds the
/// kernel's boot id), so that only the first QEMU run after a boot pays for the probe.
pub fn probe_kvm_memo(kernel: &Path, initrd: &Path, memo: &Path) -> Accel {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let boot_id = boot_id.trim();
    if let Some(accel) = std::fs::read_to_string(memo).ok().and_then(|t| read_memo(&t, boot_id)) {
        return accel;
    }
    let accel = probe_kvm(kernel, initrd);
    if !boot_id.is_empty() {
        let _ = std::fs::create_dir_all(memo.parent().unwrap_or(Path::new(".")));
        let _ = std::fs::write(memo, write_memo(boot_id, accel));
    }
    accel
}

fn write_memo(boot_id: &str, accel: Accel) -> String {
    format!("{boot_id} {}\n", if accel == Accel::Kvm { "kvm" } else { "tcg" })
}

/// The remembered answer, if it was found during this boot.
fn read_memo(text: &str, boot_id: &str) -> Option<Accel> {
    let (id, accel) = text.trim().split_once(' ')?;
    if boot_id.is_empty() || id != boot_id {
        return None;
    }
    match accel {
        "kvm" => Some(Accel::Kvm),
        "tcg" => Some(Accel::Tcg),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvm_memo_holds_only_for_the_same_boot() {
        let memo = write_memo("b1", Accel::Tcg);
        assert_eq!(read_memo(&memo, "b1"), Some(Accel::Tcg));
        assert_eq!(read_memo(&write_memo("b1", Accel::Kvm), "b1"), Some(Accel::Kvm));
        assert_eq!(read_memo(&memo, "b2"), None, "the host rebooted: probe again");
        assert_eq!(read_memo(&memo, ""), None);
        assert_eq!(read_memo("b1 maybe", "b1"), None);
        assert_eq!(read_memo("", "b1"), None);
    }

    #[test]
    fn cdrom_under_seabios_is_the_seed_command() {
        let m = Machine::new(Firmware::SeaBios, Boot::Cdrom("out/kiln.iso".into()), Accel::Tcg);
        assert_eq!(m.command_line(), "qemu-system-x86_64 -nographic -cdrom out/kiln.iso");
    }

    #[test]
    fn ovmf_disk_and_no_reboot() {
        let mut m = Machine::new(Firmware::Ovmf, Boot::Disk("k.iso".into()), Accel::Kvm);
        m.no_reboot = true;
        let a = m.args();
        assert!(a.windows(2).any(|w| w == ["-bios", OVMF_PATH]));
        assert!(a.windows(2).any(|w| w == ["-drive", "file=k.iso,format=raw,snapshot=on"]));
        assert!(a.windows(2).any(|w| w == ["-accel", "kvm"]));
        assert_eq!(a.last().unwrap(), "-no-reboot");
    }

    #[test]
    fn a_data_disk_comes_after_the_boot_medium_and_is_written() {
        let mut m = Machine::new(Firmware::SeaBios, Boot::Cdrom("live.iso".into()), Accel::Tcg);
        m.data_disk = Some("persist.img".into());
        assert_eq!(m.command_line(), "qemu-system-x86_64 -nographic -cdrom live.iso -drive file=persist.img,format=raw");
    }

    #[test]
    fn a_usb_stick_is_a_mass_storage_device_on_xhci() {
        let m = Machine::new(Firmware::SeaBios, Boot::Usb("live.iso".into()), Accel::Tcg);
        assert_eq!(
            m.command_line(),
            "qemu-system-x86_64 -nographic -drive if=none,id=stick,file=live.iso,format=raw,snapshot=on -device qemu-xhci -device usb-storage,drive=stick"
        );
    }

    #[test]
    fn pxe_uses_the_builtin_tftp_server() {
        let boot = Boot::Pxe { dir: "out/minimal/pxeboot".into(), bootfile: "boot.ipxe".into() };
        let m = Machine::new(Firmware::SeaBios, boot, Accel::Tcg);
        assert_eq!(
            m.command_line(),
            "qemu-system-x86_64 -nographic -nic user,tftp=out/minimal/pxeboot,bootfile=boot.ipxe -boot n"
        );
    }

    #[test]
    fn direct_kernel_passes_cmdline_as_one_argument() {
        let boot = Boot::Kernel { kernel: "bz".into(), initrd: "i.xz".into(), append: "console=ttyS0 quiet".into() };
        let a = Machine::new(Firmware::SeaBios, boot, Accel::Tcg).args();
        assert!(a.windows(2).any(|w| w == ["-append", "console=ttyS0 quiet"]));
        assert!(!a.contains(&"-bios".to_string()));
    }
}
