//! A container in the system's root tree: its image's tree as the read-only root
//! `/containers/NAME/rootfs` beside the `config.json` made for it; and the files the
//! whole container OS shares (kiln-ctr's manifest, the CNI conflist).

use super::cni::{conflist_json, conflist_path, manifest, manifest_container, manifest_json};
use super::runtime::{run_template_json, runtime_spec, spec_json, ContainerImage};
use super::spec::ContainerSpec;
use crate::oci_rootfs::{read_text, resolve};
use crate::{Error, Result};
use kiln_ctr::manifest::{bundle_path, Container, MANIFEST_PATH};
use kiln_ctr::run_spec::RUN_TEMPLATE_PATH;
use kiln_initramfs::{Data, Tree};
use kiln_oci::ImageConfig;

/// Puts container `c` (its image's `config` and unpacked `image` tree) into `root`:
/// `containers/NAME/rootfs/…` and `containers/NAME/config.json`. Returns its entry in
/// kiln-ctr's manifest.
///
/// Every mount point of the config.json is made in the image's tree when the image
/// lacks it (`/proc`, `/sys`, `/dev`, a volume's target): the root is read-only when
/// the container starts, so the runtime could not make them then.
pub fn add_bundle(root: &mut Tree, c: &ContainerSpec, config: &ImageConfig, mut image: Tree) -> Result<Container> {
    let (passwd, group) = (read_text(&image, "etc/passwd"), read_text(&image, "etc/group"));
    let spec = runtime_spec(c, &ContainerImage { config, passwd: passwd.as_deref(), group: group.as_deref() })?;
    for m in spec.mounts().iter().flatten() {
        let target = m.destination().to_string_lossy();
        if resolve(&image, &target).is_none() {
            image.dir(&target, 0o755).map_err(|e| Error::Container {
                name: c.name.clone(),
                message: format!("cannot make the mount point {target} in the image: {e}"),
            })?;
        }
    }
    let json = spec_json(&spec).map_err(|message| Error::Container { name: c.name.clone(), message })?;
    let bundle = bundle_path(&c.name);
    root.dir(&bundle, 0o755)?;
    root.graft(&format!("{bundle}/rootfs"), image)?;
    root.file(&format!("{bundle}/config.json"), 0o644, Data::Bytes(json))?;
    Ok(manifest_container(c, config.stop_signal.as_deref()))
}

/// kiln-ctr's manifest (the containers in start order), the template of
/// `kiln-ctr run`'s config.json and, when any container joins the network, the CNI
/// conflist.
pub fn add_shared(root: &mut Tree, containers: Vec<Container>) -> Result<()> {
    let m = manifest(containers);
    if m.network.is_some() {
        root.file(&conflist_path(), 0o644, Data::Bytes(conflist_json()))?;
    }
    root.file(MANIFEST_PATH, 0o644, Data::Bytes(manifest_json(&m)))?;
    root.file(RUN_TEMPLATE_PATH, 0o644, Data::Bytes(run_template_json()?))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_initramfs::Kind;
    const MASKED_PATHS_LEN: usize = crate::containers::MASKED_PATHS.len();

    fn spec(text: &str) -> ContainerSpec {
        let full = format!("name = \"t\"\n[kernel]\nfragments = []\n[busybox]\nfragments = []\n{text}");
        crate::ImageSpec::parse("images/t.toml", &full).unwrap().containers.remove(0)
    }

    #[test]
    fn bundle_is_the_image_below_rootfs_and_its_config() {
        let c = spec("[[containers]]\nname = \"web\"\nimage = \"kiln:busybox\"\nuser = \"1000\"\n");
        let mut image = Tree::new();
        image.file("bin/busybox", 0o755, Data::Bytes(b"bb".to_vec())).unwrap();
        image.file("etc/passwd", 0o644, Data::Bytes(b"app:x:1000:1001::/:/bin/sh\n".to_vec())).unwrap();
        let config = ImageConfig { cmd: vec!["sh".into()], stop_signal: Some("QUIT".into()), ..ImageConfig::default() };
        let mut root = Tree::new();
        let entry = add_bundle(&mut root, &c, &config, image).unwrap();
        assert_eq!(entry.stop_signal, "SIGQUIT");
        assert!(root.get("containers/web/rootfs/bin/busybox").is_some());
        // The mount points the image lacked, made so a read-only root can be used.
        for dir in ["proc", "sys", "dev", "dev/pts", "sys/fs/cgroup"] {
            assert!(root.get(&format!("containers/web/rootfs/{dir}")).is_some_and(|e| e.is_dir()), "{dir}");
        }
        let Some(Kind::File(Data::Bytes(json))) = root.get("containers/web/config.json").map(|e| e.kind.clone()) else { panic!("no config.json") };
        let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(json["root"]["path"], "rootfs");
        // The primary group came from the image's /etc/passwd.
        assert_eq!((json["process"]["user"]["uid"].as_u64(), json["process"]["user"]["gid"].as_u64()), (Some(1000), Some(1001)));
        add_shared(&mut root, vec![entry]).unwrap();
        assert!(root.get("etc/cni/net.d/10-kiln.conflist").is_some());
        assert!(root.get("etc/kiln-ctr/containers.json").is_some());
        let Some(Kind::File(Data::Bytes(t))) = root.get("etc/kiln-ctr/run-template.json").map(|e| e.kind.clone()) else { panic!("no run template") };
        let t: serde_json::Value = serde_json::from_slice(&t).unwrap();
        assert_eq!((t["root"]["readonly"].as_bool(), t["process"]["noNewPrivileges"].as_bool()), (Some(false), Some(true)));
        assert_eq!(t["process"]["args"], serde_json::json!([]));
        assert!(t["linux"]["seccomp"]["syscalls"].as_array().is_some_and(|s| !s.is_empty()));
        assert_eq!(t["linux"]["maskedPaths"].as_array().map(Vec::len), Some(MASKED_PATHS_LEN));
    }

    #[test]
    fn no_network_no_conflist() {
        let c = spec("[[containers]]\nname = \"solo\"\nimage = \"kiln:busybox\"\nnetwork = false\n");
        let mut root = Tree::new();
        let entry = add_bundle(&mut root, &c, &ImageConfig { cmd: vec!["true".into()], ..ImageConfig::default() }, Tree::new()).unwrap();
        add_shared(&mut root, vec![entry]).unwrap();
        assert!(root.get("etc/cni/net.d/10-kiln.conflist").is_none());
    }
}
