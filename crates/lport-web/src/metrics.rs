//! Prometheus text exposition (format 0.0.4) of the socket inventory, written by hand: a
//! few metric families with `# HELP` and `# TYPE`, label values escaped as the format
//! requires. Pure over its input, so it is tested without a server.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use lport::{Exposure, Snapshot, Socket, State};

/// What the history database adds: failed attempts per port and outcome (the busiest
/// [`HISTORY_PORTS`] ports by number, the rest as `port="other"`), and recorded listeners
/// whose process ended, by how. Empty when nothing was recorded.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HistoryTotals {
    /// (port, outcome, count); port 0 is every other port.
    pub failed: Vec<(u16, String, u64)>,
    /// (how, count).
    pub ended: Vec<(String, u64)>,
}

/// At most this many ports get a series of their own.
pub const HISTORY_PORTS: usize = 50;

/// Reads the totals from the recorder's database, when there is one.
#[must_use]
pub fn history_totals() -> HistoryTotals {
    let path = lport::history::store::default_path();
    match lport::history::store::Store::open_read(&path) {
        Ok(Some(st)) => HistoryTotals {
            failed: st.failed_totals(HISTORY_PORTS).unwrap_or_default(),
            ended: st.ending_totals().unwrap_or_default(),
        },
        _ => HistoryTotals::default(),
    }
}

/// Appends the history families (nothing when `h` is empty).
pub fn encode_history(out: &mut String, h: &HistoryTotals) {
    if !h.failed.is_empty() {
        family(
            out,
            "lport_connect_failures_total",
            "counter",
            "Failed TCP connection attempts to a local port seen by lport record, by port and outcome (refused, timeout, failed); port=\"other\" sums the rest.",
        );
        for (port, outcome, n) in &h.failed {
            let port = if *port == 0 {
                "other".to_owned()
            } else {
                port.to_string()
            };
            let _ = writeln!(
                out,
                "lport_connect_failures_total{} {n}",
                labels(&[("port", &port), ("outcome", outcome)])
            );
        }
    }
    if !h.ended.is_empty() {
        family(
            out,
            "lport_listeners_ended_total",
            "counter",
            "Listeners recorded by lport record whose process ended, by how: exited, killed (a signal), oom-killed, gone (polling could not see how).",
        );
        for (how, n) in &h.ended {
            let _ = writeln!(
                out,
                "lport_listeners_ended_total{} {n}",
                labels(&[("how", how)])
            );
        }
    }
}

/// Socket counts keyed by (protocol, state).
pub type StateCounts = BTreeMap<(lport::Proto, State), usize>;

/// Escapes a label value: backslash, double quote and newline.
#[must_use]
pub fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(128);
    out.push('{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        if v.contains(['\\', '"', '\n']) {
            out.push_str(&escape(v));
        } else {
            out.push_str(v);
        }
        out.push('"');
    }
    out.push('}');
    out
}

fn netns_label(s: &Socket) -> String {
    if s.netns.host {
        "host".to_owned()
    } else {
        s.netns
            .inode
            .map_or_else(|| "other".to_owned(), |i| i.to_string())
    }
}

fn listener_labels(s: &Socket) -> Vec<(&'static str, String)> {
    vec![
        ("proto", s.proto.as_str().to_owned()),
        ("addr", s.local.addr.to_string()),
        ("port", s.local.port.to_string()),
        ("netns", netns_label(s)),
    ]
}

