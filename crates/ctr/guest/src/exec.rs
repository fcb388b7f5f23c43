//! `kiln-ctr exec NAME CMD...`: a process in a running container (libcontainer's
//! tenant builder), waited for; kiln-ctr exits with its status.

use crate::cli::state_of;
use crate::shim::runtime_root;
use kiln_ctr::manifest::{self, Manifest};
use kiln_ctr::state::Status;
use kiln_ctr::{bail, Error, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{waitpid, WaitStatus};
use std::path::Path;

pub fn run(name: &str, tty: bool, args: Vec<String>) -> Result<u8> {
    Manifest::load(Path::new(manifest::MANIFEST_PATH))?.get(name)?;
    if tty {
        bail!("exec -t is not supported yet (no terminal allocation); run without -t");
    }
    let st = state_of(name)?;
    if st.status != Status::Running {
        bail!("{name} is not running ({})", st.word());
    }
    let pid = ContainerBuilder::new(name.to_string(), SyscallType::default())
        .with_root_path(runtime_root())
        .map_err(|e| Error(format!("libcontainer root: {e}")))?
        .as_tenant()
        .with_container_args(args)
        .with_detach(false)
        .build()
        .map_err(|e| Error(format!("exec in {name}: {e}")))?;
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code as u8),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as u8),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => bail!("waiting for the process in {name}: {e}"),
        }
    }
}
