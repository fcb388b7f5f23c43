//! Pinning a reference to a digest: given in the reference, taken from the lock file,
//! or resolved now (and locked). A locked tag that moved is reported, never followed.

use crate::{Client, Lock, Reference, Result};
use kiln_oci::Digest;
use std::fmt;

/// How a reference got its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// The reference names its digest.
    Given,
    /// From the lock file; the registry's tag still points there.
    Locked,
    /// From the lock file; the tag now points elsewhere (not followed).
    Moved { now: Digest },
    /// From the lock file; the tag could not be checked (offline, or an error).
    Unchecked { reason: String },
    /// Resolved now and added to the lock file.
    Added,
    /// Resolved again (`--update`) and changed in the lock file.
    Updated { old: Digest },
}

impl Pin {
    /// A one-line report for the build's output, if there is something to say.
    pub fn report(&self, r: &Reference, digest: &Digest, lock: &Lock) -> Option<String> {
        let lock = lock.path().display();
        let d = digest.as_str();
        match self {
            Pin::Given | Pin::Locked => None,
            Pin::Moved { now } => Some(format!(
                "warning: {r} moved to {} since {lock} locked it at {d}; building the locked image (--update follows the tag)",
                now.as_str()
            )),
            Pin::Unchecked { reason } => Some(format!("note: {r}: locked at {d}; could not check the tag ({reason})")),
            Pin::Added => Some(format!("locked {r} at {d} in {lock}")),
            Pin::Updated { old } => Some(format!("updated {r}: {} -> {d} in {lock}", old.as_str())),
        }
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pin::Given => "given",
            Pin::Locked => "locked",
            Pin::Moved { .. } => "locked, tag moved",
            Pin::Unchecked { .. } => "locked, unchecked",
            Pin::Added => "resolved",
            Pin::Updated { .. } => "updated",
        })
    }
}

/// The digest to build `r` from. `update` resolves the tag again; `check` asks the
/// registry whether a locked tag moved (a failure to ask is reported, not fatal).
pub fn pin(client: &Client, lock: &mut Lock, r: &Reference, update: bool, check: bool) -> Result<(Digest, Pin)> {
    if let Some(d) = &r.digest {
        return Ok((d.clone(), Pin::Given));
    }
    match lock.get(r).cloned() {
        Some(locked) if !update => {
            if !check {
                return Ok((locked, Pin::Unchecked { reason: "not asked to".into() }));
            }
            let pin = match client.resolve(r) {
                Ok(now) if now != locked => Pin::Moved { now },
                Ok(_) => Pin::Locked,
                Err(e) => Pin::Unchecked { reason: e.to_string() },
            };
            Ok((locked, pin))
        }
        _ => {
            let now = client.resolve(r)?;
            let pin = match lock.set(r, &now) {
                crate::Change::Added => Pin::Added,
                crate::Change::Updated { old } => Pin::Updated { old },
                crate::Change::Same => Pin::Locked,
            };
            Ok((now, pin))
        }
    }
}
