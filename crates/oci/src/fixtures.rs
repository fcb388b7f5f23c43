//! Fixture images built in memory (no Docker): layers crafted entry by entry
//! (raw headers too, for hostile cases), compressed, and written in every
//! input format. For this crate's tests and for Kiln's boot tests
//! (feature `fixtures`).

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use crate::{Compression, Digest, Platform};

/// A tar stream built entry by entry, with full control over the headers.
#[derive(Default)]
pub struct RawTar {
    out: Vec<u8>,
}

/// Type flags.
pub mod kind {
    /// Regular file.
    pub const FILE: u8 = b'0';
    /// Hard link.
    pub const LINK: u8 = b'1';
    /// Symlink.
    pub const SYMLINK: u8 = b'2';
    /// Character device.
    pub const CHAR: u8 = b'3';
    /// Block device.
    pub const BLOCK: u8 = b'4';
    /// Directory.
    pub const DIR: u8 = b'5';
    /// FIFO.
    pub const FIFO: u8 = b'6';
    /// PAX extended header.
    pub const PAX: u8 = b'x';
    /// GNU long name.
    pub const GNU_LONG_NAME: u8 = b'L';
}

/// A ustar header with the name and link written byte for byte (the `tar`
/// crate's setters refuse `..`, which hostile layers need).
pub fn header(name: &[u8], kind: u8, size: u64, mode: u32, link: &[u8]) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    assert!(
        name.len() <= 100 && link.len() <= 100,
        "use a GNU long name or PAX for longer names"
    );
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    h
}

impl RawTar {
    /// An empty stream.
    pub fn new() -> RawTar {
        RawTar::default()
    }

    /// Appends a header and its data (padded to 512 bytes), as given.
    pub fn raw(&mut self, header: &tar::Header, data: &[u8]) -> &mut Self {
        self.out.extend_from_slice(header.as_bytes());
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0, pad));
        self
    }

    /// Appends an entry of any type.
    pub fn entry(&mut self, name: &str, kind: u8, mode: u32, data: &[u8], link: &str) -> &mut Self {
        let h = header(
            name.as_bytes(),
            kind,
            data.len() as u64,
            mode,
            link.as_bytes(),
        );
        self.raw(&h, data)
    }

    /// A directory.
    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        self.entry(name, kind::DIR, mode, b"", "")
    }

    /// A regular file.
    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Self {
        self.entry(name, kind::FILE, mode, data, "")
    }

    /// A symlink.
    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, kind::SYMLINK, 0o777, b"", target)
    }

    /// A hard link.
    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, kind::LINK, 0o644, b"", target)
    }

    /// A device node.
    pub fn device(&mut self, name: &str, kind: u8, major: u32, minor: u32) -> &mut Self {
        let mut h = header(name.as_bytes(), kind, 0, 0o600, b"");
        h.set_device_major(major).expect("ustar");
        h.set_device_minor(minor).expect("ustar");
        h.set_cksum();
        self.raw(&h, b"")
    }

    /// A whiteout for `path` (`dir/.wh.name`).
    pub fn whiteout(&mut self, path: &str) -> &mut Self {
        let (dir, name) = path.rsplit_once('/').map_or(("", path), |(d, n)| (d, n));
        let name = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(&name, 0o644, b"")
    }

    /// An opaque marker for directory `dir`.
    pub fn opaque(&mut self, dir: &str) -> &mut Self {
        self.file(&format!("{dir}/.wh..wh..opq"), 0o644, b"")
    }

    /// A PAX extended header with these records, for the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (key, value) in records {
            // "LEN key=value\n", LEN counting itself.
            let body = key.len() + value.len() + 3;
            let mut len = body + body.to_string().len();
            if len.to_string().len() + body != len {
                len += 1;
            }
            data.extend_from_slice(format!("{len} {key}=").as_bytes());
            data.extend_from_slice(value);
            data.push(b'\n');
        }
        let h = header(b"././@PaxHeader", kind::PAX, data.len() as u64, 0o644, b"");
        self.raw(&h, &data)
    }

    /// A GNU long name header for the next entry.
    pub fn gnu_long_name(&mut self, name: &[u8]) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(name.len() as u64 + 1);
        h.set_mode(0o644);
        h.set_cksum();
        let mut data = name.to_vec();
        data.push(0);
        self.raw(&h, &data)
    }

    /// The stream with its end-of-archive blocks.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.out);
        out.extend(std::iter::repeat_n(0, 1024));
        out
    }
}