/// Writes one family whose series are keyed by label sets; sockets that share a label set
/// (SO_REUSEPORT groups, prefork servers) are folded into one series with `fold`.
fn series(
    out: &mut String,
    name: &str,
    help: &str,
    items: impl Iterator<Item = (Vec<(&'static str, String)>, u64)>,
    fold: fn(u64, u64) -> u64,
) {
    family(out, name, "gauge", help);
    let mut folded: BTreeMap<String, u64> = BTreeMap::new();
    for (l, v) in items {
        let pairs: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
        folded
            .entry(labels(&pairs))
            .and_modify(|x| *x = fold(*x, v))
            .or_insert(v);
    }
    for (l, v) in folded {
        let _ = writeln!(out, "{name}{l} {v}");
    }
}

/// Encodes the listeners (with owners) and the count of sockets by protocol and state.
#[must_use]
pub fn encode(listeners: &Snapshot, by_state: &StateCounts, scrape_seconds: f64) -> String {
    let mut out = String::with_capacity(256 + listeners.sockets.len() * 256);
    let info = listeners.sockets.iter().map(|s| {
        let p = s.owners.first().and_then(|o| listeners.process(o.pid));
        let mut l = listener_labels(s);
        l.push(("state", s.state.as_str().to_owned()));
        l.push(("process", p.map_or_else(String::new, |p| p.name.clone())));
        l.push((
            "user",
            p.and_then(|p| p.user.clone())
                .or_else(|| s.uid.map(|u| u.to_string()))
                .unwrap_or_default(),
        ));
        l.push(("exposure", s.exposure.as_str().to_owned()));
        (l, 1)
    });
    series(
        &mut out,
        "lport_listener_info",
        "Listening sockets (TCP listen, TCP bound, UDP bound) with their owner and exposure; the value counts sockets sharing these labels.",
        info,
        |a, b| a + b,
    );
    let tcp_listen = || {
        listeners
            .sockets
            .iter()
            .filter(|s| s.state == State::Listen)
    };
    series(
        &mut out,
        "lport_listener_accept_queue",
        "Connections waiting in a TCP listener's accept queue.",
        tcp_listen().map(|s| (listener_labels(s), u64::from(s.recv_q))),
        |a, b| a + b,
    );
    series(
        &mut out,
        "lport_listener_backlog",
        "The accept queue's limit (the listen backlog).",
        tcp_listen().map(|s| (listener_labels(s), u64::from(s.send_q))),
        u64::max,
    );
    family(
        &mut out,
        "lport_sockets",
        "gauge",
        "Sockets by protocol and state, in lport's network namespace.",
    );
    for ((proto, state), n) in by_state {
        let _ = writeln!(
            out,
            "lport_sockets{} {n}",
            labels(&[("proto", proto.as_str()), ("state", state.as_str())])
        );
    }
    family(
        &mut out,
        "lport_exposed_listeners",
        "gauge",
        "Listeners reachable beyond loopback (bound to all interfaces or a non-loopback address).",
    );
    let exposed = listeners
        .sockets
        .iter()
        .filter(|s| matches!(s.exposure, Exposure::AllInterfaces | Exposure::Specific))
        .count();
    let _ = writeln!(out, "lport_exposed_listeners {exposed}");
    family(
        &mut out,
        "lport_scrape_duration_seconds",
        "gauge",
        "How long reading the socket tables took for this scrape.",
    );
    let _ = writeln!(out, "lport_scrape_duration_seconds {scrape_seconds:.6}");
    out
}

/// Reads what a scrape reports: listeners with owners (every namespace), and counts of all
/// sockets by state (this namespace, no owner scan).
pub fn collect() -> lport::Result<(Snapshot, StateCounts)> {
    // The all-states dump is kernel work; it runs beside the listener snapshot's fd scan.
    let (listeners, by_state) = std::thread::scope(|s| {
        let counts = s.spawn(|| lport::count_by_state(&lport::Query::all()));
        let listeners = lport::snapshot(&lport::Query::listeners());
        (listeners, counts.join())
    });
    let listeners = listeners?;
    let by_state = by_state
        .map_err(|_| lport::Error::Internal("the socket count thread panicked".into()))??;
    Ok((listeners, by_state))
}

#[cfg(test)]
mod history_tests {
    use super::*;

    #[test]
    fn history_families_have_bounded_labels() {
        let mut out = String::new();
        encode_history(&mut out, &HistoryTotals::default());
        assert!(out.is_empty());
        let h = HistoryTotals {
            failed: vec![(3000, "refused".into(), 37), (0, "timeout".into(), 2)],
            ended: vec![("killed".into(), 1), ("oom-killed".into(), 2)],
        };
        encode_history(&mut out, &h);
        assert!(out.contains("# TYPE lport_connect_failures_total counter"));
        assert!(
            out.contains("lport_connect_failures_total{port=\"3000\",outcome=\"refused\"} 37"),
            "{out}"
        );
        assert!(
            out.contains("lport_connect_failures_total{port=\"other\",outcome=\"timeout\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("lport_listeners_ended_total{how=\"oom-killed\"} 2"),
            "{out}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("x\ny"), "x\\ny");
    }

    #[test]
    fn an_empty_inventory_still_has_every_family() {
        let text = encode(&Snapshot::default(), &BTreeMap::new(), 0.012);
        for name in [
            "lport_listener_info",
            "lport_listener_accept_queue",
            "lport_listener_backlog",
            "lport_sockets",
            "lport_exposed_listeners",
            "lport_scrape_duration_seconds",
        ] {
            assert!(text.contains(&format!("# TYPE {name} gauge")), "{name}");
        }
        assert!(text.contains("lport_exposed_listeners 0\n"));
        assert!(text.contains("lport_scrape_duration_seconds 0.012000\n"));
    }

    #[test]
    fn a_listener_becomes_series() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let (snap, by_state) = collect().expect("collect");
        let text = encode(&snap, &by_state, 0.001);
        let line = text
            .lines()
            .find(|x| {
                x.starts_with("lport_listener_info{") && x.contains(&format!("port=\"{port}\""))
            })
            .expect("a series for the listener");
        assert!(
            line.contains("exposure=\"loopback\"") && line.ends_with(" 1"),
            "{line}"
        );
        // Where the platform reports listen backlogs (not Windows), the series carries it.
        let backlog = snap
            .sockets
            .iter()
            .find(|s| s.local.port == port)
            .map_or(0, |s| s.send_q);
        if backlog > 0 {
            assert!(
                text.contains(&format!(
                    "lport_listener_backlog{{proto=\"tcp\",addr=\"127.0.0.1\",port=\"{port}\",netns=\"host\"}} 128"
                )),
                "{text}"
            );
        }
        assert!(text.contains("lport_sockets{proto=\"tcp\",state=\"listen\"}"));
    }
}
