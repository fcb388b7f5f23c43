use super::*;
use crate::ImageSpec;
use kiln_initramfs::Kind;

const MINIMAL: &str = r#"
name = "t"
[kernel]
fragments = ["base"]
[busybox]
fragments = ["kiln", "net"]
"#;

fn parse(extra: &str) -> std::result::Result<ImageSpec, String> {
    ImageSpec::parse("images/t.toml", &format!("{MINIMAL}{extra}")).map_err(|e| e.to_string())
}

fn applets() -> Vec<String> {
    ["bin/sh", "bin/grep", "bin/mv", "sbin/ip", "sbin/udhcpc"].map(String::from).to_vec()
}

#[test]
fn dhcp_runs_a_supervised_client_per_interface_before_the_specs_services() {
    let s = parse("[network]\ndhcp = [\"eth0\", \"eth1\"]\n[[init.services]]\nname = \"web\"\ncommand = [\"httpd\"]\n").unwrap();
    let conf = s.init_config();
    let names: Vec<&str> = conf.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["dhcp-eth0", "dhcp-eth1", "web"]);
    let dhcp = &conf.services[0];
    assert_eq!(dhcp.restart, Restart::Always);
    assert_eq!(dhcp.argv, ["/sbin/udhcpc", "-f", "-i", "eth0", "-s", DHCP_SCRIPT]);
    // What kiln-init reads back at boot is the same.
    let (back, errors) = kiln_init::config::Config::parse(&conf.render());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(back.services, conf.services);
}

#[test]
fn no_network_table_adds_nothing() {
    let s = parse("").unwrap();
    assert_eq!(s.network, NetworkSpec::default());
    assert!(s.init_config().services.is_empty());
    let mut t = Tree::new();
    s.network.add(&mut t, &[], "images/t.toml").unwrap();
    assert!(t.get("etc/resolv.conf").is_none());
}

#[test]
fn bad_values_name_file_line_and_key() {
    for (extra, line, want) in [
        ("[network]\ndhcp = [\"eth0\", \"eth/1\"]\n", Some(8), "network.dhcp: \"eth/1\" is not an interface name"),
        ("[network]\ndhcp = [\"\"]\n", Some(8), "network.dhcp: \"\" is not an interface name"),
        ("[network]\ndhcp = [\"a-very-long-name0\"]\n", Some(8), "is not an interface name"),
        ("[network]\ndhcp = [\"eth0\", \"eth0\"]\n", Some(8), "network.dhcp: \"eth0\" is listed twice"),
        ("[network]\ndhcp = \"eth0\"\n", Some(8), "dhcp"),
        ("[network]\nstatic = [\"eth0\"]\n", Some(8), "unknown field `static`"),
        ("[network]\ndhcp = [\"eth0\"]\n[[init.services]]\nname = \"dhcp-eth0\"\ncommand = [\"x\"]\n", None, "network.dhcp: the service name \"dhcp-eth0\" is taken"),
        ("[network]\ndhcp = [\"eth0\"]\n[rootfs]\noci = \"img\"\n", None, "network.dhcp: needs Kiln's own root"),
    ] {
        let e = parse(extra).unwrap_err();
        assert!(e.starts_with("images/t.toml: "), "{e}");
        assert!(e.contains(want), "want {want:?}:\n{e}");
        if let Some(line) = line {
            assert!(e.contains(&format!("line {line}")), "want line {line}:\n{e}");
        }
    }
}

#[test]
fn the_root_gets_the_script_and_resolv_conf_in_run() {
    let s = parse("[network]\ndhcp = [\"eth0\"]\n").unwrap();
    let mut t = Tree::new();
    s.network.add(&mut t, &applets(), "images/t.toml").unwrap();
    let script = t.get("etc/kiln/udhcpc.script").unwrap();
    assert_eq!(script.mode, 0o755);
    assert!(matches!(&script.kind, Kind::File(Data::Bytes(b)) if b.starts_with(b"#!/bin/sh\n")));
    assert!(matches!(&t.get("etc/resolv.conf").unwrap().kind, Kind::Symlink(target) if target == "/run/resolv.conf"));
}

