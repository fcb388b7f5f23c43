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

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/opt/app:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n";
    const GROUP: &str = "root:x:0:\napp:x:1000:\nstaff:x:50:app\n";

    #[test]
    fn names_and_numbers_as_container_engines_read_them() {
        let r = |u: &str| resolve_user(Some(u), Some(PASSWD), Some(GROUP)).unwrap();
        for root in ["", "root", "0", "0:0", "root:root", "root:0"] {
            assert_eq!(r(root), None, "{root:?}");
        }
        assert_eq!(resolve_user(None, None, None).unwrap(), None);
        assert_eq!(r("app"), Some((1000, 1000)));
        assert_eq!(r("1000"), Some((1000, 1000)), "the primary group from passwd");
        assert_eq!(r("1234"), Some((1234, 0)), "no passwd entry: group 0");
        assert_eq!(r("app:staff"), Some((1000, 50)));
        assert_eq!(r("nobody:7"), Some((65534, 7)));
        assert_eq!(r("0:50"), Some((0, 50)));
    }

    #[test]
    fn unknown_names_are_errors_saying_what_to_do() {
        let e = resolve_user(Some("ghost"), Some(PASSWD), Some(GROUP)).unwrap_err().to_string();
        assert!(e.contains("no user \"ghost\" in its /etc/passwd") && e.contains("use a number"), "{e}");
        let e = resolve_user(Some("app:ghosts"), Some(PASSWD), None).unwrap_err().to_string();
        assert!(e.contains("no group \"ghosts\""), "{e}");
        assert!(resolve_user(Some("app"), None, None).is_err(), "a distroless image without passwd needs numbers");
    }
}
