//! kiln-registry against a real registry: Debian's docker-registry 2.8 on a free port
//! of 127.0.0.1 with temporary storage, images pushed with skopeo. These tests fail
//! (never skip) when docker-registry or skopeo is missing.

use kiln_oci::fixtures::{self, FixtureImage, RawTar};
use kiln_oci::{Compression, Digest, Kind, Platform};
use kiln_registry::testreg::TestRegistry;
use kiln_registry::{pin, pull, Client, Credentials, Error, Lock, Login, Options, Pin, Progress, Reference, Store};
use std::path::Path;

/// An image whose one layer holds `/answer` with `text`, for `platform`.
fn image(text: &str, platform: &str) -> FixtureImage {
    let mut layer = RawTar::new();
    layer.file("answer", 0o644, text.as_bytes());
    // Some bulk, so a layer is worth resuming.
    layer.file("bulk", 0o644, &(0..200_000u32).map(|i| (i * 7 % 251) as u8).collect::<Vec<_>>());
    let mut img = FixtureImage::with_layers(vec![layer.finish()], Compression::Gzip);
    img.platform = platform.parse().unwrap();
    img
}

/// Pushes `img` as NAME:TAG (through an OCI layout directory).
fn push(reg: &TestRegistry, img: &FixtureImage, name_tag: &str) {
    let dir = tempfile::tempdir().unwrap();
    fixtures::write_dir(dir.path(), &fixtures::oci_layout_files(img, "t")).unwrap();
    reg.push(&format!("oci:{}:t", dir.path().display()), name_tag, false).unwrap();
}

/// `/answer` of the image in an OCI layout, read through kiln-oci's safe reader.
fn answer(layout: &Path, platform: &str) -> String {
    let options = kiln_oci::Options { platform: platform.parse().unwrap(), spool_dir: std::env::temp_dir(), ..Default::default() };
    let image = kiln_oci::Image::open(layout, &options).unwrap();
    let rootfs = image.unpack(&options).unwrap();
    match rootfs.get("answer").unwrap().kind {
        Kind::File(c) => String::from_utf8(rootfs.read(&c).unwrap()).unwrap(),
        k => panic!("answer is {k:?}"),
    }
}

fn client() -> Client {
    Client::new(Options::default())
}

fn amd64() -> Platform {
    Platform::default()
}

#[test]
fn pull_by_tag_then_by_digest_then_from_the_cache_alone() {
    let reg = TestRegistry::start(None).unwrap();
    push(&reg, &image("first", "linux/amd64"), "kiln/app:1");
    let cache = tempfile::tempdir().unwrap();
    let store = Store::new(cache.path());
    let r = Reference::parse(&reg.reference("kiln/app:1")).unwrap();
    let c = client();
    let digest = c.resolve(&r).unwrap();
    let mut events = Vec::new();
    let p = pull(&c, &store, &r.pinned(&digest), &amd64(), &mut |e| events.push(format!("{e:?}"))).unwrap();
    assert_eq!(answer(&p.layout, "linux/amd64"), "first");
    assert_eq!((p.digest.clone(), p.cached, p.fetched), (digest.clone(), 0, 3), "manifest, config, layer");
    assert!(events.iter().any(|e| e.starts_with("Start")) && events.last().unwrap() == "Done", "{events:?}");
    // By digest, as a user writes it: everything from the cache.
    let by_digest = Reference::parse(&reg.reference(&format!("kiln/app@{}", digest.as_str()))).unwrap();
    let again = pull(&c, &store, &by_digest, &amd64(), &mut |_| {}).unwrap();
    assert_eq!((again.cached, again.fetched, again.fetched_bytes), (3, 0, 0));
    // The registry gone: a cached digest still pulls; resolving the tag says why it cannot.
    let addr = reg.addr;
    drop(reg);
    let offline = pull(&c, &store, &by_digest, &amd64(), &mut |_| {}).unwrap();
    assert_eq!(answer(&offline.layout, "linux/amd64"), "first");
    let e = c.resolve(&r).unwrap_err();
    assert!(e.is_unreachable() && e.to_string().contains(&addr.to_string()), "{e}");
}

