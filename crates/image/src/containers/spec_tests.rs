use super::*;
use crate::ImageSpec;

const MINIMAL: &str = "name = \"t\"\n[kernel]\nfragments = [\"base\"]\n[busybox]\nfragments = [\"kiln\"]\n";

fn parse(containers: &str) -> crate::Result<ImageSpec> {
    ImageSpec::parse("images/t.toml", &format!("{MINIMAL}{containers}"))
}

fn error(containers: &str) -> String {
    parse(containers).unwrap_err().to_string()
}

/// The line of `needle` in the full spec text.
fn line_of(containers: &str, needle: &str) -> usize {
    let text = format!("{MINIMAL}{containers}");
    text[..text.find(needle).unwrap()].matches('\n').count() + 1
}

const FULL: &str = r#"
[[containers]]
name = "web"
image = "web.oci"
platform = "linux/arm64/v8"
entrypoint = ["/bin/httpd"]
command = ["-f", "-p", "80"]
env = { ROOT = "/www", A = "1" }
workdir = "/www"
user = "1000:1000"
ports = ["8080:80", "5353:53/udp"]
volumes = [
  { type = "tmpfs", target = "/www", size = "1m", mode = 0o755 },
  { type = "bind", source = "/var/lib/web", target = "/data", readonly = true },
]
restart = "on-failure"
stop_timeout = 3
memory = "16m"
pids = 64
cpus = 0.5
network = true

[[containers]]
name = "tick"
image = "kiln:busybox"
"#;

#[test]
fn every_key_and_the_defaults() {
    let s = parse(FULL).unwrap();
    assert_eq!(s.containers.len(), 2);
    let w = &s.containers[0];
    assert_eq!(w.name, "web");
    assert_eq!(w.image, ImageRef::Path("web.oci".into()));
    assert_eq!(w.platform.to_string(), "linux/arm64/v8");
    assert_eq!(w.entrypoint.as_deref(), Some(&["/bin/httpd".to_string()][..]));
    assert_eq!(w.command.as_ref().unwrap().len(), 3);
    assert_eq!(w.env, [("ROOT".to_string(), "/www".to_string()), ("A".into(), "1".into())], "in the order written");
    assert_eq!(w.workdir.as_deref(), Some("/www"));
    assert_eq!(w.user, Some(User { uid: 1000, gid: Some(1000) }));
    assert_eq!(w.ports, [parse_port("8080:80").unwrap(), parse_port("5353:53/udp").unwrap()]);
    assert_eq!(w.ports[1].protocol, "udp");
    assert_eq!(
        w.volumes,
        [
            Volume::Tmpfs { target: "/www".into(), size: Some(1 << 20), mode: Some(0o755) },
            Volume::Bind { source: "/var/lib/web".into(), target: "/data".into(), readonly: true },
        ]
    );
    assert_eq!((w.restart, w.stop_timeout, w.memory, w.pids, w.cpus, w.network), (Restart::OnFailure, 3, Some(16 << 20), Some(64), Some(0.5), true));
    let t = &s.containers[1];
    assert_eq!(t.image, ImageRef::Builtin("busybox".into()));
    assert_eq!(t.image.to_string(), "kiln:busybox");
    let r: ImageRef = "docker://127.0.0.1:5000/kiln/app:1".parse().unwrap();
    assert!(matches!(&r, ImageRef::Registry(x) if x.tag.as_deref() == Some("1")) && r.path().is_err());
    assert!("docker://UPPER/x".parse::<ImageRef>().unwrap_err().contains("lowercase"));
    assert_eq!(t.platform, kiln_oci::Platform::default());
    assert_eq!((t.entrypoint.clone(), t.command.clone(), t.env.len(), t.workdir.clone(), t.user), (None, None, 0, None, None));
    assert_eq!((t.ports.len(), t.volumes.len(), t.restart, t.stop_timeout), (0, 0, Restart::No, 10));
    assert_eq!((t.memory, t.pids, t.cpus, t.network), (None, None, None, true));
    assert!(parse("").unwrap().containers.is_empty(), "no containers by default");
}

