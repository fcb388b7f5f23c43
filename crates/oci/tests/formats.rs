//! Every input format gives the same tree for the BusyBox fixture; index
//! platforms, references and digests are checked.

use std::path::Path;

use kiln_oci::fixtures::{self, FixtureImage, MARKER};
use kiln_oci::{Compression, Error, Format, Image, Kind, Options, Platform, Rootfs};

const BUSYBOX: &[u8] = b"\x7fELF pretend busybox, long enough to be spooled? no";

fn options(spool: &Path) -> Options {
    Options {
        spool_dir: spool.to_owned(),
        inline_max: 16,
        ..Options::default()
    }
}

fn unpack(path: &Path, opts: &Options) -> (Image, Rootfs) {
    let image = Image::open(path, opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rootfs = image
        .unpack(opts)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (image, rootfs)
}

/// The tree every format must give.
fn check_busybox_tree(rootfs: &Rootfs) {
    let paths: Vec<String> = rootfs.entries().iter().map(|e| e.path.clone()).collect();
    let expected = [
        "bin",
        "bin/busybox",
        "bin/cat",
        "bin/sh",
        "bin/su",
        "etc",
        "etc/group",
        "etc/kiln-marker",
        "etc/passwd",
        "opt",
        "opt/app",
        "opt/app/new",
        "root",
        "tmp",
        "usr",
        "usr/bin",
        "usr/bin/env",
    ];
    assert_eq!(paths, expected);
    let get = |p: &str| rootfs.get(p).unwrap();
    let read = |p: &str| match get(p).kind {
        Kind::File(c) => rootfs.read(&c).unwrap(),
        k => panic!("{p} is {k:?}"),
    };
    assert_eq!(read("etc/kiln-marker"), MARKER.as_bytes());
    assert_eq!(read("bin/busybox"), BUSYBOX);
    assert_eq!(
        get("bin/cat").inode,
        get("bin/busybox").inode,
        "hard links share one inode"
    );
    assert_eq!(get("bin/sh").kind, Kind::Symlink("busybox".into()));
    assert_eq!(
        get("usr/bin/env").kind,
        Kind::Symlink("/bin/busybox".into())
    );
    assert_eq!(get("bin/su").meta.mode, 0o4755, "setuid kept");
    assert_eq!(get("tmp").meta.mode, 0o1777);
    assert_eq!(
        get("opt/app").meta.mode,
        0o755,
        "the top layer's directory metadata wins"
    );
    assert!(rootfs.spooled_bytes() > 0, "big files are spooled");
}

fn check_config(image: &Image) {
    let c = image.config();
    assert_eq!(c.command(), ["/bin/sh", "-c", "cat /etc/kiln-marker"]);
    assert_eq!(
        c.env,
        ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "KILN_FIXTURE=1"]
    );
    assert_eq!(
        (c.working_dir.as_deref(), c.user.as_deref()),
        (Some("/root"), Some("0:0"))
    );
    assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(c.platform, Platform::default());
    assert_eq!(image.layers().len(), 2);
}

