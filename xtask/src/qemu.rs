//! `cargo xtask qemu`: boots the image interactively on this terminal.

use crate::artifacts;
use crate::ctx::Ctx;
use anyhow::{bail, Context, Result};
use kiln_vm::{Boot, Firmware, Machine};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub image: crate::ImageArg,
    /// Boot the kernel and initramfs directly (-kernel/-initrd), without the ISO (a live
    /// image's ISO is still attached, as the medium its root is on)
    #[arg(long)]
    pub kernel: bool,
    /// Boot with UEFI firmware (OVMF) instead of SeaBIOS
    #[arg(long)]
    pub uefi: bool,
    /// Attach the ISO as a hard disk (as after `dd` to a USB stick) instead of a CD
    #[arg(long, conflicts_with = "kernel")]
    pub disk: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let ctx = Ctx::new();
    let spec = kiln_image::ImageSpec::load(&ctx.root, &args.image.image)?;
    let live = spec.rootfs.mode == kiln_image::RootMode::Live;
    let a = artifacts::build_spec(&ctx, spec, !args.kernel || live)?;
    let boot = if args.kernel {
        let entry = &a.spec.iso.entries[a.spec.iso.default];
        Boot::Kernel { kernel: a.kernel.clone(), initrd: a.initrd.clone(), append: a.spec.cmdline(entry) }
    } else {
        let iso = a.iso.clone().expect("iso built");
        if args.disk {
            Boot::Disk(iso)
        } else {
            Boot::Cdrom(iso)
        }
    };
    let firmware = if args.uefi { Firmware::Ovmf } else { Firmware::SeaBios };
    let mut machine = Machine::new(firmware, boot, ctx.accel(&a.kernel, &a.initrd));
    if args.kernel && live {
        machine.data_disk = a.iso.clone();
    }
    eprintln!("$ {}", machine.command_line());
    eprintln!("(type `poweroff` in the guest, or Ctrl-A X to quit QEMU)");
    let status = duct::cmd("qemu-system-x86_64", machine.args())
        .unchecked()
        .run()
        .context("cannot run qemu-system-x86_64 (run `cargo xtask deps`)")?
        .status;
    if !status.success() {
        bail!("qemu exited with {status}");
    }
    Ok(())
}
