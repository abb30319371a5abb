//! `lport who`: every socket on one port in any state, with full holders.

use crate::support::{Sockets, at, lport, lport_json, owner_pids, stdout, unused_port};

#[test]
fn who_lists_listener_and_accepted_connections_with_full_process_details() {
    let s = Sockets::open(&["conn@127.0.0.1"]);
    let port = s.port(0);
    let doc = lport_json(&["who", &port.to_string()]);
    // A TIME_WAIT left on this port number by an earlier user is not ours.
    let socks: Vec<_> = at(&doc, "127.0.0.1", port)
        .into_iter()
        .filter(|x| x["state"] != "time-wait")
        .collect();
    let states: Vec<&str> = socks
        .iter()
        .map(|x| x["state"].as_str().expect("state"))
        .collect();
    assert_eq!(states, vec!["listen", "established"], "listeners first");
    for x in &socks {
        assert_eq!(owner_pids(x), vec![s.pid]);
    }
    let p = &doc["processes"][0];
    assert_eq!(p["pid"], s.pid);
    assert!(p["ppid"].as_u64().expect("ppid") > 0);

    let out = lport(&["who", &format!("127.0.0.1:{port}")]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains(&format!("port {port}:")), "{text}");
    assert!(text.contains("127.0.0.1: loopback"), "{text}");
    assert!(text.contains(&format!("pid {}", s.pid)), "{text}");
    assert!(text.contains("command  "), "{text}");
    assert!(
        text.contains(&format!("fd {} listen 127.0.0.1:{port}", s.sockets[0].fd)),
        "{text}"
    );
}

#[test]
fn who_shows_a_bound_only_socket_the_other_tools_miss() {
    // Regression guard for the EADDRINUSE mystery: bound, not listening, still holds the port.
    let s = Sockets::open(&["bound@127.0.0.1"]);
    let doc = lport_json(&["who", &s.port(0).to_string()]);
    let socks = at(&doc, "127.0.0.1", s.port(0));
    assert_eq!(socks.len(), 1);
    assert_eq!(socks[0]["state"], "bound");
    assert_eq!(owner_pids(&socks[0]), vec![s.pid]);
}

#[test]
fn who_with_nothing_there_exits_1() {
    let port = unused_port();
    let out = lport(&["who", &port.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains(&format!("nothing holds tcp or udp port {port}")));
    let doc = lport_json(&["who", &port.to_string()]);
    assert_eq!(doc["sockets"].as_array().map(Vec::len), Some(0));
}

#[test]
fn who_explains_well_known_ports_and_services() {
    // Port 22 may or may not be held on this machine; only the explanation is checked.
    let out = lport(&["who", "tcp/22"]);
    let text = stdout(&out);
    assert!(text.contains("well-known port"), "{text}");
    assert!(text.contains("SSH"), "{text}");
    // The privilege is said once (it was said twice on one line).
    let first = text.lines().next().unwrap_or_default();
    assert_eq!(first.matches("binding").count(), 1, "{first}");
    let out = lport(&["who", "udp/53"]);
    assert!(stdout(&out).contains("dns/udp"));
}

#[test]
fn who_udp_limits_to_udp() {
    let s = Sockets::open(&["udp@127.0.0.1"]);
    let port = s.port(0).to_string();
    assert_eq!(
        lport(&["who", &format!("udp/{port}")]).status.code(),
        Some(0)
    );
    // Other tests' TCP sockets may use the same port number (as client source ports), so
    // the check is that the UDP socket is not among what `tcp/PORT` shows.
    let doc = crate::support::lport_json(&["who", &format!("tcp/{port}")]);
    let socks = doc["sockets"].as_array().expect("sockets");
    assert!(socks.iter().all(|x| x["proto"] == "tcp"), "{doc}");
    assert!(
        socks.iter().all(|x| !owner_pids(x).contains(&s.pid)),
        "{doc}"
    );
}
