//! Reference check: for benign fixture images, the tree Kiln builds equals
//! what `umoci raw unpack --rootless` (Debian's umoci) makes of the same OCI
//! layout: paths, types, modes, link targets, contents and hard links.
//! Skips without umoci outside CI (`cargo xtask deps` installs it).

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use kiln_oci::fixtures::{self, FixtureImage};
use kiln_oci::{Compression, Image, Kind, Options};

/// (type, permission bits, link target or contents, hard-link group).
type View = BTreeMap<String, (char, u32, Vec<u8>, Option<String>)>;

fn umoci_view(root: &Path) -> View {
    let mut view = View::new();
    let mut first_name: BTreeMap<u64, String> = BTreeMap::new();
    let mut todo = vec![root.to_owned()];
    let mut all = Vec::new();
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                todo.push(path.clone());
            }
            all.push((
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                path,
                meta,
            ));
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    for (rel, path, meta) in all {
        let ft = meta.file_type();
        let (t, data) = if ft.is_dir() {
            ('d', vec![])
        } else if ft.is_symlink() {
            (
                'l',
                std::fs::read_link(&path)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
                    .into_bytes(),
            )
        } else if ft.is_file() {
            ('f', std::fs::read(&path).unwrap())
        } else if ft.is_fifo() {
            ('p', vec![])
        } else {
            ('?', vec![])
        };
        let link = (t == 'f' && meta.nlink() > 1)
            .then(|| first_name.entry(meta.ino()).or_insert(rel.clone()).clone());
        let mode = if t == 'l' {
            0o777
        } else {
            meta.mode() & 0o7777
        };
        view.insert(rel, (t, mode, data, link));
    }
    view
}

fn kiln_view(layout: &Path, spool: &Path) -> View {
    let options = Options {
        spool_dir: spool.to_owned(),
        inline_max: 8,
        ..Options::default()
    };
    let rootfs = Image::open(layout, &options)
        .unwrap()
        .unpack(&options)
        .unwrap();
    let entries = rootfs.entries();
    let mut count: BTreeMap<usize, usize> = BTreeMap::new();
    for e in &entries {
        if let (Some(ino), Kind::File(_)) = (e.inode, &e.kind) {
            *count.entry(ino).or_default() += 1;
        }
    }
    let mut sorted = entries.clone();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut first_name: BTreeMap<usize, String> = BTreeMap::new();
    let mut view = View::new();
    for e in sorted {
        let (t, data) = match &e.kind {
            Kind::Dir => ('d', vec![]),
            Kind::File(c) => ('f', rootfs.read(c).unwrap()),
            Kind::Symlink(target) => ('l', target.clone().into_bytes()),
            Kind::Fifo => ('p', vec![]),
            _ => ('?', vec![]),
        };
        let link = e
            .inode
            .filter(|i| t == 'f' && count[i] > 1)
            .map(|i| first_name.entry(i).or_insert(e.path.clone()).clone());
        view.insert(e.path.clone(), (t, e.meta.mode, data, link));
    }
    view
}

fn pretty(v: &View) -> String {
    v.iter()
        .map(|(p, (t, m, d, l))| {
            format!(
                "{p} {t} {m:o} {:?} {l:?}\n",
                String::from_utf8_lossy(&d[..d.len().min(40)])
            )
        })
        .collect()
}

#[test]
fn kiln_unpacks_like_umoci() {
    if !kiln_util::host::require(&["umoci"], &[], "cargo xtask deps: umoci") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let busybox: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let mut fifo = fixtures::RawTar::new();
    fifo.dir("run", 0o755)
        .entry("run/initctl", fixtures::kind::FIFO, 0o600, b"", "")
        .symlink("var/run", "../run");
    let mut images = vec![
        ("busybox-gzip", FixtureImage::busybox(&busybox)),
        // Debian's umoci 0.4.7 reads no zstd layers: plain and gzip only.
        (
            "busybox-plain",
            FixtureImage {
                compression: Compression::None,
                ..FixtureImage::busybox(&busybox)
            },
        ),
    ];
    let mut three = FixtureImage::busybox(&busybox);
    three.layers.push(fifo.finish());
    images.push(("three-layers", three));
    for (name, image) in images {
        let layout = tmp.path().join(name);
        fixtures::write_dir(&layout, &fixtures::oci_layout_files(&image, "latest")).unwrap();
        let out = tmp.path().join(format!("{name}-umoci"));
        let status = Command::new("umoci")
            .args(["raw", "unpack", "--rootless", "--image"])
            .arg(format!("{}:latest", layout.display()))
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success(), "umoci raw unpack failed for {name}");
        let theirs = umoci_view(&out);
        let ours = kiln_view(&layout, tmp.path());
        assert!(ours.contains_key("etc/kiln-marker"));
        if ours != theirs {
            panic!(
                "{name}: kiln and umoci differ\n--- kiln\n{}--- umoci\n{}",
                pretty(&ours),
                pretty(&theirs)
            );
        }
    }
}
