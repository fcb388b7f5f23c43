//! `kiln-ctr pull REF`: an image from a registry over the guest's network, with the
//! build tool's client (kiln-registry: digest and size checks, resumed downloads,
//! credentials from ~/.docker/config.json or KILN_REGISTRY_AUTH, plain HTTP only for
//! loopback hosts, KILN_INSECURE_REGISTRIES and `--insecure`) into a cache on /var
//! (tmpfs). The pulled image is a one-image OCI layout that kiln-oci's safe reader
//! unpacks.

use kiln_ctr::{Error, Result};
use kiln_registry::{Client, Options, Progress, Reference, Store};
use std::path::PathBuf;
use std::time::Instant;

/// The blob cache and pulled layouts.
pub const STORE: &str = "/var/lib/kiln-ctr/registry";

/// How to reach the registry.
#[derive(Debug, Clone, clap::Args)]
pub struct PullOpts {
    /// Plain HTTP to this registry (besides loopback hosts and KILN_INSECURE_REGISTRIES)
    #[arg(long)]
    pub insecure: bool,
    /// The platform to take from a multi-platform image
    #[arg(long, default_value = "linux/amd64", value_name = "OS/ARCH[/VARIANT]")]
    pub platform: String,
}

/// Pulls `reference`; the layout's path. One line per blob fetched and a summary.
pub fn pull(reference: &str, opts: &PullOpts) -> Result<PathBuf> {
    let r = Reference::parse(reference).map_err(Error)?;
    let platform: kiln_oci::Platform = opts.platform.parse().map_err(|e| Error(format!("--platform {}: {e}", opts.platform)))?;
    let mut options = Options::from_user().map_err(Error)?;
    if opts.insecure {
        options.insecure.push(r.host.clone());
    }
    let client = Client::new(options);
    let started = Instant::now();
    let digest = match &r.digest {
        Some(d) => d.clone(),
        None => client.resolve(&r).map_err(|e| Error(e.to_string()))?,
    };
    let store = Store::new(STORE);
    let pinned = r.pinned(&digest);
    let pulled = kiln_registry::pull(&client, &store, &pinned, &platform, &mut |p| match p {
        Progress::Start { digest, size, resumed } => {
            let from = if resumed > 0 { format!(" (resuming at {resumed})") } else { String::new() };
            println!("  {} {size} bytes{from}", &digest.as_str()[..19]);
        }
        Progress::Bytes(_) | Progress::Done => {}
    })
    .map_err(|e| Error(e.to_string()))?;
    println!(
        "pulled {pinned} ({}): {} blob(s) fetched ({} bytes), {} cached, in {:.2} s",
        pulled.platform,
        pulled.fetched,
        pulled.fetched_bytes,
        pulled.cached,
        started.elapsed().as_secs_f64()
    );
    Ok(pulled.layout)
}
