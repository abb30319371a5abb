//! One rule per cause. A rule reads the facts and returns a finding, or nothing; rules do
//! no I/O, so each is tested with hand-made facts.

mod address_not_local;
mod backlog_full;
mod bad_gateway;
mod bound_elsewhere;
mod bound_to_device;
mod closed_on_accept;
mod container_stopped;
mod dns_failure;
mod ephemeral_exhausted;
mod exposed;
mod family_mismatch;
mod firewall_drop;
mod forwarder_dead_backend;
mod host_not_allowed;
mod http_status;
mod ipv6_disabled;
mod listener_ended;
mod loopback_down;
mod nearby_port;
mod no_response;
mod nothing_listening;
mod other_netns;
mod permission_denied;
mod port_in_use;
mod privileged_port;
mod process_stopped;
mod protocol_mismatch;
mod proxy_env;
mod rebinding_vulnerable;
mod reserved_port;
mod server_full;
mod server_out_of_fds;
mod source_port_collision;
mod stale_socket_file;
mod time_wait_only;
mod tls_certificate;
mod tls_client_certificate;
mod tls_mismatch;
mod tls_version;
mod unauthenticated_risky;
mod unix_socket_only;
mod v6only;

use super::{Cause, Facts, Severity};

/// Every rule, in the order findings are reported within a severity.
const RULES: &[fn(&Facts) -> Option<Cause>] = &[
    stale_socket_file::check,
    permission_denied::check,
    dns_failure::check,
    loopback_down::check,
    listener_ended::check,
    container_stopped::check,
    unix_socket_only::check,
    nothing_listening::check,
    family_mismatch::check,
    v6only::check,
    bound_elsewhere::check,
    bound_to_device::check,
    other_netns::check,
    firewall_drop::check_drop,
    firewall_drop::check_reject,
    ipv6_disabled::check,
    ephemeral_exhausted::check,
    process_stopped::check,
    server_out_of_fds::check,
    backlog_full::check,
    forwarder_dead_backend::check,
    closed_on_accept::check,
    tls_mismatch::check,
    tls_client_certificate::check,
    tls_version::check,
    tls_certificate::check,
    protocol_mismatch::check,
    bad_gateway::check,
    http_status::check,
    no_response::check,
    server_full::check,
    host_not_allowed::check,
    proxy_env::check,
    port_in_use::check,
    source_port_collision::check,
    time_wait_only::check,
    privileged_port::check,
    address_not_local::check,
    reserved_port::check,
    nearby_port::check,
    exposed::check,
    rebinding_vulnerable::check,
    unauthenticated_risky::check,
];

/// Whether every process holding socket `s` is stopped (state T or t).
pub(crate) fn all_owners_stopped(f: &Facts, s: &crate::model::Socket) -> bool {
    !s.owners.is_empty()
        && s.owners.iter().all(|o| {
            f.process(o.pid)
                .is_some_and(crate::model::Process::is_stopped)
        })
}

/// A listener this target reaches whose processes are all stopped: `process-stopped`
/// explains the silence and the queue, which other rules then leave alone.
fn listener_stopped(f: &Facts) -> bool {
    let Ok(addrs) = f.resolved.as_ref() else {
        return false;
    };
    f.host_listeners()
        .filter(|s| addrs.iter().any(|a| s.accepts_addr(*a)))
        .any(|s| all_owners_stopped(f, s))
}

/// With `--listen`: the bind that failed because the address is in use.
fn bind_in_use(f: &Facts) -> Option<&super::facts::BindTry> {
    if f.target.mode != super::Mode::Listen {
        return None;
    }
    f.binds.iter().find(|b| {
        b.error
            .as_ref()
            .is_some_and(|(k, _)| *k == std::io::ErrorKind::AddrInUse)
    })
}

/// The sockets in lport's namespace that stand in the way of the failed bind: the target's
/// protocol, the port, and an address that overlaps the bind's ([`Socket::blocks_bind`]).
/// The bind was tried with the system's default `IPV6_V6ONLY` (off).
fn bind_holders<'a>(
    f: &'a Facts,
    failed: &super::facts::BindTry,
) -> impl Iterator<Item = &'a crate::model::Socket> {
    let bind = crate::model::Endpoint::from(failed.addr);
    f.port_sockets
        .iter()
        .filter(move |s| s.netns.host && s.proto == f.target.proto && s.blocks_bind(bind, None))
}

/// `srw-rw---- root:docker, changed 2 h ago`: a unix socket file as evidence.
fn unix_file_text(path: &str, f: &crate::sys::FileInfo) -> String {
    let bits = |m: u32| {
        format!(
            "{}{}{}",
            if m & 4 != 0 { 'r' } else { '-' },
            if m & 2 != 0 { 'w' } else { '-' },
            if m & 1 != 0 { 'x' } else { '-' }
        )
    };
    let age = match f.age_secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 2 * 86400 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86400),
    };
    format!(
        "{path}: {}{}{}{} {}:{}, changed {age} ago",
        f.kind.letter(),
        bits(f.mode >> 6),
        bits(f.mode >> 3),
        bits(f.mode),
        f.owner,
        f.group
    )
}

