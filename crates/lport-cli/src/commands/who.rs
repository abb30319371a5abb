//! `lport who TARGET`: every socket on one port in any state, every holder in full, and
//! what the address and port mean (scope, IANA class, ephemeral range, usual service).

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Result, bail};
use lport::ports::{PortClass, PortPolicy, address_scope, known_port};
use lport::{Host, Proto, Query, Target};

use super::filter::{TargetFilter, retain};
use crate::cli::WhoArgs;
use crate::output::{self, Style};

pub(crate) fn run(args: &WhoArgs) -> Result<ExitCode> {
    let target = Target::parse(&args.target)?;
    if let Some(path) = &target.unix {
        return unix(args, path);
    }
    let Some(port) = target.port else {
        // `::1:8080` is itself an IPv6 address: the port needs brackets around the address.
        if let Some(Host::Ip(ip @ std::net::IpAddr::V6(_))) = &target.host {
            let hint = args
                .target
                .rsplit_once(':')
                .filter(|(a, p)| {
                    !p.is_empty()
                        && p.bytes().all(|b| b.is_ascii_digit())
                        && a.parse::<std::net::Ipv6Addr>().is_ok()
                })
                .map_or_else(|| format!("[{ip}]:3000"), |(a, p)| format!("[{a}]:{p}"));
            bail!(
                "invalid target {:?}: that is an IPv6 address with no port; write {hint}",
                args.target
            );
        }
        bail!(
            "invalid target {:?}: a port is needed, as in {}:3000 or :3000",
            args.target,
            args.target
        );
    };
    let filter = TargetFilter::parse(&args.target)?;
    let query = Query {
        tcp: target.proto != Some(Proto::Udp),
        udp: target.proto != Some(Proto::Tcp),
        // Both ends of a local connection: the client's socket and process too.
        either_end: true,
        ..Query::port(port)
    };
    let mut snap = lport::snapshot(&query)?;
    retain(&mut snap, |s, _| filter.matches(s));
    super::print_notes(&snap.notes);
    if args.json {
        output::json::print_sockets(&snap, None)?;
    } else {
        let style = Style::detect();
        let mut out = output::stdout();
        for line in explain(&target, port, &PortPolicy::current()).lines() {
            writeln!(out, "{}", output::wrap(line, style.width, "", 2))?;
        }
        if snap.sockets.is_empty() {
            writeln!(
                out,
                "nothing holds {} port {port}",
                proto_words(target.proto)
            )?;
        } else {
            writeln!(out)?;
            drop(out);
            output::table::print_sockets(&snap, &style, true, None)?;
            output::table::print_processes(&snap, &style)?;
        }
    }
    Ok(if snap.sockets.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn proto_words(p: Option<Proto>) -> &'static str {
    match p {
        Some(Proto::Tcp) => "tcp",
        Some(Proto::Udp) => "udp",
        None => "tcp or udp",
    }
}

/// One paragraph on what the address and port are.
fn explain(target: &Target, port: u16, policy: &PortPolicy) -> String {
    let mut s = format!("port {port}: {}", PortClass::of(port));
    let eph = &policy.ephemeral;
    if let Some(r) = policy.excluded_range(port) {
        let _ = write!(
            s,
            "; in the excluded port range {}-{} (reserved by Hyper-V, WSL or Docker): nobody can bind it",
            r.start(),
            r.end()
        );
    } else if policy.is_reserved(port) {
        let _ = write!(
            s,
            "; reserved ({}): never picked as a source port",
            policy.words.reserved_setting
        );
    } else if policy.is_ephemeral(port) {
        let _ = write!(
            s,
            "; inside this system's ephemeral range {}-{}: outgoing connections may take it as their source port",
            eph.start(),
            eph.end()
        );
    } else {
        let _ = write!(
            s,
            "; outside the ephemeral range {}-{}",
            eph.start(),
            eph.end()
        );
    }
    if port < policy.unprivileged_start {
        let _ = write!(s, "; binding it needs {}", policy.words.privilege);
    }
    let protos: &[Proto] = match target.proto {
        Some(p) => &[p][..],
        None => &[Proto::Tcp, Proto::Udp][..],
    };
    let services: Vec<String> = protos
        .iter()
        .filter_map(|p| {
            known_port(port, *p).map(|k| format!("{} ({}/{})", k.description, k.name, p))
        })
        .collect();
    if !services.is_empty() {
        let _ = write!(s, "\nusually: {}", services.join("; "));
    }
    if let Some(host) = &target.host {
        let line = match host {
            Host::Ip(ip) => format!("{ip}: {}", address_scope(*ip)),
            Host::Name(name) => match target.resolve() {
                Ok(addrs) if !addrs.is_empty() => {
                    let parts: Vec<String> = addrs
                        .iter()
                        .map(|a| format!("{a} ({})", address_scope(*a)))
                        .collect();
                    format!("{name} resolves to {}", parts.join(", "))
                }
                _ => format!("{name} does not resolve"),
            },
        };
        let _ = write!(s, "\n{line}");
    }
    s
}

/// `who unix:/run/x.sock` or `who unix:@name`: the sockets bound to that name (the
/// listener, and the connections it accepted, which share its name) and who holds them.
fn unix(args: &WhoArgs, path: &std::path::Path) -> Result<ExitCode> {
    let name = format!("unix:{}", path.display());
    let Some(bound) = lport::unix_sockets(path) else {
        bail!(
            "unix sockets are listed on Linux only; lport why {name} says whether it can be reached"
        );
    };
    let mut pids: Vec<u32> = bound.iter().flat_map(|b| b.pids.iter().copied()).collect();
    pids.sort_unstable();
    pids.dedup();
    let processes = lport::inventory::processes(&pids);
    if args.json {
        #[derive(serde::Serialize)]
        struct Row<'a> {
            path: String,
            inode: u64,
            #[serde(rename = "type")]
            kind: &'a str,
            state: &'static str,
            pids: &'a [u32],
        }
        #[derive(serde::Serialize)]
        struct Doc<'a> {
            schema: u32,
            unix: Vec<Row<'a>>,
            processes: &'a [lport::Process],
        }
        let doc = Doc {
            schema: 1,
            unix: bound
                .iter()
                .map(|b| Row {
                    path: path.display().to_string(),
                    inode: b.inode,
                    kind: b.kind,
                    state: unix_state(b),
                    pids: &b.pids,
                })
                .collect(),
            processes: &processes,
        };
        let mut out = output::stdout();
        serde_json::to_writer(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        let mut out = output::stdout();
        if bound.is_empty() {
            writeln!(out, "nothing is bound to {name} in this network namespace")?;
        }
        for b in &bound {
            let holders: Vec<String> = b
                .pids
                .iter()
                .map(|pid| match processes.iter().find(|p| p.pid == *pid) {
                    Some(p) => match &p.user {
                        Some(u) => format!("pid {pid} {} (user {u})", p.name),
                        None => format!("pid {pid} {}", p.name),
                    },
                    None => format!("pid {pid}"),
                })
                .collect();
            writeln!(
                out,
                "{name}  {}  {}  inode {}  {}",
                unix_state(b),
                b.kind,
                b.inode,
                if holders.is_empty() {
                    "held by no process this user may read".to_owned()
                } else {
                    holders.join(", ")
                }
            )?;
        }
    }
    Ok(if bound.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `listening`, `connected` or `bound`.
fn unix_state(b: &lport::UnixBound) -> &'static str {
    if b.listening {
        "listening"
    } else if b.connected {
        "connected"
    } else {
        "bound"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_port_classes_and_ranges() {
        let p = PortPolicy {
            reserved: vec![40000..=40000],
            ..PortPolicy::default()
        };
        let t = |s: &str| Target::parse(s).expect("target");
        let e = explain(&t("22"), 22, &p);
        assert!(
            e.contains("well-known") && e.contains("SSH") && e.contains("needs root"),
            "{e}"
        );
        let e = explain(&t("127.0.0.1:40001"), 40001, &p);
        assert!(
            e.contains("inside this system's ephemeral range 32768-60999"),
            "{e}"
        );
        assert!(e.contains("127.0.0.1: loopback"), "{e}");
        assert!(explain(&t("40000"), 40000, &p).contains("reserved"));
        let e = explain(&t("62893"), 62893, &p);
        assert!(
            e.contains("dynamic") && e.contains("outside the ephemeral range"),
            "{e}"
        );
        assert!(explain(&t("udp/53"), 53, &p).contains("dns/udp"));
        assert!(!explain(&t("udp/5432"), 5432, &p).contains("PostgreSQL"));
    }
}