#[test]
fn unknown_names_and_tags_say_not_found() {
    let reg = TestRegistry::start(None).unwrap();
    push(&reg, &image("x", "linux/amd64"), "kiln/app:1");
    for name in ["kiln/app:2", "kiln/nosuch:1"] {
        let r = Reference::parse(&reg.reference(name)).unwrap();
        let e = client().resolve(&r).unwrap_err().to_string();
        assert!(e.contains("404") && e.contains("not found"), "{name}: {e}");
    }
}

#[test]
fn a_multi_platform_index_gives_the_platform_asked_for() {
    let reg = TestRegistry::start(None).unwrap();
    let (amd, arm) = (image("amd64 here", "linux/amd64"), image("arm64 here", "linux/arm64/v8"));
    let dir = tempfile::tempdir().unwrap();
    fixtures::write_dir(dir.path(), &fixtures::multi_platform_files(&[&amd, &arm], "multi")).unwrap();
    reg.push(&format!("oci:{}:multi", dir.path().display()), "kiln/multi:1", true).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let store = Store::new(cache.path());
    let c = client();
    let r = Reference::parse(&reg.reference("kiln/multi:1")).unwrap();
    let r = r.pinned(&c.resolve(&r).unwrap());
    let p = pull(&c, &store, &r, &"linux/arm64".parse().unwrap(), &mut |_| {}).unwrap();
    assert_eq!(answer(&p.layout, "linux/arm64"), "arm64 here");
    assert_eq!(p.platform.to_string(), "linux/arm64/v8");
    let p = pull(&c, &store, &r, &amd64(), &mut |_| {}).unwrap();
    assert_eq!(answer(&p.layout, "linux/amd64"), "amd64 here");
    let e = pull(&c, &store, &r, &"linux/s390x".parse().unwrap(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, Error::Platform { .. }) && e.to_string().contains("linux/amd64, linux/arm64/v8"), "{e}");
}

#[test]
fn basic_auth_asks_refuses_and_accepts_without_showing_the_password() {
    let reg = TestRegistry::start(Some(("kiln", "right-pw"))).unwrap();
    push(&reg, &image("secret", "linux/amd64"), "private/app:1");
    let r = Reference::parse(&reg.reference("private/app:1")).unwrap();
    let e = client().resolve(&r).unwrap_err();
    assert!(e.to_string().contains("asks for a login") && e.to_string().contains("KILN_REGISTRY_AUTH"), "{e}");
    let with = |pw: &str| {
        let mut creds = Credentials::default();
        creds.insert(&r.host, Login::new("kiln", pw), "the test");
        Client::new(Options { credentials: creds, ..Options::default() })
    };
    let e = with("wrong-pw").resolve(&r).unwrap_err();
    let shown = e.to_string();
    assert!(shown.contains("\"kiln\" (from the test) was refused") && !shown.contains("wrong-pw"), "{shown}");
    let c = with("right-pw");
    let cache = tempfile::tempdir().unwrap();
    let p = pull(&c, &Store::new(cache.path()), &r.pinned(&c.resolve(&r).unwrap()), &amd64(), &mut |_| {}).unwrap();
    assert_eq!(answer(&p.layout, "linux/amd64"), "secret");
}

#[test]
fn altered_blob_bytes_are_refused_and_nothing_is_cached() {
    let reg = TestRegistry::start(None).unwrap();
    let img = image("original", "linux/amd64");
    push(&reg, &img, "kiln/app:1");
    let layer = img.blobs().layers[0].digest.clone();
    let data = reg.blob_data(&layer);
    let mut bytes = std::fs::read(&data).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let store = Store::new(cache.path());
    let c = client();
    let r = Reference::parse(&reg.reference("kiln/app:1")).unwrap();
    let e = pull(&c, &store, &r.pinned(&c.resolve(&r).unwrap()), &amd64(), &mut |_| {}).unwrap_err();
    let shown = e.to_string();
    assert!(matches!(e, Error::Digest { .. }) && shown.contains(layer.as_str()) && shown.contains("nothing cached"), "{shown}");
    assert!(!store.has(&layer) && !store.partial_path(&layer).exists());
}

