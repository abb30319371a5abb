//! Snapshot tests of the human output, with pids, ports, times and paths masked and runs of
//! spaces collapsed (masking changes widths; alignment itself is unit-tested).

use crate::support::{Sockets, lport, on_terminal, stdout, strip_sgr};

fn masked(text: &str, s: &Sockets) -> String {
    let mut t = text.to_owned();
    for (i, o) in s.sockets.iter().enumerate() {
        t = t.replace(&o.port.to_string(), &format!("PORT{i}"));
        t = t.replace(&format!("fd {} ", o.fd), "fd FD ");
        if let Some(c) = o.client_port {
            t = t.replace(&c.to_string(), &format!("CLIENT{i}"));
        }
    }
    t = t.replace(&s.pid.to_string(), "PID");
    let uid = rustix::process::geteuid().as_raw();
    let user = if uid == 0 {
        "root".to_owned()
    } else {
        uid.to_string()
    };
    let mut out = String::new();
    // A masked value's wrapped continuation lines (indented past its label) go with it.
    let mut masked_indent: Option<usize> = None;
    for line in t.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(i) = masked_indent {
            if indent >= i && !line.trim().is_empty() {
                continue;
            }
            masked_indent = None;
        }
        if line.starts_with("  command") || line.starts_with("  exe") {
            masked_indent = Some(11);
        } else if line.starts_with("port PORT0:") {
            masked_indent = Some(2);
        }
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

/// Cut process names depend on the pid's length: `pyth… (PID)` becomes `NAME… (PID)`.
fn mask_cut_names(text: &str) -> String {
    text.split(' ')
        .map(|w| if w.ends_with('…') { "NAME…" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `ls -a` and `who` on a real terminal 80 and 120 columns wide: nothing wider than the
/// terminal; at 80 the queue columns go and the pid stays.
#[test]
fn tables_on_terminals_80_and_120_columns_wide() {
    let s = Sockets::open(&["conn@127.0.0.1", "dual@::"]);
    let pid = s.pid.to_string();
    for cols in [80u16, 120] {
        let ls = strip_sgr(&on_terminal(&["ls", "-a", "--pid", &pid], cols, 3.0));
        let who = strip_sgr(&on_terminal(
            &["who", &format!("127.0.0.1:{}", s.port(0))],
            cols,
            3.0,
        ));
        for text in [&ls, &who] {
            assert!(text.contains("PROTO"), "{text}");
            for line in text.lines() {
                assert!(
                    line.chars().count() <= usize::from(cols),
                    "wider than {cols}: {line:?}\n{text}"
                );
            }
        }
        assert!(ls.contains("REMOTE"), "{ls}");
        // Every row keeps the pid, however narrow.
        for row in ls.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            assert!(row.contains(&format!("({pid})")), "{row}");
        }
        let mut rows: Vec<String> = masked(&ls, &s).lines().map(mask_cut_names).collect();
        rows[1..].sort_unstable();
        let name = format!("ls_a_at_{cols}_columns");
        insta::assert_snapshot!(name, rows.join("\n"));
        // Rows sort by port, and the client's port is the kernel's pick: the table's rows
        // are compared in a fixed order.
        let who = masked(&who, &s);
        let mut lines: Vec<&str> = who.lines().collect();
        let table = lines
            .iter()
            .position(|l| l.starts_with("PROTO"))
            .map_or(0..0, |h| {
                h + 1
                    ..lines[h + 1..]
                        .iter()
                        .position(|l| l.is_empty())
                        .map_or(lines.len(), |e| h + 1 + e)
            });
        lines[table].sort_unstable();
        let name = format!("who_at_{cols}_columns");
        insta::assert_snapshot!(name, mask_cut_names(&lines.join("\n")));
    }
}

/// `why` on a real terminal: prose wrapped with a hanging indent, nothing said twice.
#[test]
fn why_wraps_at_the_terminal_width_and_says_each_thing_once() {
    let s = Sockets::open(&["listen@::1"]);
    let port = s.port(0).to_string();
    for cols in [80u16, 120] {
        let text = strip_sgr(&on_terminal(
            &["why", &format!("127.0.0.1:{port}"), "--no-identify"],
            cols,
            5.0,
        ));
        assert!(text.contains("error family-mismatch:"), "{text}");
        for line in text.lines() {
            assert!(
                line.chars().count() <= usize::from(cols),
                "{line:?}\n{text}"
            );
        }
        let lines: Vec<&str> = text.lines().collect();
        // The headline says what happened; the summary is said once.
        assert_eq!(
            lines[0],
            format!("127.0.0.1:{port} is not reachable (127.0.0.1:{port} refused)")
        );
        let summary_start = "nothing listens on 127.0.0.1";
        assert_eq!(text.matches(summary_start).count(), 1, "{text}");
        // Continuation lines hang under their first line.
        let fix_at = lines
            .iter()
            .position(|l| l.starts_with("  fix: "))
            .expect("fix");
        assert!(
            lines[fix_at + 1..]
                .iter()
                .take_while(|l| !l.is_empty())
                .all(|l| l.starts_with("    ")),
            "{text}"
        );
        assert!(text.contains(&format!("[::1]:{port}")), "{text}");
        assert!(!text.contains("PORT"), "{text}");
    }
}
