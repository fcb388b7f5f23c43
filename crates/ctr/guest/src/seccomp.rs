//! kiln-ctr's own seccomp step, run by libcontainer in the container's process just
//! before the exec (its `Executor` hook), because libcontainer 0.7 gets two things
//! wrong (found by runc's test suite, `ci/conformance/RESULTS.md`):
//!
//! - a process started by `exec` (the tenant builder) gets a spec whose `linux` section
//!   is rebuilt without `seccomp`, so it ran with no filter at all;
//! - `SCMP_CMP_MASKED_EQ` takes `valueTwo` as the mask and `value` as the datum, where
//!   the OCI spec and runc take `value` as the mask: moby's `clone` rule (the namespace
//!   flags as `value`, no `valueTwo`) became a mask of 0 and allowed every clone,
//!   `CLONE_NEWUSER` included.
//!
//! The executor loads the container's profile, read from its `config.json`, with the
//! masked-equality values put in libcontainer's order, then execs as libcontainer's
//! `DefaultExecutor`. A container's init process thus gets libcontainer's (too loose)
//! filter and this one: stacked filters give the strictest answer.

use kiln_ctr::{Error, Result};
use libcontainer::oci_spec::runtime::{LinuxSeccomp, LinuxSeccompArgBuilder, LinuxSeccompOperator, Spec};
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use std::path::Path;

#[derive(Clone)]
pub struct Seccomp {
    /// The profile in libcontainer's argument order; none when the container has none.
    profile: Option<LinuxSeccomp>,
    /// `process.noNewPrivileges`: set before the filter (loading one needs it without
    /// CAP_SYS_ADMIN, which no container has).
    no_new_privs: bool,
}

impl Seccomp {
    /// The executor for the bundle whose `config.json` this is.
    pub fn for_bundle(bundle: &Path) -> Result<Seccomp> {
        let path = bundle.join("config.json");
        let spec = Spec::load(&path).map_err(|e| Error(format!("{}: {e}", path.display())))?;
        let profile = spec.linux().as_ref().and_then(|l| l.seccomp().clone()).map(libcontainer_order);
        let no_new_privs = spec.process().as_ref().and_then(|p| p.no_new_privileges()).unwrap_or(false);
        Ok(Seccomp { profile, no_new_privs })
    }
}

/// `value` is the mask of a masked equality (OCI, runc), `valueTwo` the datum (0 when
/// absent); libcontainer 0.7 reads them the other way round, so they are swapped.
fn libcontainer_order(mut profile: LinuxSeccomp) -> LinuxSeccomp {
    let Some(mut syscalls) = profile.syscalls().clone() else { return profile };
    for sc in syscalls.iter_mut() {
        let Some(mut args) = sc.args().clone() else { continue };
        for arg in args.iter_mut().filter(|a| a.op() == LinuxSeccompOperator::ScmpCmpMaskedEq) {
            let (mask, datum) = (arg.value(), arg.value_two().unwrap_or(0));
            *arg = LinuxSeccompArgBuilder::default().index(arg.index()).op(arg.op()).value(datum).value_two(mask).build().expect("every field is set");
        }
        sc.set_args(Some(args));
    }
    profile.set_syscalls(Some(syscalls));
    profile
}

impl Executor for Seccomp {
    fn exec(&self, spec: &Spec) -> std::result::Result<(), ExecutorError> {
        if let Some(profile) = &self.profile {
            if self.no_new_privs {
                nix::sys::prctl::set_no_new_privs().map_err(|e| ExecutorError::Other(format!("no_new_privs: {e}")))?;
            }
            libcontainer::seccomp::initialize_seccomp(profile).map_err(|e| ExecutorError::Other(format!("kiln-ctr's seccomp filter: {e}")))?;
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> std::result::Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}
