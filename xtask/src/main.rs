//! `cargo xtask`: Kiln's build tool. This file only parses the command line and
//! dispatches; each subcommand is a module, and the logic lives in `crates/`.

mod artifacts;
mod bench;
mod containers;
mod contract;
mod ctx;
mod deps;
mod doctor;
mod iso;
mod live;
mod oci;
mod qemu;
mod registry;
mod repro;
mod root;
mod size;
mod test;
mod test_boot;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build minimal bootable Linux systems from source and prove that they boot")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
pub struct ImageArg {
    /// The image to build: images/NAME.toml (NAME: a-z, 0-9, - and _)
    #[arg(long, default_value = ctx::DEFAULT_IMAGE)]
    pub image: String,
}

#[derive(Subcommand)]
enum Command {
    /// Install the Debian packages Kiln needs (as root, with apt-get)
    Deps,
    /// List what is missing on this host and the apt package that provides it
    Doctor,
    /// Build the image's ISO (default: out/kiln.iso) and print where it is
    Iso(iso::Args),
    /// Boot the image on this terminal's serial console (exit QEMU with Ctrl-A X)
    Qemu(qemu::Args),
    /// Boot every artifact headless under SeaBIOS and OVMF and check what the guest prints
    TestBoot(test_boot::Args),
    /// Run every test: unit tests (cargo test), test-boot, then repro
    Test(test::TestArgs),
    /// Show where the ISO's bytes go (also written as out/NAME/size.json and out/NAME/size.svg)
    Size(ImageArg),
    /// Build the image twice from clean (other paths, caches, umask, time zone) and
    /// compare every artifact's sha256
    Repro(repro::Args),
    /// Measure Kiln against the seed recipe side by side (sizes, boot to shell, RAM
    /// floor, builds) as ratios; reported, never asserted
    Bench(bench::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Deps => deps::run(),
        Command::Doctor => doctor::run(),
        Command::Iso(a) => iso::run(&a),
        Command::Qemu(a) => qemu::run(&a),
        Command::TestBoot(a) => test_boot::run(&a),
        Command::Test(a) => test::run(&a),
        Command::Bench(a) => bench::run(&a),
        Command::Repro(a) => repro::run(&a),
        Command::Size(a) => size::run(&a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