#[test]
fn every_format_gives_the_same_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let fixture = FixtureImage::busybox(BUSYBOX);
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let image = FixtureImage {
            compression,
            ..fixture.clone()
        };
        let files = fixtures::oci_layout_files(&image, "latest");
        let dir = tmp.path().join(format!("layout-{compression:?}"));
        fixtures::write_dir(&dir, &files).unwrap();
        let (img, rootfs) = unpack(&dir, &opts);
        assert_eq!(img.format(), Format::OciLayout);
        assert_eq!(img.layers()[0].compression, compression);
        check_config(&img);
        check_busybox_tree(&rootfs);

        let archive = tmp.path().join(format!("oci-archive-{compression:?}.tar"));
        fixtures::write_tar(&archive, &files).unwrap();
        let (img, rootfs) = unpack(&archive, &opts);
        assert_eq!(img.format(), Format::OciArchive);
        check_busybox_tree(&rootfs);
    }
    let save = tmp.path().join("docker-save.tar");
    fixtures::write_tar(
        &save,
        &fixtures::docker_save_files(&fixture, "kiln/busybox:1"),
    )
    .unwrap();
    let (img, rootfs) = unpack(&save, &opts);
    assert_eq!(img.format(), Format::DockerSave);
    check_config(&img);
    check_busybox_tree(&rootfs);
    // Docker's own names pick the image too.
    let by_name = Options {
        reference: Some("docker.io/kiln/busybox:1".into()),
        ..opts.clone()
    };
    assert!(Image::open(&save, &by_name).is_ok());

    let legacy = tmp.path().join("docker-save-legacy.tar");
    fixtures::write_tar(
        &legacy,
        &fixtures::docker_save_legacy_files(&fixture, "kiln/busybox:1"),
    )
    .unwrap();
    let (img, rootfs) = unpack(&legacy, &opts);
    assert_eq!(img.format(), Format::DockerSaveLegacy);
    assert!(
        img.layers()[0].digest.is_none(),
        "legacy layer names are not digests"
    );
    check_config(&img);
    check_busybox_tree(&rootfs);
    let by_tag = Options {
        reference: Some("kiln/busybox:1".into()),
        ..opts.clone()
    };
    assert!(Image::open(&legacy, &by_tag).is_ok());
    let wrong = Options {
        reference: Some("kiln/other".into()),
        ..opts
    };
    let err = Image::open(&legacy, &wrong).unwrap_err().to_string();
    assert!(
        err.contains("no image tagged \"kiln/other\"") && err.contains("kiln/busybox:1"),
        "{err}"
    );
}

#[test]
fn an_index_picks_the_platform_and_lists_them_when_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let amd = FixtureImage::busybox(BUSYBOX);
    let mut arm = FixtureImage::with_layers(
        vec![fixtures::RawTar::new()
            .file("arm", 0o644, b"arm64")
            .finish()],
        Compression::Gzip,
    );
    arm.platform = "linux/arm64/v8".parse().unwrap();
    fixtures::write_dir(
        tmp.path(),
        &fixtures::multi_platform_files(&[&amd, &arm], "multi"),
    )
    .unwrap();
    let opts = options(tmp.path());
    let (_, rootfs) = unpack(tmp.path(), &opts);
    check_busybox_tree(&rootfs);
    let arm_opts = Options {
        platform: "linux/arm64".parse().unwrap(),
        ..opts.clone()
    };
    let (img, rootfs) = unpack(tmp.path(), &arm_opts);
    assert_eq!(img.config().platform.to_string(), "linux/arm64/v8");
    assert!(rootfs.get("arm").is_some());
    let riscv = Options {
        platform: "linux/riscv64".parse().unwrap(),
        ..opts.clone()
    };
    let err = Image::open(tmp.path(), &riscv).unwrap_err();
    assert!(matches!(err, Error::NoPlatform { .. }));
    assert_eq!(
        err.to_string(),
        "the image has no linux/riscv64 variant; it has: linux/amd64, linux/arm64/v8"
    );
    let named = Options {
        reference: Some("nope".into()),
        ..opts
    };
    assert_eq!(
        Image::open(tmp.path(), &named).unwrap_err().to_string(),
        "no image named \"nope\"; the image has: multi"
    );
}

#[test]
fn a_single_image_for_another_platform_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut arm = FixtureImage::busybox(BUSYBOX);
    arm.platform = "linux/arm64".parse().unwrap();
    let save = tmp.path().join("save.tar");
    fixtures::write_tar(&save, &fixtures::docker_save_legacy_files(&arm, "x:1")).unwrap();
    let err = Image::open(&save, &options(tmp.path()))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "the image has no linux/amd64 variant; it has: linux/arm64"
    );
}

