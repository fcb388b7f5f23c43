//! The PXE file set: `vmlinuz` and `initrd.img` beside an iPXE script, so the network
//! boot ROM of a PC (or QEMU's, with its built-in TFTP server) can boot them.

use crate::Entry;

/// The script's file name in the PXE directory.
pub const IPXE_SCRIPT: &str = "boot.ipxe";

/// An iPXE script that boots `entry` from the files next to it.
pub fn render_ipxe(entry: &Entry) -> String {
    format!("#!ipxe\n# {}\nkernel vmlinuz {}\ninitrd initrd.img\nboot\n", entry.name, entry.cmdline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_boots_the_entry() {
        let e = Entry { name: "Kiln (serial console)".into(), cmdline: "console=tty0 console=ttyS0".into() };
        let s = render_ipxe(&e);
        assert!(s.starts_with("#!ipxe\n"), "iPXE wants its magic first: {s}");
        assert!(s.contains("\nkernel vmlinuz console=tty0 console=ttyS0\ninitrd initrd.img\nboot\n"), "{s}");
    }
}
