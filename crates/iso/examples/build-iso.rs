//! Builds an ISO outside xtask, for trying layouts by hand:
//! `cargo run -p kiln-iso --example build-iso -- slim|mkrescue KERNEL INITRD OUT.iso`
//! (the menu is `boot/grub.cfg` with the default entries; the size report follows).

use anyhow::{bail, Result};
use std::path::Path;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [layout, kernel, initrd, out] = &args[..] else {
        bail!("usage: build-iso slim|mkrescue KERNEL INITRD OUT.iso");
    };
    let layout = match layout.as_str() {
        "slim" => kiln_iso::Layout::Slim,
        "mkrescue" => kiln_iso::Layout::Mkrescue,
        other => bail!("unknown layout {other}"),
    };
    let menu = kiln_iso::Menu {
        entries: vec![
            kiln_iso::Entry { name: "Kiln (serial console)".into(), cmdline: "console=tty0 console=ttyS0".into() },
            kiln_iso::Entry { name: "Kiln (VGA console)".into(), cmdline: "console=ttyS0 console=tty0".into() },
        ],
        default: 0,
        timeout: 2,
    };
    let out = Path::new(out);
    let log_dir = out.with_extension("logs");
    let inputs = kiln_iso::IsoInputs {
        kernel: Path::new(kernel),
        initrd: Path::new(initrd),
        menu: &menu,
        grub_template: include_str!("../../../boot/grub.cfg"),
        label: "KILN",
        extra: &[],
        epoch: 1_735_689_600,
        log_dir: &log_dir,
    };
    kiln_iso::build_iso(layout, &inputs, out)?;
    println!("{}", kiln_iso::size_report(out)?);
    Ok(())
}