#[test]
fn unknown_keys_name_file_line_and_key() {
    let text = "[[containers]]\nname = \"a\"\nimage = \"kiln:busybox\"\nrestrat = \"always\"\n";
    let e = error(text);
    assert!(e.starts_with("images/t.toml: "), "{e}");
    assert!(e.contains(&format!("line {}", line_of(text, "restrat"))) && e.contains("restrat"), "{e}");
    let e = error("[[containers]]\nname = \"a\"\nimage = \"kiln:busybox\"\nvolumes = [{ type = \"tmpfs\", target = \"/t\", sise = \"1m\" }]\n");
    assert!(e.contains("sise"), "{e}");
}

#[test]
fn bad_values_are_errors_with_their_line() {
    let cases: &[(&str, &str, &str)] = &[
        ("name = \"Web\"", "name", "container name \"Web\""),
        ("name = \"-web\"", "name", "starting and ending"),
        ("image = \"kiln:alpine\"", "image", "unknown built-in image \"kiln:alpine\"; built-in: kiln:busybox"),
        ("image = \"\"", "image", "empty image"),
        ("ports = [\"8080\"]", "ports", "port \"8080\": two ports are needed"),
        ("ports = [\"8080:80/sctp\"]", "ports", "tcp or udp"),
        ("ports = [\"0:80\"]", "ports", "\"0\" is not a port"),
        ("ports = [\"70000:80\"]", "ports", "\"70000\" is not a port"),
        ("ports = [\"a:80\"]", "ports", "\"a\" is not a port"),
        ("memory = \"16q\"", "memory", "size \"16q\""),
        ("memory = \"lots\"", "memory", "size \"lots\""),
        ("memory = \"-1m\"", "memory", "size \"-1m\""),
        ("memory = 0", "memory", "0 bytes"),
        ("user = \"nginx\"", "user", "numbers"),
        ("user = \"1000:\"", "user", "numbers"),
        ("workdir = \"www\"", "workdir", "absolute path"),
        ("restart = \"sometimes\"", "restart", "sometimes"),
        ("pids = 0", "pids", "at least 1"),
        ("cpus = 0.001", "cpus", "between 0.01"),
        ("env = { A = 1 }", "env", "string"),
        ("platform = \"plan9\"", "platform", "plan9"),
        ("volumes = [{ type = \"bind\", target = \"/data\" }]", "volumes", "source"),
        ("volumes = [{ type = \"nfs\", target = \"/data\" }]", "volumes", "nfs"),
        ("volumes = [{ type = \"tmpfs\", target = \"data\" }]", "volumes", "absolute path"),
        ("volumes = [{ type = \"bind\", source = \"/a/../etc\", target = \"/data\" }]", "volumes", "\"..\""),
        ("volumes = [{ type = \"tmpfs\", target = \"/t\", mode = 0o17777 }]", "volumes", "at most 0o7777"),
    ];
    for (line, key, want) in cases {
        let mut fields = vec!["name = \"c\"", "image = \"kiln:busybox\""];
        fields.retain(|f| !f.starts_with(&line[..line.find(' ').unwrap()]));
        let text = format!("[[containers]]\n{}\n{line}\n", fields.join("\n"));
        let e = error(&text);
        assert!(e.starts_with("images/t.toml: "), "{line}: {e}");
        assert!(e.contains(want), "{line}: want {want:?} in {e}");
        assert!(e.contains(&format!("line {}", line_of(&text, line))), "{line}: {e}");
        assert!(e.contains(key), "{line}: want the key {key} in {e}");
    }
}