/// Compresses a layer.
pub fn compress(data: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).expect("in memory");
            e.finish().expect("in memory")
        }
        Compression::Zstd => {
            ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
        }
    }
}

/// The text of the marker file the BusyBox fixture adds in its top layer.
pub const MARKER: &str = "kiln oci fixture marker\n";

/// The two layers of the BusyBox fixture: a base (BusyBox, applet links,
/// /etc files, a directory to be made opaque) and a top layer with a marker
/// file, a whiteout (`etc/motd`) and an opaque directory (`opt/app`).
pub fn busybox_layers(busybox: &[u8]) -> Vec<Vec<u8>> {
    let mut base = RawTar::new();
    base.dir("bin", 0o755)
        .file("bin/busybox", 0o755, busybox)
        .symlink("bin/sh", "busybox")
        .hardlink("bin/cat", "bin/busybox")
        .file("bin/su", 0o4755, b"setuid placeholder\n")
        .dir("etc", 0o755)
        .file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/opt/app:/bin/sh\n")
        .file("etc/group", 0o644, b"root:x:0:\napp:x:1000:\n")
        .file("etc/motd", 0o644, b"deleted by the top layer\n")
        .dir("opt", 0o755)
        .dir("opt/app", 0o750)
        .file("opt/app/old", 0o600, b"hidden by the opaque directory\n")
        .dir("opt/app/sub", 0o755)
        .file("opt/app/sub/deep", 0o644, b"hidden too\n")
        .dir("tmp", 0o1777)
        .dir("usr", 0o755)
        .dir("usr/bin", 0o755)
        .symlink("usr/bin/env", "/bin/busybox");
    let mut top = RawTar::new();
    top.dir("etc", 0o755)
        .file("etc/kiln-marker", 0o644, MARKER.as_bytes())
        .whiteout("etc/motd")
        .dir("opt/app", 0o755)
        .opaque("opt/app")
        .file("opt/app/new", 0o644, b"added with the opaque directory\n")
        .dir("root", 0o700);
    vec![base.finish(), top.finish()]
}

/// A fixture image: layers (uncompressed tars), how to compress them, a
/// config and a platform.
#[derive(Debug, Clone)]
pub struct FixtureImage {
    /// The layers, oldest first, as plain tars.
    pub layers: Vec<Vec<u8>>,
    /// How the OCI formats compress them (`docker save` stores them plain).
    pub compression: Compression,
    /// The platform.
    pub platform: Platform,
    /// The config's `config` object (`Env`, `Cmd`, ...).
    pub run: Value,
}

/// A blob: bytes and descriptor fields.
#[derive(Debug, Clone)]
pub struct Blob {
    /// The bytes.
    pub data: Vec<u8>,
    /// Their sha256 digest.
    pub digest: Digest,
    /// The media type.
    pub media_type: String,
}

impl Blob {
    fn new(data: Vec<u8>, media_type: &str) -> Blob {
        Blob {
            digest: Digest::sha256(&data),
            data,
            media_type: media_type.to_owned(),
        }
    }

    /// The descriptor, optionally with annotations or a platform.
    pub fn descriptor(&self, extra: Value) -> Value {
        let mut d = json!({"mediaType": self.media_type, "digest": self.digest.as_str(), "size": self.data.len()});
        if let (Some(d), Value::Object(extra)) = (d.as_object_mut(), extra) {
            d.extend(extra);
        }
        d
    }
}

