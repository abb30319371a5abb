//! Other network namespaces: a listener inside a namespace the test creates is listed with
//! its pid and `other-netns`, by root (setns + netlink) and by nobody (/proc/<pid>/net).

use crate::support::{
    NetnsGuard, Sockets, have, is_root, lport_json, on_port, owner_pids, skip_unless,
};

#[test]
fn a_listener_in_another_namespace_is_found_with_its_pid() {
    if skip_unless(
        is_root() && have("ip"),
        "needs root and iproute2 to create a network namespace",
    ) {
        return;
    }
    let ns = NetnsGuard::new();
    let s = Sockets::open_via(
        &["ip", "netns", "exec", &ns.name],
        &["listen@127.0.0.1", "bound@127.0.0.1"],
    );
    let doc = lport_json(&[]);
    let found: Vec<_> = on_port(&doc, s.port(0))
        .into_iter()
        .filter(|x| x["netns"]["host"] == false)
        .collect();
    assert_eq!(found.len(), 1, "{doc}");
    let sock = &found[0];
    assert_eq!(sock["exposure"], "other-netns");
    assert_eq!(sock["state"], "listen");
    assert_eq!(owner_pids(sock), vec![s.pid]);
    let want_inode = std::fs::metadata(format!("/proc/{}/ns/net", s.pid))
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .expect("ns inode");
    assert_eq!(sock["netns"]["inode"], want_inode);
    // Entered with setns, so even bound-only sockets of the namespace show.
    let bound: Vec<_> = on_port(&doc, s.port(1))
        .into_iter()
        .filter(|x| x["netns"]["host"] == false)
        .collect();
    assert_eq!(bound.len(), 1);
    assert_eq!(bound[0]["state"], "bound");
    // It is not mistaken for a host socket: none of the host's is held by that process.
    assert!(
        doc["sockets"]
            .as_array()
            .expect("sockets")
            .iter()
            .filter(|x| x["netns"]["host"] == true)
            .all(|x| !owner_pids(x).contains(&s.pid))
    );
}