#[test]
fn a_busybox_without_the_net_applets_is_an_error_naming_the_fragment() {
    let s = parse("[network]\ndhcp = [\"eth0\"]\n").unwrap();
    let e = s.network.add(&mut Tree::new(), &applets()[..3], "images/t.toml").unwrap_err().to_string();
    assert_eq!(e, "images/t.toml: network.dhcp: BusyBox has no /sbin/udhcpc; add \"net\" to busybox.fragments");
}

#[test]
fn the_script_writes_only_to_run() {
    let text = script();
    assert!(!text.contains("@RESOLV@"));
    // Every redirection and the final move go to /run (the root may be read-only).
    for line in text.lines().filter(|l| l.contains('>')) {
        assert!(line.contains("> \"$tmp\" && mv -f \"$tmp\" /run/resolv.conf"), "{line}");
    }
    assert!(text.contains("tmp=/run/resolv.conf.$interface"));
}

/// The script under a real shell: `ip` is a stub that logs its arguments; the lease
/// is what QEMU's user-mode network gives.
#[test]
fn the_script_applies_a_lease() {
    let dir = tempfile::tempdir().unwrap();
    let (bin, run) = (dir.path().join("bin"), dir.path().join("run"));
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&run).unwrap();
    let log = dir.path().join("ip.log");
    // `show` answers with the address the bound lease added.
    let stub = format!("#!/bin/sh\necho \"ip $*\" >> {}\ncase \"$*\" in *show*) echo '2: eth0 inet 10.0.2.15/24 brd 10.0.2.255';; esac\n", log.display());
    std::fs::write(bin.join("ip"), stub).unwrap();
    std::fs::set_permissions(bin.join("ip"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let resolv = run.join("resolv.conf");
    let text = SCRIPT.replace("@RESOLV@", &resolv.display().to_string()).replace("/proc/uptime", "/dev/null");
    let script = dir.path().join("script");
    std::fs::write(&script, text).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let run_event = |event: &str| {
        let out = std::process::Command::new("sh")
            .arg(&script)
            .arg(event)
            .env("PATH", &path)
            .env("interface", "eth0")
            .env("ip", "10.0.2.15")
            .env("mask", "24")
            .env("broadcast", "10.0.2.255")
            .env("router", "10.0.2.2 10.0.2.9")
            .env("dns", "10.0.2.3 10.0.2.4")
            .env("domain", "example")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    run_event("deconfig");
    let said = run_event("bound");
    assert_eq!(said.trim(), "bound: eth0 10.0.2.15/24 router 10.0.2.2 dns 10.0.2.3 10.0.2.4 (uptime  s)");
    let ip = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        ip.lines().collect::<Vec<_>>(),
        [
            "ip -4 addr flush dev eth0",
            "ip link set dev eth0 up",
            "ip -4 -o addr show dev eth0",
            "ip -4 addr flush dev eth0",
            "ip addr add 10.0.2.15/24 broadcast 10.0.2.255 dev eth0",
            "ip route replace default via 10.0.2.2 dev eth0",
        ]
    );
    assert_eq!(std::fs::read_to_string(&resolv).unwrap(), "search example\nnameserver 10.0.2.3\nnameserver 10.0.2.4\n");
    assert_eq!(std::fs::read_dir(&run).unwrap().count(), 1, "the temporary file is moved into place");
    // A renewal of the same address leaves it alone, and refreshes the route.
    std::fs::remove_file(&log).unwrap();
    run_event("renew");
    let ip = std::fs::read_to_string(&log).unwrap();
    assert_eq!(ip.lines().collect::<Vec<_>>(), ["ip -4 -o addr show dev eth0", "ip route replace default via 10.0.2.2 dev eth0"]);
}
