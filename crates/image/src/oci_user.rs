//! The image config's `User`, resolved at build time against the image's own
//! `/etc/passwd` and `/etc/group` (the guest gets numbers: kiln-init has no name
//! service), following what container engines do.

use crate::{Error, Result};

fn err(message: String) -> Error {
    Error::Oci { message }
}

/// `User` as `UID:GID`, or `None` for root (no `User`, `root`, `0`, `0:0`, ...).
/// Forms: `user`, `uid`, `user:group`, `uid:gid`, `uid:group`, `user:gid`. A name is
/// looked up in `passwd` (a group name in `group`); a user without a group gets the
/// primary group of its passwd entry, or 0 when it has none, as Docker does.
pub fn resolve_user(user: Option<&str>, passwd: Option<&str>, group: Option<&str>) -> Result<Option<(u32, u32)>> {
    // The rules are kiln-ctr's, shared with `kiln-ctr run` in the guest.
    kiln_ctr::run_spec::resolve_user(user, passwd, group).map_err(|e| err(e.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The rules themselves are tested in kiln-ctr (run_spec_tests.rs); here, that an
    // unknown name stays an error with the rule's words.
    #[test]
    fn the_rules_errors_come_through() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\n";
        assert_eq!(resolve_user(Some("0:0"), Some(passwd), None).unwrap(), None);
        let e = resolve_user(Some("ghost"), Some(passwd), None).unwrap_err().to_string();
        assert!(e.contains("no user \"ghost\" in its /etc/passwd"), "{e}");
    }
}
