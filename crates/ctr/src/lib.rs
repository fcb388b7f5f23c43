//! kiln-ctr: runs the containers of Kiln's container OS.
//!
//! The library holds what the build tool and the guest share (the [`manifest`]) and
//! the logic that is tested on the host: the CNI exchange ([`cni`]), the restart
//! policy ([`policy`]), the state files and the `list` table ([`state`]), the control
//! socket's messages ([`proto`]), the operator's console lines ([`report`]) and
//! `inspect`'s view of a config.json ([`inspect`]) and `docker run`'s reading of an
//! image config, with the config.json of `kiln-ctr run` ([`run_spec`]). The guest binary (`guest/`, its
//! own workspace) adds the OCI runtime (youki's libcontainer) and the system calls.

pub mod cni;
pub mod error;
pub mod inspect;
pub mod manifest;
mod manifest_load;
pub mod policy;
pub mod proto;
pub mod report;
pub mod run_spec;
pub mod signals;
pub mod state;
pub mod supervisor;

pub use error::{Error, Result};