#[test]
fn an_interrupted_download_resumes_where_it_stopped() {
    let reg = TestRegistry::start(None).unwrap();
    let img = image("resumed", "linux/amd64");
    push(&reg, &img, "kiln/app:1");
    let layer = &img.blobs().layers[0];
    let cache = tempfile::tempdir().unwrap();
    let store = Store::new(cache.path());
    // What an interrupted download leaves: the first half of the layer.
    let half = layer.data.len() / 2;
    std::fs::create_dir_all(store.partial_path(&layer.digest).parent().unwrap()).unwrap();
    std::fs::write(store.partial_path(&layer.digest), &layer.data[..half]).unwrap();
    let c = client();
    let r = Reference::parse(&reg.reference("kiln/app:1")).unwrap();
    let mut resumed = None;
    let p = pull(&c, &store, &r.pinned(&c.resolve(&r).unwrap()), &amd64(), &mut |e| {
        if let Progress::Start { resumed: n, .. } = e {
            resumed = Some(n);
        }
    })
    .unwrap();
    assert_eq!(resumed, Some(half as u64));
    assert_eq!(std::fs::read(store.blob_path(&layer.digest)).unwrap(), layer.data);
    assert_eq!(answer(&p.layout, "linux/amd64"), "resumed");
}

#[test]
fn an_unreachable_registry_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let r = Reference::parse(&format!("docker://127.0.0.1:{port}/kiln/app:1")).unwrap();
    let e = client().resolve(&r).unwrap_err();
    assert!(e.is_unreachable() && e.to_string().starts_with(&format!("cannot reach the registry 127.0.0.1:{port}")), "{e}");
}

#[test]
fn a_moved_tag_is_reported_against_the_lock_file_and_not_followed() {
    let reg = TestRegistry::start(None).unwrap();
    push(&reg, &image("v1", "linux/amd64"), "kiln/app:stable");
    let dir = tempfile::tempdir().unwrap();
    let lock_path = dir.path().join("app.lock");
    let r = Reference::parse(&reg.reference("kiln/app:stable")).unwrap();
    let c = client();
    let mut lock = Lock::load(&lock_path).unwrap();
    let (first, how) = pin(&c, &mut lock, &r, false, true).unwrap();
    assert_eq!(how, Pin::Added);
    lock.save().unwrap();
    push(&reg, &image("v2", "linux/amd64"), "kiln/app:stable");
    let mut lock = Lock::load(&lock_path).unwrap();
    let (digest, how) = pin(&c, &mut lock, &r, false, true).unwrap();
    let Pin::Moved { now } = &how else { panic!("{how:?}") };
    assert_eq!(digest, first, "the locked digest is kept");
    let report = how.report(&r, &digest, &lock).unwrap();
    assert!(report.contains("moved") && report.contains(now.as_str()) && report.contains("--update"), "{report}");
    let cache = tempfile::tempdir().unwrap();
    let store = Store::new(cache.path());
    let p = pull(&c, &store, &r.pinned(&digest), &amd64(), &mut |_| {}).unwrap();
    assert_eq!(answer(&p.layout, "linux/amd64"), "v1");
    // --update follows it and says so.
    let (updated, how) = pin(&c, &mut lock, &r, true, true).unwrap();
    assert_eq!((&updated, how), (now, Pin::Updated { old: first }));
    assert!(lock.save().unwrap());
    assert!(std::fs::read_to_string(&lock_path).unwrap().contains(now.as_str()));
    // A digest in the reference needs no lock and no registry.
    let pinned = Reference::parse(&reg.reference(&format!("kiln/app@{}", Digest::sha256(b"x").as_str()))).unwrap();
    drop(reg);
    assert_eq!(pin(&c, &mut lock, &pinned, false, true).unwrap().1, Pin::Given);
    // Offline: the locked digest, with a note.
    let (d, how) = pin(&c, &mut lock, &r, false, true).unwrap();
    assert!(d == *now && matches!(how, Pin::Unchecked { .. }), "{how:?}");
}
