//! kiln-ctr: runs the containers of Kiln's container OS.
//!
//! The library holds what the build tool and the guest share (the [`manifest`]) and
//! the logic that is tested on the host; the guest binary (`--features guest`) adds
//! the OCI runtime (youki's libcontainer) and the system calls.

pub mod manifest;