/// Runs every rule.
#[must_use]
pub fn run(f: &Facts) -> Vec<Cause> {
    // A unix-socket target has its own rules; the others are about ports.
    let rules: &[fn(&Facts) -> Option<Cause>] = if f.unix.is_some() {
        &[
            stale_socket_file::check,
            permission_denied::check,
            backlog_full::check,
        ]
    } else {
        RULES
    };
    let mut out: Vec<Cause> = rules.iter().filter_map(|r| r(f)).collect();
    out.sort_by_key(|c| c.severity);
    out
}

// Every rule returns `Option<Cause>`; building the `Some` here keeps rules short.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn cause(
    id: &'static str,
    severity: Severity,
    summary: impl Into<String>,
    evidence: Vec<String>,
    fix: impl Into<String>,
) -> Option<Cause> {
    Some(Cause {
        id,
        severity,
        summary: summary.into(),
        evidence,
        fix: fix.into(),
    })
}

/// Helpers for building facts in the rules' tests.
#[cfg(test)]
pub(crate) mod fixture {
    use std::net::IpAddr;

    use crate::diagnose::{Attempt, Facts, Mode, Outcome, TargetInfo};
    use crate::model::{Endpoint, Exposure, NetNs, Owner, Process, Proto, Socket, State};

    pub(crate) fn facts(host: &str, port: u16, mode: Mode) -> Facts {
        Facts::empty(TargetInfo {
            input: format!("{host}:{port}"),
            proto: Proto::Tcp,
            host: host.into(),
            port,
            scheme: None,
            mode,
        })
    }

    pub(crate) fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    pub(crate) fn attempt(f: &mut Facts, addr: &str, outcome: Outcome) {
        let port = f.target.port;
        f.attempts.push(Attempt {
            addr: ip(addr),
            port,
            outcome,
            ms: 0.1,
        });
    }

    pub(crate) fn listener(f: &mut Facts, addr: &str, port: u16, pid: u32, host: bool) -> usize {
        let a = ip(addr);
        f.port_sockets.push(Socket {
            proto: Proto::Tcp,
            local: Endpoint::new(a, port),
            remote: None,
            state: State::Listen,
            inode: 1000 + f.port_sockets.len() as u64,
            uid: Some(0),
            netns: NetNs {
                inode: Some(if host { 1 } else { 2 }),
                host,
            },
            recv_q: 0,
            send_q: 128,
            v6only: if a.is_ipv6() { Some(false) } else { None },
            exposure: Exposure::classify(a, host),
            owners: vec![Owner { pid, fd: Some(3) }],
            owner_note: None,
            cgroup: None,
            device: None,
        });
        if f.process(pid).is_none() {
            f.processes.push(Process {
                pid,
                name: "node".into(),
                exe: None,
                cmdline: vec!["node".into(), "server.js".into()],
                uid: Some(0),
                user: Some("root".into()),
                state: "S".into(),
                start_time: None,
                ppid: 1,
                unit: None,
                container: None,
                start_ticks: None,
                container_info: None,
            });
        }
        f.port_sockets.len() - 1
    }
}

#[cfg(test)]
mod docs_tests {
    use crate::diagnose::Outcome;

    /// Every cause id a rule can return, read from the rules' sources (the first argument
    /// of each `cause(` call).
    fn rule_ids() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/diagnose/rules");
        let mut ids = Vec::new();
        for e in std::fs::read_dir(dir).expect("rules dir").flatten() {
            let text = std::fs::read_to_string(e.path()).expect("rule source");
            // Ids chosen before the call (`("firewall-drop", "drops")`, a `match` on the
            // signal): the literals of those rules' shape.
            for lit in text.split('"').skip(1).step_by(2) {
                let dynamic = lit.starts_with("listener-") && !lit.contains(' ')
                    || matches!(
                        lit,
                        "firewall-drop" | "firewall-reject" | "ipv6-disabled" | "v6only"
                    );
                if dynamic {
                    ids.push(lit.to_owned());
                }
            }
            for (at, _) in text.match_indices("cause(") {
                let rest = text[at + "cause(".len()..].trim_start();
                if let Some(lit) = rest.strip_prefix('"')
                    && let Some(end) = lit.find('"')
                {
                    let id = &lit[..end];
                    if !id.is_empty()
                        && id
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    {
                        ids.push(id.to_owned());
                    }
                }
            }
        }
        ids.sort();
        ids.dedup();
        ids
    }

    #[test]
    fn docs_json_lists_every_cause_id_and_outcome() {
        let docs = include_str!("../../../../../docs/json.md");
        let ids = rule_ids();
        assert!(ids.len() >= 44, "found {} ids: {ids:?}", ids.len());
        let missing: Vec<&String> = ids
            .iter()
            .filter(|id| !docs.contains(&format!("`{id}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "cause ids not in docs/json.md: {missing:?}"
        );
        for o in [
            Outcome::Connected,
            Outcome::Refused,
            Outcome::Timeout,
            Outcome::Unreachable,
            Outcome::AddrUnavailable,
            Outcome::Denied,
            Outcome::Reset,
            Outcome::Error,
        ] {
            let name = serde_json::to_value(o).expect("outcome");
            let name = name.as_str().expect("a string");
            assert!(
                docs.contains(&format!("`{name}`")),
                "outcome {name} not in docs/json.md"
            );
        }
    }
}
