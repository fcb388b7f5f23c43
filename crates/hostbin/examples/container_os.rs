//! Prints the container OS's host files (`kiln_hostbin::container_os`) and their size:
//! the files' bytes, and the closure as a newc archive, xz-compressed as Kiln compresses
//! an initramfs. `cargo run -p kiln-hostbin --example container_os`

use kiln_hostbin::{container_os, Kind};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let closure = container_os()?;
    for e in closure.entries() {
        match e.kind {
            Kind::File { host_path, mode } => {
                let len = std::fs::metadata(&host_path)?.len();
                println!("{:>9} {mode:04o} {}", len, e.guest_path);
            }
            Kind::Symlink { target } => println!("{:>9} link {} -> {target}", "", e.guest_path),
        }
    }
    let mut tree = kiln_initramfs::Tree::new();
    closure.insert_into(&mut tree)?;
    let cpio = tree.write_newc(Vec::new(), 0)?;
    let xz = kiln_initramfs::compress_xz(&cpio)?;
    println!("files: {} B; newc: {} B; xz (Kiln's initramfs settings): {} B", closure.file_bytes()?, cpio.len(), xz.len());
    Ok(())
}
