//! Platforms (`os/architecture[/variant]`) and how they match.

use std::fmt;
use std::str::FromStr;

/// The platform to pick from an image index, e.g. `linux/amd64` (the
/// default) or `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// Operating system (`linux`).
    pub os: String,
    /// CPU architecture in Go's names (`amd64`, `arm64`, ...).
    pub architecture: String,
    /// CPU variant (`v8`, `v7`); `None` matches any.
    pub variant: Option<String>,
}

impl Default for Platform {
    fn default() -> Self {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl FromStr for Platform {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        match parts[..] {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.into(),
                architecture: arch.into(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: os.into(),
                architecture: arch.into(),
                variant: Some(variant.into()),
            }),
            _ => Err(format!(
                "invalid platform {s:?}: expected OS/ARCH or OS/ARCH/VARIANT, e.g. linux/amd64"
            )),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Platform {
    /// Whether an image for `other` runs here: same OS and architecture,
    /// and the same variant when this one names one.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }

    pub(crate) fn from_spec(p: &oci_spec::image::Platform) -> Platform {
        Platform {
            os: p.os().to_string(),
            architecture: p.architecture().to_string(),
            variant: p.variant().clone().filter(|v| !v.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_and_match() {
        let amd: Platform = "linux/amd64".parse().unwrap();
        assert_eq!(amd, Platform::default());
        let v8: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(v8.to_string(), "linux/arm64/v8");
        assert!("linux".parse::<Platform>().is_err() && "linux//x".parse::<Platform>().is_err());
        let arm: Platform = "linux/arm64".parse().unwrap();
        assert!(arm.matches(&v8) && !v8.matches(&arm) && !amd.matches(&arm));
    }
}