#[test]
fn documents_and_blobs_must_match_their_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let fixture = FixtureImage::busybox(BUSYBOX);
    let blobs = fixture.blobs();
    let blob = |d: &kiln_oci::Digest| format!("blobs/sha256/{}", d.hex());
    // Each blob in turn is replaced by other bytes of the same size.
    let targets = [
        (blob(&blobs.manifest.digest), "image manifest"),
        (blob(&blobs.config.digest), "image config"),
        (blob(&blobs.layers[1].digest), "layer 1"),
    ];
    for (i, (victim, what)) in targets.iter().enumerate() {
        let mut files = fixtures::oci_layout_files(&fixture, "latest");
        for (name, data) in &mut files {
            if name == victim {
                let last = data.len() - 1;
                data[last] ^= 1;
            }
        }
        let dir = tmp.path().join(format!("bad{i}"));
        fixtures::write_dir(&dir, &files).unwrap();
        let err = Image::open(&dir, &opts)
            .and_then(|img| img.unpack(&opts))
            .unwrap_err();
        assert!(matches!(err, Error::Mismatch { .. }), "{what}: {err}");
        let msg = err.to_string();
        assert!(
            msg.contains(what) && msg.contains("content has digest sha256:"),
            "{msg}"
        );
    }
    // A missing blob is named.
    let mut files = fixtures::oci_layout_files(&fixture, "latest");
    files.retain(|(n, _)| *n != blob(&blobs.layers[0].digest));
    let dir = tmp.path().join("missing");
    fixtures::write_dir(&dir, &files).unwrap();
    let err = Image::open(&dir, &opts).unwrap().unpack(&opts).unwrap_err();
    assert!(matches!(err, Error::MissingBlob { .. }), "{err}");
}

#[test]
fn a_diff_id_mismatch_names_the_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let fixture = FixtureImage::busybox(BUSYBOX);
    // A legacy save whose config lists a wrong diff_id for layer 1.
    let mut files = fixtures::docker_save_legacy_files(&fixture, "x:1");
    let wrong = kiln_oci::Digest::sha256(b"other");
    let good = kiln_oci::Digest::sha256(&fixture.layers[1]);
    let (config_name, _) = files
        .iter()
        .find(|(n, _)| n.ends_with(".json") && n != "manifest.json")
        .unwrap()
        .clone();
    // Rewrite the config and manifest.json to point at the edited config.
    let config = String::from_utf8(
        files
            .iter()
            .find(|(n, _)| *n == config_name)
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    let config = config.replace(good.as_str(), wrong.as_str()).into_bytes();
    let new_name = format!("{}.json", kiln_oci::Digest::sha256(&config).hex());
    for (name, data) in &mut files {
        if *name == config_name {
            *name = new_name.clone();
            *data = config.clone();
        } else if name == "manifest.json" {
            *data = String::from_utf8(data.clone())
                .unwrap()
                .replace(&config_name, &new_name)
                .into_bytes();
        }
    }
    let save = tmp.path().join("save.tar");
    fixtures::write_tar(&save, &files).unwrap();
    let err = Image::open(&save, &opts)
        .unwrap()
        .unpack(&opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("uncompressed layer 1 (diff_id in the config)")
            && err.contains(wrong.as_str()),
        "{err}"
    );
}

#[test]
fn to_tree_keeps_owners_modes_links_and_spooled_contents() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let dir = tmp.path().join("layout");
    fixtures::write_dir(
        &dir,
        &fixtures::oci_layout_files(&FixtureImage::busybox(BUSYBOX), "latest"),
    )
    .unwrap();
    let (_, rootfs) = unpack(&dir, &opts);
    let conv = rootfs.to_tree().unwrap();
    assert!(conv.xattrs.is_empty());
    let cpio = conv.tree.write_newc(Vec::new(), 0).unwrap();
    let read = kiln_initramfs::read_newc(&cpio).unwrap();
    let get = |n: &str| {
        read.iter()
            .find(|e| e.name == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    assert_eq!(
        (get("bin/busybox").ino, get("bin/busybox").nlink),
        (get("bin/cat").ino, 2)
    );
    assert_eq!(
        get("bin/cat").data,
        BUSYBOX,
        "the data is on the last link in write order"
    );
    assert!(get("bin/busybox").data.is_empty());
    assert_eq!(get("bin/su").mode, 0o104755);
    assert_eq!(get("etc/kiln-marker").data, MARKER.as_bytes());
    assert!(
        read.iter().all(|e| !e.name.contains(".wh.")),
        "no whiteout reaches the output"
    );
}