/// Every blob of an image in the OCI formats.
#[derive(Debug, Clone)]
pub struct Blobs {
    /// Layer blobs, oldest first.
    pub layers: Vec<Blob>,
    /// The config.
    pub config: Blob,
    /// The manifest.
    pub manifest: Blob,
}

impl FixtureImage {
    /// The BusyBox fixture (two layers, gzip), running `/bin/sh -c 'cat /etc/kiln-marker'`.
    pub fn busybox(busybox: &[u8]) -> FixtureImage {
        FixtureImage {
            layers: busybox_layers(busybox),
            compression: Compression::Gzip,
            platform: Platform::default(),
            run: json!({
                "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "KILN_FIXTURE=1"],
                "WorkingDir": "/root",
                "User": "0:0",
                "Entrypoint": ["/bin/sh", "-c"],
                "Cmd": ["cat /etc/kiln-marker"],
                "StopSignal": "SIGQUIT"
            }),
        }
    }

    /// An image with these layers and the default platform and config.
    pub fn with_layers(layers: Vec<Vec<u8>>, compression: Compression) -> FixtureImage {
        FixtureImage {
            layers,
            compression,
            platform: Platform::default(),
            run: json!({}),
        }
    }

    fn config_json(&self) -> Vec<u8> {
        let diff_ids: Vec<String> = self
            .layers
            .iter()
            .map(|l| Digest::sha256(l).to_string())
            .collect();
        let mut config = json!({
            "architecture": self.platform.architecture,
            "os": self.platform.os,
            "config": self.run,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        if let Some(v) = &self.platform.variant {
            config["variant"] = json!(v);
        }
        serde_json::to_vec(&config).expect("json")
    }

    /// The blobs of the OCI formats, layers compressed with `compression`.
    pub fn blobs_with(&self, compression: Compression) -> Blobs {
        let media = match compression {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        };
        let layers: Vec<Blob> = self
            .layers
            .iter()
            .map(|l| Blob::new(compress(l, compression), media))
            .collect();
        let config = Blob::new(
            self.config_json(),
            "application/vnd.oci.image.config.v1+json",
        );
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config.descriptor(json!({})),
            "layers": layers.iter().map(|l| l.descriptor(json!({}))).collect::<Vec<_>>(),
        });
        let manifest = Blob::new(
            serde_json::to_vec(&manifest).expect("json"),
            "application/vnd.oci.image.manifest.v1+json",
        );
        Blobs {
            layers,
            config,
            manifest,
        }
    }

    /// The blobs with the image's own compression.
    pub fn blobs(&self) -> Blobs {
        self.blobs_with(self.compression)
    }
}

/// Files of an image layout or archive: (path, bytes).
pub type Files = Vec<(String, Vec<u8>)>;

fn blob_file(b: &Blob) -> (String, Vec<u8>) {
    (format!("blobs/sha256/{}", b.digest.hex()), b.data.clone())
}

fn index(manifests: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }))
    .expect("json")
}

