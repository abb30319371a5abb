//! Snapshot tests of the human output, with pids, ports, times and paths masked and runs of
//! spaces collapsed (masking changes widths; alignment itself is unit-tested).

use crate::support::{Sockets, lport, stdout};

fn masked(text: &str, s: &Sockets) -> String {
    let mut t = text.to_owned();
    for (i, o) in s.sockets.iter().enumerate() {
        t = t.replace(&o.port.to_string(), &format!("PORT{i}"));
        t = t.replace(&format!("fd {} ", o.fd), "fd FD ");
    }
    t = t.replace(&s.pid.to_string(), "PID");
    let uid = rustix::process::geteuid().as_raw();
    let user = if uid == 0 {
        "root".to_owned()
    } else {
        uid.to_string()
    };
    let mut out = String::new();
    for line in t.lines() {
        let line = line.replace(&format!(" {user} "), " USER ");
        let line = if let Some(rest) = line.strip_prefix("  started") {
            let _ = rest;
            "  started  TIME".to_owned()
        } else if line.starts_with("  parent") {
            "  parent   PPID".to_owned()
        } else if line.starts_with("  command") {
            "  command  CMDLINE".to_owned()
        } else if line.starts_with("  exe") {
            "  exe      EXE".to_owned()
        } else if line.starts_with("  user") {
            "  user     USER".to_owned()
        } else if line.starts_with("  unit") || line.starts_with("  container") {
            continue;
        } else if line.starts_with("port PORT0:") {
            // The port's class and the ephemeral range differ from run to run.
            "port PORT0: CLASS".to_owned()
        } else {
            line
        };
        let collapsed = line
            .split("  ")
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("  ");
        let collapsed = collapsed.split_whitespace().collect::<Vec<_>>().join(" ");
        out.push_str(&collapsed);
        out.push('\n');
    }
    out
}

#[test]
fn ls_table_for_three_kinds_of_listener() {
    let s = Sockets::open(&["listen@127.0.0.1", "dual@::", "udp@127.0.0.1"]);
    let out = lport(&["--pid", &s.pid.to_string()]);
    assert_eq!(out.status.code(), Some(0));
    // Rows are sorted by port, and the ports are random: sort the masked rows instead.
    let text = masked(&stdout(&out), &s);
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1..].sort_unstable();
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn who_text_for_a_listener() {
    let s = Sockets::open(&["listen@127.0.0.1"]);
    let out = lport(&["who", &format!("127.0.0.1:{}", s.port(0))]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!(masked(&stdout(&out), &s));
}