#[test]
fn checks_across_containers_name_the_line() {
    let two = |a: &str, b: &str| format!("[[containers]]\nname = \"a\"\nimage = \"kiln:busybox\"\n{a}\n\n[[containers]]\nimage = \"kiln:busybox\"\n{b}\n");
    let text = two("", "name = \"a\"");
    let e = error(&text);
    let full = format!("{MINIMAL}{text}");
    let second = full[..full.rfind("name = \"a\"").unwrap()].matches('\n').count() + 1;
    let first = line_of(&text, "name = \"a\"");
    assert!(e.contains(&format!("line {second}, key `containers.name`: container \"a\": the name is taken by the container on line {first}")), "{e}");
    let text = two("ports = [\"8080:80\"]", "name = \"b\"\nports = [\"8080:8080\"]");
    let e = error(&text);
    assert!(e.contains("key `containers.ports`: container \"b\": host port 8080/tcp is already published by \"a\""), "{e}");
    assert!(e.contains(&format!("line {}", line_of(&text, "name = \"b\""))), "{e}");
    // Same number, other protocol: fine.
    parse(&two("ports = [\"53:53\"]", "name = \"b\"\nports = [\"53:53/udp\"]")).unwrap();
    let e = error(&two("memory = \"1m\"", "name = \"b\""));
    assert!(e.contains("key `containers.memory`") && e.contains("the least is 6m"), "{e}");
    let e = error(&two("network = false\nports = [\"80:80\"]", "name = \"b\""));
    assert!(e.contains("network = true"), "{e}");
    let e = error(&two("volumes = [{ type = \"tmpfs\", target = \"/t\" }, { type = \"tmpfs\", target = \"/t/\" }]", "name = \"b\""));
    assert!(e.contains("two volumes on /t"), "{e}");
    let e = error(&two("volumes = [{ type = \"tmpfs\", target = \"/\" }]", "name = \"b\""));
    assert!(e.contains("mounted on /"), "{e}");
}

#[test]
fn sizes_as_docker_writes_them() {
    for (s, n) in [("4096", 4096), ("1k", 1024), ("16m", 16 << 20), ("16M", 16 << 20), ("1g", 1 << 30), ("2GiB", 2 << 30), ("512kb", 512 << 10), ("1t", 1 << 40), ("8 m", 8 << 20)] {
        assert_eq!(parse_bytes(s), Ok(n), "{s}");
    }
    for bad in ["", "m", "1.5g", "1x", "1mm", "-1", "99999999999t"] {
        assert!(parse_bytes(bad).is_err(), "{bad}");
    }
    let s = parse("[[containers]]\nname = \"a\"\nimage = \"kiln:busybox\"\nmemory = 67108864\n").unwrap();
    assert_eq!(s.containers[0].memory, Some(64 << 20), "a number is bytes");
}

#[test]
fn names_are_dns_labels() {
    for ok in ["a", "web", "web-1", "0day", &"a".repeat(63)] {
        assert!(valid_container_name(ok), "{ok}");
    }
    for bad in ["", "Web", "web_1", "web.", "-a", "a-", "a/b", "..", &"a".repeat(64)] {
        assert!(!valid_container_name(bad), "{bad}");
    }
}

#[test]
fn load_makes_image_paths_absolute_and_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for d in ["images", "kernel", "busybox"] {
        std::fs::create_dir(root.join(d)).unwrap();
    }
    std::fs::write(root.join("kernel/base.config"), "").unwrap();
    std::fs::write(root.join("busybox/kiln.config"), "").unwrap();
    let spec = format!("{MINIMAL}[[containers]]\nname = \"web\"\nimage = \"web.oci\"\n[[containers]]\nname = \"bb\"\nimage = \"kiln:busybox\"\n");
    std::fs::write(root.join("images/t.toml"), &spec).unwrap();
    let e = ImageSpec::load(root, "t").unwrap_err().to_string();
    assert!(e.contains("containers.image of \"web\": no file or directory") && e.contains("web.oci"), "{e}");
    std::fs::create_dir(root.join("images/web.oci")).unwrap();
    let s = ImageSpec::load(root, "t").unwrap();
    assert_eq!(s.containers[0].image, ImageRef::Path(root.join("images/web.oci")));
    assert_eq!(s.containers[1].image, ImageRef::Builtin("busybox".into()), "built-ins are not looked for");
}