/// The `oci-layout` file that marks an OCI layout.
fn layout_marker() -> (String, Vec<u8>) {
    ("oci-layout".to_owned(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec())
}

/// `oci-layout` and one image's blobs (layers, config, manifest): every layout
/// starts so; `index.json` comes after.
fn layout_files(blobs: &Blobs) -> Files {
    let mut files = vec![layout_marker()];
    files.extend(blobs.layers.iter().map(blob_file));
    files.push(blob_file(&blobs.config));
    files.push(blob_file(&blobs.manifest));
    files
}

/// The files of an OCI layout holding `image` tagged `tag`.
pub fn oci_layout_files(image: &FixtureImage, tag: &str) -> Files {
    let blobs = image.blobs();
    let mut files = layout_files(&blobs);
    let d = blobs
        .manifest
        .descriptor(json!({"annotations": {"org.opencontainers.image.ref.name": tag}}));
    files.push(("index.json".to_owned(), index(vec![d])));
    files
}

/// The files of an OCI layout holding a multi-platform image: `tag` names a
/// nested index with one manifest per image, each with its platform.
pub fn multi_platform_files(images: &[&FixtureImage], tag: &str) -> Files {
    let mut files = vec![(
        "oci-layout".to_owned(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    )];
    let mut manifests = Vec::new();
    for image in images {
        let blobs = image.blobs();
        files.extend(blobs.layers.iter().map(blob_file));
        files.push(blob_file(&blobs.config));
        files.push(blob_file(&blobs.manifest));
        let p = &image.platform;
        let mut platform = json!({"os": p.os, "architecture": p.architecture});
        if let Some(v) = &p.variant {
            platform["variant"] = json!(v);
        }
        manifests.push(blobs.manifest.descriptor(json!({ "platform": platform })));
    }
    let nested = Blob::new(index(manifests), "application/vnd.oci.image.index.v1+json");
    files.push(blob_file(&nested));
    let d = nested.descriptor(json!({"annotations": {"org.opencontainers.image.ref.name": tag}}));
    files.push(("index.json".to_owned(), index(vec![d])));
    files
}

/// The files of a Docker 25+ `docker save`: the OCI layout (plain layers,
/// Docker's annotations) and `manifest.json`.
pub fn docker_save_files(image: &FixtureImage, repo_tag: &str) -> Files {
    let blobs = image.blobs_with(Compression::None);
    let mut files = layout_files(&blobs);
    let tag = repo_tag.rsplit_once(':').map_or("latest", |(_, t)| t);
    let d = blobs.manifest.descriptor(json!({"annotations": {
        "io.containerd.image.name": format!("docker.io/{repo_tag}"),
        "org.opencontainers.image.ref.name": tag,
    }}));
    files.push(("index.json".to_owned(), index(vec![d])));
    let manifest = json!([{
        "Config": format!("blobs/sha256/{}", blobs.config.digest.hex()),
        "RepoTags": [repo_tag],
        "Layers": blobs.layers.iter().map(|l| format!("blobs/sha256/{}", l.digest.hex())).collect::<Vec<_>>(),
    }]);
    files.push((
        "manifest.json".to_owned(),
        serde_json::to_vec(&manifest).expect("json"),
    ));
    files
}

/// The files of a `docker save` before Docker 25: `HEX.json` config,
/// `ID/layer.tar` layers (IDs that are not digests), `manifest.json`.
pub fn docker_save_legacy_files(image: &FixtureImage, repo_tag: &str) -> Files {
    let blobs = image.blobs_with(Compression::None);
    let config = format!("{}.json", blobs.config.digest.hex());
    let mut files = vec![(config.clone(), blobs.config.data.clone())];
    let mut layers = Vec::new();
    for (i, l) in blobs.layers.iter().enumerate() {
        let id = Digest::sha256(format!("v1 id {i}").as_bytes());
        let path = format!("{}/layer.tar", id.hex());
        files.push((path.clone(), l.data.clone()));
        layers.push(path);
    }
    let manifest = json!([{"Config": config, "RepoTags": [repo_tag], "Layers": layers}]);
    files.push((
        "manifest.json".to_owned(),
        serde_json::to_vec(&manifest).expect("json"),
    ));
    files
}

/// Writes files under a directory.
pub fn write_dir(dir: &Path, files: &Files) -> std::io::Result<()> {
    for (name, data) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("has a parent"))?;
        std::fs::write(path, data)?;
    }
    Ok(())
}

/// Writes files as a tar archive (`oci-archive`, `docker save`).
pub fn write_tar(path: &Path, files: &Files) -> std::io::Result<()> {
    std::fs::write(path, tar_bytes(files)?)
}

/// Files as the bytes of a tar archive: the same files give the same bytes.
pub fn tar_bytes(files: &Files) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, &data[..])?;
    }
    b.into_inner()
}
