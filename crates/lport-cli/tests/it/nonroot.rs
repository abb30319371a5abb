//! Without root: no failure, every visible socket listed, hidden owners explained, and one
//! line on stderr that says what root would add.

use crate::support::{
    NetnsGuard, NobodyBin, Sockets, at, have, is_root, json_of, on_port, owner_pids, skip_unless,
    stderr,
};

#[test]
fn as_nobody_roots_sockets_are_listed_with_a_note_and_own_sockets_with_owners() {
    if skip_unless(
        is_root() && have("setpriv"),
        "needs root (to switch to user nobody) and setpriv",
    ) {
        return;
    }
    let root_owned = Sockets::open(&["listen@127.0.0.1"]);
    let nobody_owned = Sockets::open_via(
        &[
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--",
        ],
        &["listen@127.0.0.1"],
    );
    let nobody = NobodyBin::new("own");
    let out = nobody.run(&["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json_of(&out);
    let hidden = &at(&doc, "127.0.0.1", root_owned.port(0))[0];
    assert!(hidden["owners"].as_array().expect("owners").is_empty());
    let note = hidden["owner_note"]
        .as_str()
        .expect("a note explains the missing owner");
    assert!(
        note.contains("needs root") && note.contains("root"),
        "{note}"
    );
    let mine = &at(&doc, "127.0.0.1", nobody_owned.port(0))[0];
    assert_eq!(owner_pids(mine), vec![nobody_owned.pid]);
    let err = stderr(&out);
    assert!(err.contains("run as root to see which"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.contains("run as root")).count(),
        1,
        "{err}"
    );
    // The table says it too, without panicking on anything it could not read.
    let out = nobody.run(&[&root_owned.port(0).to_string()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("hidden: needs root"));
}

#[test]
fn as_nobody_another_namespace_is_still_listed() {
    if skip_unless(
        is_root() && have("setpriv") && have("ip"),
        "needs root (for a namespace and user nobody), setpriv and iproute2",
    ) {
        return;
    }
    let ns = NetnsGuard::new();
    let s = Sockets::open_via(&["ip", "netns", "exec", &ns.name], &["listen@127.0.0.1"]);
    let out = NobodyBin::new("netns").run(&["--json"]);
    let doc = json_of(&out);
    let found: Vec<_> = on_port(&doc, s.port(0))
        .into_iter()
        .filter(|x| x["exposure"] == "other-netns")
        .collect();
    // Another test's namespace may use the same port number; every match must say why its
    // owner is hidden.
    assert!(!found.is_empty(), "{doc}");
    for f in &found {
        assert!(
            f["owner_note"]
                .as_str()
                .expect("note")
                .contains("needs root")
        );
    }
    assert!(
        doc["notes"]
            .as_array()
            .expect("notes")
            .iter()
            .any(|n| n.as_str().is_some_and(|n| n.contains("/proc/<pid>/net"))),
        "{doc}"
    );
}

#[test]
fn a_hidden_owner_is_named_by_its_cgroup_unit() {
    let root = crate::support::cgroup2_root();
    if skip_unless(
        is_root() && have("setpriv") && root.is_some(),
        "needs root (to make a cgroup and switch to nobody), setpriv and a cgroup v2 mount",
    ) {
        return;
    }
    let cg = crate::support::CgroupGuard::new(&root.expect("cgroup2"));
    let arg = format!("--cgroup={}", cg.path.display());
    let s = Sockets::open(&[&arg, "listen@127.0.0.1"]);
    // As root: the process's unit comes from /proc/<pid>/cgroup.
    let doc = crate::support::lport_json(&["--pid", &s.pid.to_string()]);
    assert_eq!(doc["processes"][0]["unit"], cg.unit.as_str(), "{doc}");
    // As nobody: the owner is hidden, but the socket's cgroup id still names the unit.
    let out = NobodyBin::new("cgroup").run(&["--json"]);
    let doc = json_of(&out);
    let sock = &at(&doc, "127.0.0.1", s.port(0))[0];
    let note = sock["owner_note"].as_str().expect("note");
    assert!(
        note.contains(&format!("systemd unit {}", cg.unit)),
        "{note}"
    );
    drop(s);
}

#[test]
fn a_privileged_port_for_a_normal_user() {
    if skip_unless(
        is_root() && have("setpriv"),
        "needs root (to switch to user nobody) and setpriv",
    ) {
        return;
    }
    let out = NobodyBin::new("priv").run(&["why", "--listen", "127.0.0.1:80", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert!(v["causes"].to_string().contains("privileged-port"), "{v}");
}
