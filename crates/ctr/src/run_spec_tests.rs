use super::*;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/opt/app:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n";
const GROUP: &str = "root:x:0:\napp:x:1000:\nstaff:x:50:app\nwheel:x:10:root,app\n";

#[test]
fn names_and_numbers_as_container_engines_read_them() {
    let r = |u: &str| resolve_user(Some(u), Some(PASSWD), Some(GROUP)).unwrap();
    for root in ["", "root", "0", "0:0", "root:root", "root:0"] {
        assert_eq!(r(root), None, "{root:?}");
    }
    assert_eq!(resolve_user(None, None, None).unwrap(), None);
    assert_eq!(r("app"), Some((1000, 1000)));
    assert_eq!(r("1000"), Some((1000, 1000)), "the primary group from passwd");
    assert_eq!(r("1234"), Some((1234, 0)), "no passwd entry: group 0");
    assert_eq!(r("app:staff"), Some((1000, 50)));
    assert_eq!(r("nobody:7"), Some((65534, 7)));
    assert_eq!(r("0:50"), Some((0, 50)));
    assert_eq!(supplementary_groups(1000, Some(PASSWD), Some(GROUP)), [50, 10]);
}

#[test]
fn unknown_names_are_errors_saying_what_to_do() {
    let e = resolve_user(Some("ghost"), Some(PASSWD), Some(GROUP)).unwrap_err().to_string();
    assert!(e.contains("no user \"ghost\" in its /etc/passwd") && e.contains("use a number"), "{e}");
    let e = resolve_user(Some("app:ghosts"), Some(PASSWD), None).unwrap_err().to_string();
    assert!(e.contains("no group \"ghosts\""), "{e}");
    assert!(resolve_user(Some("app"), None, None).is_err(), "a distroless image without passwd needs numbers");
}

#[test]
fn env_is_dockers() {
    let e = env("web", &["PATH=/bin".into(), "A=1".into(), "HOSTNAME".into()], &[("A".into(), "2".into())]);
    assert_eq!(e, ["PATH=/bin", "A=2"]);
    assert_eq!(env("x", &[], &[]), [format!("PATH={DEFAULT_PATH}"), "HOSTNAME=x".into()]);
}

fn run<'a>(entrypoint: &'a [String], image_cmd: &'a [String], cmd: &'a [String], user: Option<&'a str>) -> ImageRun<'a> {
    ImageRun { name: "run-1", entrypoint, image_cmd, cmd, image_env: &[], working_dir: None, user, passwd: Some(PASSWD), group: Some(GROUP) }
}

#[test]
fn the_command_after_the_image_replaces_cmd_and_keeps_the_entrypoint() {
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let (ep, cmd) = (s(&["/entry"]), s(&["default"]));
    assert_eq!(run(&ep, &cmd, &[], None).process().unwrap().args, ["/entry", "default"]);
    assert_eq!(run(&ep, &cmd, &s(&["mine", "x"]), None).process().unwrap().args, ["/entry", "mine", "x"]);
    assert_eq!(run(&[], &cmd, &s(&["sh"]), None).process().unwrap().args, ["sh"]);
    let e = run(&[], &[], &[], None).process().unwrap_err().to_string();
    assert!(e.contains("nothing to run"), "{e}");
    let p = run(&[], &cmd, &[], Some("app")).process().unwrap();
    assert_eq!((p.uid, p.gid, p.additional_gids.clone(), p.cwd.as_str()), (1000, 1000, vec![1000, 50, 10], "/"));
}

#[test]
fn fill_sets_the_process_name_root_cgroup_and_netns() {
    let template = json!({
        "process": { "args": [], "capabilities": { "bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"] } },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "",
        "linux": { "cgroupsPath": "", "namespaces": [{ "type": "pid" }, { "type": "network" }] }
    });
    let p = Process { args: vec!["sh".into()], env: vec!["PATH=/bin".into()], cwd: "/".into(), uid: 0, gid: 0, additional_gids: vec![0] };
    let v = fill(&template, "run-1", &p, true).unwrap();
    assert_eq!(v["process"]["args"], json!(["sh"]));
    assert_eq!(v["process"]["capabilities"]["effective"], json!(["CAP_KILL"]));
    assert_eq!((v["hostname"].as_str(), v["root"]["readonly"].as_bool()), (Some("run-1"), Some(false)));
    assert_eq!(v["linux"]["cgroupsPath"], "/kiln/run-1");
    assert_eq!(v["linux"]["namespaces"], json!([{ "type": "pid" }, { "type": "network", "path": "/run/kiln-ctr/netns/run-1" }]));
    let v = fill(&template, "run-1", &Process { uid: 1000, ..p }, false).unwrap();
    assert_eq!(v["process"]["capabilities"], json!({ "bounding": ["CAP_KILL"] }), "a non-root user keeps only the bounding set");
    assert_eq!(v["linux"]["namespaces"][1], json!({ "type": "network" }));
    assert!(fill(&json!({}), "x", &v_process(), false).is_err());
}

fn v_process() -> Process {
    Process { args: vec!["sh".into()], env: vec![], cwd: "/".into(), uid: 0, gid: 0, additional_gids: vec![0] }
}

#[test]
fn names_are_dns_labels() {
    for ok in ["run-0123456789ab", "a", "web-2"] {
        assert!(valid_name(ok), "{ok}");
    }
    for bad in ["", "-a", "a-", "A", "a_b", "../x", "a/b", &"a".repeat(64)] {
        assert!(!valid_name(bad), "{bad}");
    }
}
