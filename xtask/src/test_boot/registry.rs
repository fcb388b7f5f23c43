//! The container OS pulls from a registry on the host: the case starts Debian's
//! docker-registry on a free port of 127.0.0.1 (QEMU's user network gives the guest
//! the host's loopback as 10.0.2.2), pushes an image whose `/answer` holds a number
//! chosen for this run, and the guest pulls and runs it with `kiln-ctr`. What the
//! script expects is computed in the guest from what it pulled: the number doubled,
//! the digest of the manifest it checked.

use anyhow::{Context, Result};
use kiln_oci::fixtures::{self, RawTar};
use kiln_registry::testreg::TestRegistry;
use kiln_registry::{Client, Options, Reference};
use kiln_vm::Step;
use std::path::Path;
use std::time::Duration;

/// The registry as the guest reaches it (QEMU user networking's host address).
const HOST_FROM_GUEST: &str = "10.0.2.2";

/// A running registry holding this run's image; it stops when dropped, so the caller
/// keeps it until the cases have run.
pub struct GuestRegistry {
    /// The running registry (none in unit tests of the steps).
    _registry: Option<TestRegistry>,
    /// `docker://10.0.2.2:PORT/kiln/answer:1`
    pub reference: String,
    /// The manifest's digest (resolved on the host).
    pub digest: String,
    /// What `/answer` holds.
    pub answer: u64,
    /// Blobs a first pull fetches: manifest, config, layers.
    pub blobs: usize,
    /// The same repository with a tag nobody pushed.
    pub unknown: String,
}

/// Starts the registry and pushes Kiln's BusyBox plus an `/answer` layer.
pub fn start(busybox: &Path) -> Result<GuestRegistry> {
    let registry = TestRegistry::start(None).map_err(anyhow::Error::msg).context("the registry for the container OS's pull")?;
    let answer = 1000 + u64::from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos() % 900_000);
    // kiln:busybox (every applet) and a layer with the answer.
    let mut image = crate::containers::busybox_image(busybox)?;
    let mut layer = RawTar::new();
    layer.file("answer", 0o644, answer.to_string().as_bytes());
    image.layers.push(layer.finish());
    let dir = tempfile::tempdir()?;
    fixtures::write_dir(dir.path(), &fixtures::oci_layout_files(&image, "t"))?;
    registry.push(&format!("oci:{}:t", dir.path().display()), "kiln/answer:1", false).map_err(anyhow::Error::msg)?;
    let local = Reference::parse(&registry.reference("kiln/answer:1")).map_err(anyhow::Error::msg)?;
    let digest = Client::new(Options::default()).resolve(&local)?.as_str().to_owned();
    let repo = format!("docker://{HOST_FROM_GUEST}:{}/kiln/answer", registry.addr.port());
    let blobs = 2 + image.layers.len();
    Ok(GuestRegistry { _registry: Some(registry), reference: format!("{repo}:1"), digest, answer, blobs, unknown: format!("{repo}:nosuch") })
}

impl GuestRegistry {
    /// The steps' inputs without a registry (for tests of the script).
    #[cfg(test)]
    pub fn example() -> GuestRegistry {
        let repo = "docker://10.0.2.2:5000/kiln/answer";
        let digest = format!("sha256:{}", "a".repeat(64));
        GuestRegistry { _registry: None, reference: format!("{repo}:1"), digest, answer: 4321, blobs: 5, unknown: format!("{repo}:nosuch") }
    }

    /// Pull (checked digest), run (the number doubled in the container), the run's exit
    /// status, a pull again from the cache, and the error for an unknown tag.
    pub fn steps(&self) -> Vec<Step> {
        let r = &self.reference;
        let slow = |c: String, expect: Vec<String>| Step::Command { cmd: c, expect, timeout: Duration::from_secs(120) };
        let host = r.trim_start_matches("docker://").split('/').next().unwrap_or_default();
        vec![
            // Plain HTTP is for loopback hosts only, unless the host is listed (or --insecure).
            slow(format!("kiln-ctr pull {r}; echo rc=$?"), vec!["plain HTTP only".into(), "rc=1".into()]),
            // $R is the later steps' image (containers.rs).
            slow(
                format!("R={r}; export KILN_INSECURE_REGISTRIES={host}; kiln-ctr pull $R | tail -n 1"),
                vec![format!("pulled {r}@{} (linux/amd64): {} blob(s) fetched", self.digest, self.blobs)],
            ),
            slow("kiln-ctr run $R -- sh -c 'echo doubled=$(( $(cat /answer) * 2 ))'".into(), vec![format!("doubled={}", self.answer * 2)]),
            slow("kiln-ctr run $R -- sh -c 'exit 7'; echo rc=$?".into(), vec!["rc=7".into()]),
            slow("kiln-ctr pull --insecure $R | tail -n 1".into(), vec![format!("0 blob(s) fetched (0 bytes), {} cached", self.blobs)]),
            slow(format!("kiln-ctr pull {}; echo rc=$?", self.unknown), vec!["not found".into(), "rc=1".into()]),
        ]
    }
}
