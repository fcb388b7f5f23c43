//! kiln-ctr: the container OS's supervisor (`daemon`), its per-container `shim`, and
//! the operator's CLI. The logic is in the `kiln_ctr` library (tested on the host);
//! this binary is the system calls and youki's libcontainer.

mod bench;
mod cli;
mod console;
mod daemon;
mod exec;
mod host;
mod netns;
mod network;
mod pull;
mod run;
mod seccomp;
mod shim;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "kiln-ctr", about = "Runs the containers of a Kiln container OS", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the containers of the manifest, supervise them, serve the control socket.
    Daemon,
    /// (internal) Run one container: netns, CNI, libcontainer, wait, clean up.
    #[command(hide = true)]
    Shim { name: String },
    /// One line per container: NAME STATE PID ADDRESS RESTARTS.
    List,
    /// Start a stopped container.
    Start { name: String },
    /// Stop a container (its stop signal, then SIGKILL after its stop timeout).
    Stop { name: String },
    /// Stop a container if it runs, then start it.
    Restart { name: String },
    /// Print a container's log (stdout and stderr).
    Logs {
        /// Keep printing what is appended (Ctrl-C ends).
        #[arg(short, long)]
        follow: bool,
        name: String,
    },
    /// Run a command in a running container and exit with its status.
    Exec {
        /// Allocate a terminal (not yet supported).
        #[arg(short, long)]
        tty: bool,
        name: String,
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
    },
    /// Pull an image from a registry (docker://HOST[:PORT]/NAME[:TAG][@sha256:DIGEST])
    /// into the cache on /var.
    Pull {
        #[command(flatten)]
        opts: pull::PullOpts,
        reference: String,
    },
    /// Run an image as a container in the foreground, as `docker run --rm`: a registry
    /// reference (pulled first) or an OCI layout directory. Stdio is this terminal's,
    /// the exit status the container's.
    Run {
        #[command(flatten)]
        opts: pull::PullOpts,
        /// The container's name (default run-DIGEST).
        #[arg(long)]
        name: Option<String>,
        /// Join the default network (CNI), as a `network = true` container.
        #[arg(long)]
        network: bool,
        /// Keep the unpacked bundle under /var/lib/kiln-ctr/run after the run.
        #[arg(long)]
        keep: bool,
        /// docker://... or an OCI layout directory.
        image: String,
        /// Replaces the image's Cmd (after its Entrypoint).
        #[arg(last = true)]
        cmd: Vec<String>,
    },
    /// The manifest entry, state, addresses and config.json facts of a container, as JSON.
    Inspect { name: String },
    /// (internal, `cargo xtask bench --runtimes`) Time RUNS full runs of a container:
    /// libcontainer in this process (`--bundle DIR`), or a command per run (`-- CMD...`,
    /// `{id}` replaced by the container id). Prints `KILNBENCH LABEL RUN MS STATUS`.
    #[command(hide = true)]
    BenchRun {
        label: String,
        runs: u32,
        /// Runs before the timed ones, printed as `warmup`.
        #[arg(long, default_value_t = 0)]
        warmup: u32,
        #[arg(long, conflicts_with = "cmd")]
        bundle: Option<std::path::PathBuf>,
        #[arg(last = true, required_unless_present = "bundle")]
        cmd: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Daemon => daemon::run(),
        Cmd::Shim { name } => shim::run(&name),
        Cmd::List => cli::list(),
        Cmd::Start { name } => cli::control(kiln_ctr::proto::Request::Start { name }),
        Cmd::Stop { name } => cli::control(kiln_ctr::proto::Request::Stop { name }),
        Cmd::Restart { name } => cli::control(kiln_ctr::proto::Request::Restart { name }),
        Cmd::Logs { follow, name } => cli::logs(&name, follow),
        Cmd::Exec { tty, name, cmd } => exec::run(&name, tty, cmd),
        Cmd::Inspect { name } => cli::inspect(&name),
        Cmd::Pull { opts, reference } => pull::pull(&reference, &opts).map(|_| 0),
        Cmd::Run { opts, name, network, keep, image, cmd } => {
            let layout = if kiln_registry::Reference::is_reference(&image) { pull::pull(&image, &opts) } else { Ok(image.into()) };
            layout.and_then(|dir| run::run_layout(&dir, run::RunOpts { name, network, keep, cmd }))
        }
        Cmd::BenchRun { label, runs, warmup, bundle, cmd } => {
            let target = match bundle {
                Some(b) => bench::Target::Bundle(b),
                None => bench::Target::Command(cmd),
            };
            bench::run(&label, warmup, runs, &target)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("kiln-ctr: {e}");
            ExitCode::FAILURE
        }
    }
}
