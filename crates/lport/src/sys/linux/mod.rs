//! Linux: netlink `sock_diag` for sockets, `/proc` for owners, processes and namespaces.

// What is the same on Linux and macOS.
pub(crate) use super::unix::{
    NO_SIGNALS, SERVICES_STOP_THROUGH_MANAGER, enable_ansi, errno_name, file_info, helper,
    hosts_file, interface_index, interface_name, is_abstract, loopback_client_notes, run_in_place,
    socket_service, state_dir, stop_service, unix_connect, unix_http,
};

mod beneath;
mod cgroup;
mod fds;
mod netns;
mod proc_net;
mod process;
mod sock_diag;
mod trace;

use std::collections::HashMap;

use self::fds::NsKey;
use self::sock_diag::{
    AF_INET, AF_INET6, AF_UNSPEC, DiagRequest, DiagSocket, IPPROTO_TCP, IPPROTO_UDP, tcp_state,
};
use super::Raw;
use crate::error::Result;
use crate::inventory::Query;
use crate::model::{Endpoint, Exposure, NetNs, Proto, Socket, State};
use crate::ports::{PortPolicy, parse_port_range, parse_reserved_ports};

pub(crate) use self::beneath::{list_dir, open_beneath, open_dir};
pub(crate) use self::process::{is_alive, is_kernel_thread, processes, start_ticks};
pub(crate) use self::trace::Tracer;

pub(crate) fn parent_pid() -> Option<u32> {
    rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32)
}

/// The width of the terminal on stdout, else on stderr (where live status lines go).
/// The terminal's columns and rows (stdout's, else stderr's).
pub(crate) fn terminal_size() -> Option<(usize, usize)> {
    rustix::termios::tcgetwinsize(std::io::stdout())
        .or_else(|_| rustix::termios::tcgetwinsize(std::io::stderr()))
        .ok()
        .map(|w| (usize::from(w.ws_col), usize::from(w.ws_row)))
}

pub(crate) fn refused_connect_is_slow() -> bool {
    false
}

pub(crate) fn signal_available(_signal: crate::kill::Signal) -> bool {
    true
}

/// Signals `pid` if it is still the process that started at `ticks` (when given). Through a
/// pidfd where the kernel has them (5.3): the descriptor is opened first, then the start
/// time read, so the process the check saw is the one signalled — a pid recycled in
/// between can never be. Before 5.3, the check and then `kill`.
pub(crate) fn send_signal(
    pid: u32,
    ticks: Option<u64>,
    signal: crate::kill::Signal,
) -> std::io::Result<()> {
    let raw = rustix::process::Pid::from_raw(pid as i32)
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // Signal::number is Linux's numbering.
    let sig = rustix::process::Signal::from_named_raw(signal.number())
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let same = || ticks.is_none_or(|t| start_ticks(pid) == Some(t));
    let gone = || {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "it exited (its pid is another process now)",
        )
    };
    match rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => {
            if !same() {
                return Err(gone());
            }
            rustix::process::pidfd_send_signal(&fd, sig).map_err(Into::into)
        }
        Err(rustix::io::Errno::NOSYS) => {
            if !same() {
                return Err(gone());
            }
            rustix::process::kill_process(raw, sig).map_err(Into::into)
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether a TCP listener in this namespace would take a connection to `addr:port`: one
/// netlink hash lookup on a socket kept for the thread. `None` when netlink fails.
pub(crate) fn listener_at(addr: std::net::IpAddr, port: u16) -> Option<bool> {
    use std::cell::OnceCell;
    use std::os::fd::OwnedFd;
    thread_local! {
        static FD: OnceCell<Option<OwnedFd>> = const { OnceCell::new() };
    }
    FD.with(|cell| {
        let fd = cell.get_or_init(|| sock_diag::open().ok()).as_ref()?;
        sock_diag::listener_at(fd, addr, port).ok()
    })
}

/// A text file from /proc or /sys, decoded lossily: what other processes put there (names,
/// cgroup paths) need not be UTF-8, and one odd byte must not hide the whole file.
pub(crate) fn read_text(path: &str) -> Option<String> {
    std::fs::read(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The nftables ruleset of lport's namespace (`nft -j list ruleset`); `None` when nft is
/// missing or not permitted (it needs root).
pub(crate) fn firewall_dump() -> Option<crate::diagnose::firewall::Dump> {
    let out = std::process::Command::new("nft")
        .args(["-j", "list", "ruleset"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout)
        .ok()
        .map(crate::diagnose::firewall::Dump::Nft)
}

/// Firewalls that do not filter loopback but matter for exposure: none on Linux beyond
/// nftables.
pub(crate) fn firewall_notes(_port: u16) -> Vec<String> {
    Vec::new()
}

/// Socket activation for `free --exec` (see `sys::unix`): fd 3 by `dup2`, or the socket
/// itself with close-on-exec cleared when it already is fd 3.
pub(crate) fn exec_with_socket(
    addr: std::net::SocketAddr,
    udp: bool,
    command: &[String],
) -> std::io::Error {
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
    super::unix::exec_with_socket(addr, udp, command, |sock| {
        let start = crate::handover::LISTEN_FDS_START;
        if sock.as_raw_fd() == start {
            rustix::io::fcntl_setfd(&sock, rustix::io::FdFlags::empty())?;
            std::mem::forget(sock);
            return Ok(());
        }
        // SAFETY: fd 3 is about to be replaced by dup2 and belongs to the program exec'd
        // next; this OwnedFd is forgotten, never used or closed.
        let mut three = unsafe { OwnedFd::from_raw_fd(start) };
        // dup2 leaves the new descriptor without close-on-exec, so it survives the exec.
        let r = rustix::io::dup2(sock.as_fd(), &mut three);
        std::mem::forget(three);
        r.map_err(Into::into)
    })
}

#[allow(clippy::unnecessary_wraps)] // Windows has none
pub(crate) fn current_uid() -> Option<u32> {
    Some(rustix::process::getuid().as_raw())
}

pub(crate) fn is_privileged() -> bool {
    rustix::process::geteuid().is_root()
}

pub(crate) fn port_policy() -> Option<PortPolicy> {
    let read = |p: &str| read_text(p);
    Some(PortPolicy {
        ephemeral: parse_port_range(&read("/proc/sys/net/ipv4/ip_local_port_range")?)?,
        reserved: read("/proc/sys/net/ipv4/ip_local_reserved_ports")
            .map(|s| parse_reserved_ports(&s))
            .unwrap_or_default(),
        unprivileged_start: read("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1024),
        privileged_wildcard: true,
        excluded: Vec::new(),
        words: crate::ports::PolicyWords::LINUX,
    })
}

pub(crate) fn resolve_cgroup(id: u64) -> Option<String> {
    cgroup::path_of_id(id)
}

/// The kernel TCP state bits for a set of lport states.
fn tcp_mask(q: &Query) -> u32 {
    use tcp_state as t;
    let map: [(State, &[u8]); 12] = [
        (State::Listen, &[t::LISTEN]),
        (State::Established, &[t::ESTABLISHED]),
        (State::SynSent, &[t::SYN_SENT]),
        (State::SynRecv, &[t::SYN_RECV, t::NEW_SYN_RECV]),
        (State::FinWait1, &[t::FIN_WAIT1]),
        (State::FinWait2, &[t::FIN_WAIT2]),
        (State::TimeWait, &[t::TIME_WAIT]),
        (State::Close, &[t::CLOSE]),
        (State::CloseWait, &[t::CLOSE_WAIT]),
        (State::LastAck, &[t::LAST_ACK]),
        (State::Closing, &[t::CLOSING]),
        (State::Bound, &[t::BOUND_INACTIVE]),
    ];
    map.iter()
        .filter(|(st, _)| q.states.contains(*st))
        .flat_map(|(_, bits)| bits.iter())
        .fold(0, |m, b| m | (1 << b))
}

/// The dump requests a query needs: one per protocol and family, with the state mask and
/// port filter applied in the kernel.
fn requests(q: &Query) -> Vec<DiagRequest> {
    let mut out = Vec::with_capacity(4);
    let tcp = tcp_mask(q);
    let udp = if q.states.contains(State::Unconn) {
        1 << tcp_state::CLOSE
    } else {
        0
    } | if q.states.contains(State::Established) {
        1 << tcp_state::ESTABLISHED
    } else {
        0
    };
    for (want, protocol, states) in [(q.tcp, IPPROTO_TCP, tcp), (q.udp, IPPROTO_UDP, udp)] {
        if !want || states == 0 {
            continue;
        }
        if protocol == IPPROTO_TCP && q.ipv4 && q.ipv6 {
            out.push(DiagRequest {
                family: AF_UNSPEC,
                protocol,
                states,
                sport: q.port,
                dport_too: q.either_end,
            });
            continue;
        }
        for (fam_ok, family) in [(q.ipv4, AF_INET), (q.ipv6, AF_INET6)] {
            if fam_ok {
                out.push(DiagRequest {
                    family,
                    protocol,
                    states,
                    sport: q.port,
                    dport_too: q.either_end,
                });
            }
        }
    }
    out
}

/// Turns a kernel socket record into the model, in the given namespace.
fn to_socket(d: &DiagSocket, protocol: u8, netns: NetNs) -> Socket {
    let proto = if protocol == IPPROTO_UDP {
        Proto::Udp
    } else {
        Proto::Tcp
    };
    let state = match (proto, d.state) {
        (Proto::Udp, tcp_state::ESTABLISHED) => State::Established,
        (Proto::Udp, _) => State::Unconn,
        (Proto::Tcp, s) => match s {
            tcp_state::ESTABLISHED => State::Established,
            tcp_state::SYN_SENT => State::SynSent,
            tcp_state::SYN_RECV | tcp_state::NEW_SYN_RECV => State::SynRecv,
            tcp_state::FIN_WAIT1 => State::FinWait1,
            tcp_state::FIN_WAIT2 => State::FinWait2,
            tcp_state::TIME_WAIT => State::TimeWait,
            tcp_state::CLOSE_WAIT => State::CloseWait,
            tcp_state::LAST_ACK => State::LastAck,
            tcp_state::LISTEN => State::Listen,
            tcp_state::CLOSING => State::Closing,
            // Bound-inactive sockets are reported with state CLOSE; no other CLOSE socket
            // sits in the tables the kernel dumps.
            tcp_state::CLOSE | tcp_state::BOUND_INACTIVE => State::Bound,
            _ => State::Close,
        },
    };
    let remote = (!matches!(state, State::Listen | State::Unconn | State::Bound)
        && (!d.dst.is_unspecified() || d.dport != 0))
        .then(|| Endpoint::new(d.dst, d.dport));
    let v6only = if d.family == AF_INET6 { d.v6only } else { None };
    Socket {
        proto,
        local: Endpoint::new(d.src, d.sport),
        remote,
        state,
        inode: u64::from(d.inode),
        uid: Some(d.uid),
        netns,
        recv_q: d.rqueue,
        send_q: d.wqueue,
        v6only,
        exposure: Exposure::classify(d.src, netns.host),
        owners: Vec::new(),
        owner_note: None,
        cgroup: d.cgroup,
        device: (d.ifindex != 0).then_some(d.ifindex),
    }
}

/// Reads `{dir}/tcp`, `tcp6`, `udp`, `udp6` as the requests ask, tagging each record with
/// its protocol in `protocol` order (TCP first, then UDP).
pub(crate) fn read_proc_net_tables(dir: &str, reqs: &[DiagRequest], out: &mut Vec<DiagSocket>) {
    let tables = reqs.iter().flat_map(|r| {
        let fams: &[u8] = if r.family == AF_UNSPEC {
            &[AF_INET, AF_INET6]
        } else {
            std::slice::from_ref(&r.family)
        };
        fams.iter().map(move |&f| (r, f))
    });
    for (r, family) in tables {
        let (name, v6) = match (r.protocol, family) {
            (IPPROTO_TCP, AF_INET) => ("tcp", false),
            (IPPROTO_TCP, _) => ("tcp6", true),
            (_, AF_INET) => ("udp", false),
            (_, _) => ("udp6", true),
        };
        if let Some(text) = read_text(&format!("{dir}/{name}")) {
            let start = out.len();
            proc_net::parse(&text, v6, out);
            // Tag the protocol in the family byte's spare high bit, undone by the caller.
            for d in &mut out[start..] {
                d.family |= if r.protocol == IPPROTO_UDP { 0x80 } else { 0 };
            }
        }
    }
}

/// Reads sockets with netlink, tagging each with its protocol as above.
fn read_netlink(reqs: &[DiagRequest], out: &mut Vec<DiagSocket>) -> Result<()> {
    let fd = sock_diag::open()?;
    for r in reqs {
        let start = out.len();
        sock_diag::dump(&fd, r, out)?;
        for d in &mut out[start..] {
            d.family |= if r.protocol == IPPROTO_UDP { 0x80 } else { 0 };
        }
    }
    Ok(())
}

/// Reads the focus port's sockets again with a port-filtered dump and puts them in place of
/// what the whole-table dump gave for that port. A large dump spans many replies, and the
/// kernel resumes each by bucket position: a socket that closes meanwhile shifts the rest
/// of its bucket, and one of them (a SO_REUSEPORT listener, say) is never sent. The
/// filtered dump fits one reply, so it has no such gap.
fn reread_focus(q: &Query, reqs: &[DiagRequest], list: &mut Vec<DiagSocket>) -> Result<()> {
    let Some(port) = q.focus.filter(|_| q.port.is_none()) else {
        return Ok(());
    };
    let focused: Vec<DiagRequest> = reqs
        .iter()
        .map(|r| DiagRequest {
            sport: Some(port),
            ..*r
        })
        .collect();
    let mut again = Vec::new();
    read_netlink(&focused, &mut again)?;
    list.retain(|d| d.sport != port);
    list.extend(again);
    Ok(())
}

fn convert(list: Vec<DiagSocket>, netns: NetNs, out: &mut Vec<Socket>) {
    out.extend(list.into_iter().map(|mut d| {
        let protocol = if d.family & 0x80 != 0 {
            IPPROTO_UDP
        } else {
            IPPROTO_TCP
        };
        d.family &= 0x7f;
        to_socket(&d, protocol, netns)
    }));
}

fn own_netns() -> Option<u64> {
    let link = std::fs::read_link("/proc/self/ns/net").ok()?;
    fds::parse_bracketed(link.to_string_lossy().as_bytes(), b"net:[")
}

fn own_proc_net_ino() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/net/tcp")
        .ok()
        .map(|m| m.ino())
}

// Every platform's `collect` returns a Result; this one falls back instead of failing.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn collect(q: &Query) -> Result<Raw> {
    let reqs = requests(q);
    let host = NetNs {
        inode: own_netns(),
        host: true,
    };
    let mut raw = Raw::default();
    let mut list = Vec::new();
    // The fd scan runs beside the netlink dump: the dump is kernel work on this thread, and
    // the scan's threads leave gaps it fills.
    let scan = std::thread::scope(|s| {
        let scan = (q.owners || q.other_netns).then(|| s.spawn(|| fds::scan(q.other_netns)));
        let netlink = if q.force_proc_net {
            Err(crate::Error::Netlink(
                "disabled by LPORT_FORCE_PROC_NET".into(),
            ))
        } else {
            read_netlink(&reqs, &mut list).and_then(|()| reread_focus(q, &reqs, &mut list))
        };
        if let Err(e) = netlink {
            list.clear();
            let cause =
                std::error::Error::source(&e).map_or_else(String::new, |c| format!(": {c}"));
            raw.notes.push(format!(
                "netlink sock_diag unavailable ({e}{cause}); read /proc/net instead, which lacks bound-only TCP sockets, IPv6-only flags and listen backlogs"
            ));
            read_proc_net_tables("/proc/net", &reqs, &mut list);
        }
        scan.map(|h| h.join().unwrap_or_default())
    });
    convert(list, host, &mut raw.sockets);
    let Some(scan) = scan else {
        return Ok(raw);
    };
    raw.unreadable_pids = scan.unreadable;
    if q.owners {
        raw.holders = scan.holders;
        raw.holders.sort_unstable();
        look_again(&mut raw, q.focus);
    }
    if q.other_netns {
        read_other_namespaces(&scan.netns, host.inode, &reqs, &mut raw);
    }
    Ok(raw)
}

/// At most this many sockets without a holder get a second look (each costs a read of its
/// cgroup's processes and a port-filtered dump).
const SECOND_LOOKS: usize = 64;

/// The init PID namespace's inode number (`PROC_PID_INIT_INO`).
const INIT_PID_NS: u64 = 0xEFFF_FFFC;

/// Sockets of this namespace that the fd scan found no holder for get a second look: the
/// processes of the socket's cgroup are read again, threads with fd tables of their own
/// included (a socket made after the scan passed its process, or held by such a thread),
/// and the ones still without a holder are checked to exist (one that closed meanwhile is
/// no mystery).
/// With a `focus` port (`why`), only that port's sockets get it: the others are context.
fn look_again(raw: &mut Raw, focus: Option<u16>) {
    use std::collections::{BTreeSet, HashSet};
    raw.saw_every_process = is_privileged()
        && std::fs::metadata("/proc/self/ns/pid")
            .is_ok_and(|m| std::os::unix::fs::MetadataExt::ino(&m) == INIT_PID_NS);
    let held: HashSet<u64> = raw.holders.iter().map(|(ino, _)| *ino).collect();
    // Another user's sockets are hidden from a user who is not root: nothing to look for.
    let me = (!is_privileged()).then(|| rustix::process::geteuid().as_raw());
    let unowned: Vec<&Socket> = raw
        .sockets
        .iter()
        .filter(|s| s.netns.host && s.inode != 0 && !held.contains(&s.inode))
        .filter(|s| me.is_none_or(|uid| s.uid == Some(uid)))
        .filter(|s| focus.is_none_or(|p| s.local.port == p))
        .take(SECOND_LOOKS)
        .collect();
    if unowned.is_empty() {
        return;
    }
    let wanted: HashSet<u64> = unowned.iter().map(|s| s.inode).collect();
    let cgroups: BTreeSet<u64> = unowned.iter().filter_map(|s| s.cgroup).collect();
    let pids: BTreeSet<u32> = cgroups.into_iter().flat_map(cgroup::procs_of_id).collect();
    let pids: Vec<u32> = pids.into_iter().collect();
    let found = fds::look_again(&pids, &wanted);
    let found_inodes: HashSet<u64> = found.iter().map(|(ino, _)| *ino).collect();
    // Still without a holder: does it still exist? One dump per port, filtered in the kernel.
    let mut ports: BTreeSet<(Proto, u16)> = BTreeSet::new();
    for s in unowned.iter().filter(|s| !found_inodes.contains(&s.inode)) {
        ports.insert((s.proto, s.local.port));
    }
    let mut present: HashSet<u64> = HashSet::new();
    for (proto, port) in ports {
        let q = crate::Query {
            tcp: proto == Proto::Tcp,
            udp: proto == Proto::Udp,
            port: Some(port),
            owners: false,
            other_netns: false,
            ..crate::Query::all()
        };
        let mut list = Vec::new();
        if read_netlink(&requests(&q), &mut list).is_err() {
            return;
        }
        present.extend(list.iter().map(|d| u64::from(d.inode)));
    }
    raw.gone = wanted
        .iter()
        .filter(|ino| !found_inodes.contains(ino) && !present.contains(ino))
        .copied()
        .collect();
    if !found.is_empty() {
        raw.holders.extend(found);
        raw.holders.sort_unstable();
        raw.holders.dedup();
    }
}

/// Finds each namespace other than ours among the scanned processes and reads its sockets
/// through one member.
fn read_other_namespaces(
    members: &[(u32, NsKey)],
    host: Option<u64>,
    reqs: &[DiagRequest],
    raw: &mut Raw,
) {
    let host_proc_net = own_proc_net_ino();
    let mut first: HashMap<NsKey, u32> = HashMap::new();
    for &(pid, key) in members {
        let is_host = match key {
            NsKey::Inode(i) => Some(i) == host,
            NsKey::ProcNet(i) => Some(i) == host_proc_net,
        };
        if !is_host {
            first.entry(key).or_insert(pid);
        }
    }
    let mut namespaces: Vec<(NsKey, u32)> = first.into_iter().collect();
    namespaces.sort_by_key(|&(_, pid)| pid);
    let mut fallback = 0;
    for (key, pid) in namespaces {
        let mut list = Vec::new();
        if !netns::read(pid, reqs, &mut list) {
            fallback += 1;
        }
        let netns = NetNs {
            inode: match key {
                NsKey::Inode(i) => Some(i),
                NsKey::ProcNet(_) => None,
            },
            host: false,
        };
        convert(list, netns, &mut raw.sockets);
    }
    if fallback > 0 {
        raw.notes.push(format!(
            "{fallback} other network namespace{} read from /proc/<pid>/net (entering a namespace needs root): bound-only TCP sockets are not shown there",
            if fallback == 1 { " was" } else { "s were" }
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::StateSet;
    use std::net::IpAddr;

    #[test]
    fn a_signal_reaches_only_the_process_that_was_planned() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let pid = child.id();
        let ticks = start_ticks(pid).expect("start time");
        // Another start time: another process, whatever its pid. Nothing is sent.
        let e = send_signal(pid, Some(ticks + 1), crate::kill::Signal::Term)
            .expect_err("not the planned process");
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        assert!(child.try_wait().expect("wait").is_none(), "still running");
        send_signal(pid, Some(ticks), crate::kill::Signal::Term).expect("signalled");
        let status = child.wait().expect("wait");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(15)
        );
    }

    #[test]
    fn listener_requests_ask_only_for_listener_states() {
        let reqs = requests(&Query::listeners());
        assert_eq!(reqs.len(), 3, "TCP asks once for both families");
        assert_eq!(reqs[0].family, AF_UNSPEC);
        let tcp = reqs
            .iter()
            .find(|r| r.protocol == IPPROTO_TCP)
            .expect("tcp");
        assert_eq!(
            tcp.states,
            (1 << tcp_state::LISTEN) | (1 << tcp_state::BOUND_INACTIVE)
        );
        let udp = reqs
            .iter()
            .find(|r| r.protocol == IPPROTO_UDP)
            .expect("udp");
        assert_eq!(udp.states, 1 << tcp_state::CLOSE);
        let q = Query {
            udp: false,
            ipv6: false,
            states: [State::Established].into_iter().collect::<StateSet>(),
            port: Some(80),
            ..Query::listeners()
        };
        let reqs = requests(&q);
        assert_eq!(reqs.len(), 1);
        assert_eq!(
            (reqs[0].states, reqs[0].sport),
            (1 << tcp_state::ESTABLISHED, Some(80))
        );
    }

    #[test]
    fn kernel_states_map_to_model_states() {
        let d = |state: u8, dst: &str, dport: u16| DiagSocket {
            family: AF_INET,
            state,
            src: "127.0.0.1".parse().expect("ip"),
            sport: 5000,
            dst: dst.parse::<IpAddr>().expect("ip"),
            dport,
            rqueue: 0,
            wqueue: 0,
            uid: 0,
            inode: 1,
            v6only: Some(true),
            cgroup: None,
            ifindex: 0,
        };
        let ns = NetNs {
            inode: Some(1),
            host: true,
        };
        let s = to_socket(&d(tcp_state::CLOSE, "0.0.0.0", 0), IPPROTO_TCP, ns);
        assert_eq!((s.state, s.remote, s.v6only), (State::Bound, None, None));
        let s = to_socket(&d(tcp_state::ESTABLISHED, "127.0.0.1", 80), IPPROTO_TCP, ns);
        assert_eq!(s.state, State::Established);
        assert_eq!(s.remote.map(|r| r.port), Some(80));
        let s = to_socket(&d(tcp_state::CLOSE, "0.0.0.0", 0), IPPROTO_UDP, ns);
        assert_eq!(s.state, State::Unconn);
        let other = NetNs {
            inode: Some(2),
            host: false,
        };
        let s = to_socket(&d(tcp_state::LISTEN, "0.0.0.0", 0), IPPROTO_TCP, other);
        assert_eq!(s.exposure, Exposure::OtherNetns);
    }
}

/// Every parser takes bytes from the kernel or from other processes (names, cgroup paths);
/// none may panic on any input, and a process is never lost because of its name.
#[cfg(test)]
mod robustness {
    use proptest::prelude::*;

    use super::{cgroup, fds, proc_net, process, sock_diag};

    /// Text made of the characters these formats use, so parsing gets deep, with a few
    /// that are not ASCII or not printable.
    fn procish() -> impl Strategy<Value = String> {
        const ALPHABET: &[char] = &[
            '0', '1', '7', 'A', 'F', ':', ' ', '\n', '(', ')', '/', '-', 'S', '\0', '[', ']', '.',
            'x', '\u{1b}', '\u{fffd}', '\u{e9}', '\t',
        ];
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|v| {
            v.into_iter()
                .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()])
                .collect()
        })
    }

    /// A netlink message header with any length and type, then any payload: lengths that
    /// lie are the interesting case.
    fn netlink() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<u32>(),
            prop_oneof![Just(20u16), Just(2), Just(3), any::<u16>()],
            proptest::collection::vec(any::<u8>(), 0..400),
        )
            .prop_map(|(len, ty, payload)| {
                let mut b = Vec::with_capacity(16 + payload.len());
                b.extend_from_slice(&(len % 1024).to_ne_bytes());
                b.extend_from_slice(&ty.to_ne_bytes());
                b.extend_from_slice(&[0; 10]);
                b.extend(payload);
                b
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn netlink_replies_never_panic(b in netlink()) {
            let mut out = Vec::new();
            let _ = sock_diag::parse_reply(&b, &mut out);
            prop_assert!(out.len() <= b.len() / 16 + 1);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn proc_text_never_panics(text in procish(), v6 in any::<bool>()) {
            let mut out = Vec::new();
            proc_net::parse(&text, v6, &mut out);
            let _ = process::parse_stat(&text);
            let _ = process::parse_cmdline(text.as_bytes());
            let _ = cgroup::process_cgroup(&text);
            let _ = cgroup::cgroup2_mount(&text);
            let _ = fds::parse_bracketed(text.as_bytes(), b"socket:[");
            let _ = crate::ports::parse_reserved_ports(&text);
            let _ = crate::ports::parse_port_range(&text);
            let _ = crate::inventory::cgroup_names(&text);
        }

        /// Regression: a `comm` that is not UTF-8 made `/proc/<pid>/stat` unreadable and the
        /// process vanished. Any name of up to 15 bytes, read as the kernel writes it,
        /// parses, with every other field intact.
        #[test]
        fn any_process_name_parses(comm in proptest::collection::vec(1u8..=255, 0..16)) {
            let mut raw = b"4242 (".to_vec();
            raw.extend_from_slice(&comm);
            raw.extend_from_slice(
                b") T 17 4242 17 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 1\n",
            );
            let text = String::from_utf8_lossy(&raw);
            let st = process::parse_stat(&text).expect("parsed");
            prop_assert_eq!(st.state, 'T');
            prop_assert_eq!(st.ppid, 17);
            prop_assert_eq!(st.start_ticks, 987_654);
            prop_assert_eq!(st.comm, String::from_utf8_lossy(&comm).into_owned());
        }

        #[test]
        fn any_command_line_parses(args in proptest::collection::vec(
            proptest::collection::vec(1u8..=255, 1..20), 1..6)) {
            let mut raw = Vec::new();
            for a in &args {
                raw.extend_from_slice(a);
                raw.push(0);
            }
            let parsed = process::parse_cmdline(&raw);
            prop_assert_eq!(parsed.len(), args.len());
        }
    }
}

/// Forwarding the OS itself configures for a port (Windows' portproxy): none here.
pub(crate) fn port_forwards(_port: u16) -> Vec<String> {
    Vec::new()
}

/// Whether `lo` is up in lport's network namespace (IFF_UP in its flags); `None` when
/// sysfs does not say.
pub(crate) fn loopback_up() -> Option<bool> {
    let flags = read_text("/sys/class/net/lo/flags")?;
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).ok()?;
    Some(flags & 0x1 != 0)
}

/// With `on`, makes closing `tcp` send a reset (SO_LINGER with no time) so the connection
/// leaves no TIME_WAIT behind, on either side: lport's probes must not hold the port they
/// probed. Without, closing is the normal FIN again.
pub(crate) fn reset_on_close(tcp: &std::net::TcpStream, on: bool) {
    let _ = rustix::net::sockopt::set_socket_linger(tcp, on.then_some(std::time::Duration::ZERO));
}

/// The system's CA bundle (Debian's, Fedora's, SUSE's, Alpine's path: the first that
/// exists), or `SSL_CERT_FILE` and `SSL_CERT_DIR` as OpenSSL reads them.
#[cfg(feature = "tls")]
pub(crate) fn trust_roots() -> super::TrustRoots {
    super::unix::openssl_roots(&[
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
        "/etc/ssl/ca-bundle.pem",
        "/etc/pki/tls/cacert.pem",
        "/etc/ssl/cert.pem",
    ])
}

/// Whether IPv6 is off on `lo` (or the kernel has no IPv6 at all).
pub(crate) fn ipv6_loopback_disabled() -> bool {
    read_text("/proc/sys/net/ipv6/conf/lo/disable_ipv6").is_none_or(|v| v.trim() == "1")
}

/// One non-blocking connect to a unix socket: `WouldBlock` when its accept queue is full.
/// `@name` is a name in the abstract namespace.
pub(crate) fn unix_connect_once(path: &std::path::Path) -> std::io::Result<()> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    use std::os::unix::ffi::OsStrExt as _;
    let bytes = path.as_os_str().as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddrUnix::new_abstract_name(name)?,
        None => SocketAddrUnix::new(path)?,
    };
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    match rustix::net::connect(&fd, &addr) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INPROGRESS) => {
            Err(std::io::ErrorKind::WouldBlock.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// The unix sockets of this network namespace bound to `path` (`@name`: abstract), from
/// /proc/net/unix (flags 00010000 is __SO_ACCEPTCON, a listener); with `holders`, the
/// processes that hold each (one scan of every fd table).
pub(crate) fn unix_bound(path: &std::path::Path, holders: bool) -> Option<Vec<super::UnixBound>> {
    let table = read_text("/proc/net/unix")?;
    let want = path.to_string_lossy();
    let mut found: Vec<super::UnixBound> = parse_proc_net_unix(&table, |name| name == want)
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    if holders {
        add_unix_holders(found.iter_mut());
    }
    Some(found)
}

/// The named, listening unix sockets of this network namespace held by processes whose
/// `comm` is one of `programs` (only their fd tables are read, not every process's), with
/// those holders; sockets named `.s.PGSQL.*` are included whoever holds them.
pub(crate) fn unix_listeners(programs: &[&str]) -> Option<Vec<(String, super::UnixBound)>> {
    let table = read_text("/proc/net/unix")?;
    let mut found: Vec<(String, super::UnixBound)> =
        parse_proc_net_unix(&table, |name| !name.is_empty())
            .into_iter()
            .filter(|(_, b)| b.listening)
            .collect();
    let by_inode: std::collections::HashMap<u64, usize> = found
        .iter()
        .enumerate()
        .map(|(i, (_, b))| (b.inode, i))
        .collect();
    for pid in fds::pids() {
        let Some(comm) = read_text(&format!("/proc/{pid}/comm")) else {
            continue;
        };
        if !programs.contains(&comm.trim()) {
            continue;
        }
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for e in dir.flatten() {
            let Ok(link) = std::fs::read_link(e.path()) else {
                continue;
            };
            let Some(inode) =
                fds::parse_bracketed(link.as_os_str().as_encoded_bytes(), b"socket:[")
            else {
                continue;
            };
            if let Some(&i) = by_inode.get(&inode)
                && !found[i].1.pids.contains(&pid)
            {
                found[i].1.pids.push(pid);
            }
        }
    }
    found.retain(|(name, b)| !b.pids.is_empty() || name.contains("/.s.PGSQL."));
    Some(found)
}

/// Fills in the processes holding these unix sockets (one scan of every fd table).
fn add_unix_holders<'a>(sockets: impl Iterator<Item = &'a mut super::UnixBound>) {
    let mut by_inode: std::collections::HashMap<u64, &mut super::UnixBound> =
        sockets.map(|b| (b.inode, b)).collect();
    if by_inode.is_empty() {
        return;
    }
    for (inode, owner) in fds::scan(false).holders {
        if let Some(b) = by_inode.get_mut(&inode)
            && !b.pids.contains(&owner.pid)
        {
            b.pids.push(owner.pid);
        }
    }
    for b in by_inode.values_mut() {
        b.pids.sort_unstable();
    }
}

/// The rows of /proc/net/unix whose path `wanted` accepts, with their paths, listeners
/// first.
fn parse_proc_net_unix(
    table: &str,
    wanted: impl Fn(&str) -> bool,
) -> Vec<(String, super::UnixBound)> {
    let mut found: Vec<(String, super::UnixBound)> = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            // Num RefCount Protocol Flags Type St Inode Path: seven fields (the inode
            // right-aligned), one space, then the path, which may hold spaces.
            let mut rest = l;
            let mut f = [""; 7];
            for field in &mut f {
                rest = rest.trim_start();
                let end = rest.find(' ').unwrap_or(rest.len());
                *field = &rest[..end];
                rest = &rest[end..];
            }
            let name = rest.strip_prefix(' ').unwrap_or_default();
            let inode: u64 = f[6].parse().ok()?;
            // Inode 0: a client still connecting, which has no name of its own.
            if !wanted(name) || inode == 0 {
                return None;
            }
            let b = super::UnixBound {
                inode,
                kind: match f[4] {
                    "0001" => "stream",
                    "0002" => "dgram",
                    "0005" => "seqpacket",
                    _ => "other",
                },
                listening: f[3] == "00010000",
                connected: f[5] == "03",
                pids: Vec::new(),
            };
            Some((name.to_owned(), b))
        })
        .collect();
    found.sort_by_key(|(_, b)| !b.listening);
    found
}

/// `pid`'s open descriptors (`/proc/PID/fd`, by kind) against its soft `RLIMIT_NOFILE`
/// (`/proc/PID/limits`); `None` where either cannot be read.
pub(crate) fn fd_usage(pid: u32) -> Option<super::FdUsage> {
    let limits = read_text(&format!("/proc/{pid}/limits"))?;
    let limit = parse_nofile_limit(&limits)?;
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let mut kinds: Vec<(&'static str, u64)> = Vec::new();
    let mut open = 0;
    for e in dir.flatten() {
        open += 1;
        let kind = match std::fs::read_link(e.path()) {
            Ok(t) => {
                let t = t.to_string_lossy();
                if t.starts_with("socket:") {
                    "sockets"
                } else if t.starts_with("pipe:") {
                    "pipes"
                } else if t.starts_with("anon_inode:") {
                    "anonymous (epoll, eventfd, ...)"
                } else {
                    "files"
                }
            }
            Err(_) => "closed while read",
        };
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((kind, 1)),
        }
    }
    kinds.sort_by_key(|k| std::cmp::Reverse(k.1));
    Some(super::FdUsage { limit, open, kinds })
}

/// The soft limit of "Max open files" in /proc/PID/limits (`unlimited` is none).
fn parse_nofile_limit(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Who lport runs as: user and groups.
pub(crate) fn who_am_i() -> String {
    let mut gids: Vec<u32> = vec![rustix::process::getgid().as_raw()];
    if let Ok(g) = rustix::process::getgroups() {
        gids.extend(g.iter().map(|g| g.as_raw()));
    }
    gids.dedup();
    super::unix::describe_ids(rustix::process::getuid().as_raw(), &gids)
}

pub(crate) fn process_cwd(pid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/cwd"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Kernel log lines about processes the kernel killed or that crashed (OOM kills,
/// segfaults), with when (ms since the epoch). Reading `/dev/kmsg` needs root where
/// `kernel.dmesg_restrict` is set; without it this is empty.
pub(crate) fn kernel_log_kills() -> Vec<(i64, String)> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let Ok(mut f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
    else {
        return Vec::new();
    };
    let mono_us = {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid timespec to write into.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
        ts.tv_sec * 1_000_000 + ts.tv_nsec / 1000
    };
    let now_ms = (crate::history::now_ns() / 1_000_000) as i64;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 8192];
    // One record per read; at most this many, so a huge log costs a bounded time.
    for _ in 0..100_000 {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            // EPIPE: a record was overwritten while reading; the next read goes on.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(_) => break,
        };
        let rec = String::from_utf8_lossy(&buf[..n]);
        let Some((head, msg)) = rec.split_once(';') else {
            continue;
        };
        let msg = msg.lines().next().unwrap_or("");
        if !(msg.contains("Killed process")
            || msg.contains("segfault at")
            || msg.contains("general protection"))
        {
            continue;
        }
        let usec: i64 = head
            .split(',')
            .nth(2)
            .and_then(|u| u.parse().ok())
            .unwrap_or(mono_us);
        out.push((now_ms - (mono_us - usec) / 1000, msg.to_owned()));
    }
    out
}

#[cfg(test)]
mod limits_tests {
    #[test]
    fn nofile_soft_limit() {
        let text = "Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
";
        assert_eq!(super::parse_nofile_limit(text), Some(1024));
        assert_eq!(
            super::parse_nofile_limit("Max open files  unlimited unlimited files"),
            None
        );
    }
}

#[cfg(test)]
mod unix_table_tests {
    #[test]
    fn proc_net_unix_rows_by_name() {
        let table = "Num       RefCount Protocol Flags    Type St Inode Path
000000004e357ed7: 00000002 00000000 00000000 0002 01 5885808 /tmp/ux/dgram
00000000db4dc368: 00000002 00000000 00000000 0001 02     0 @abs
00000000b2189892: 00000002 00000000 00010000 0001 01 5885807 @abs
00000000b2189893: 00000003 00000000 00000000 0001 03 5885809 @abs
00000000b2189894: 00000002 00000000 00010000 0001 01 5885810 /tmp/a b.sock
";
        let abs = super::parse_proc_net_unix(table, |n| n == "@abs")
            .into_iter()
            .map(|(_, b)| b)
            .collect::<Vec<_>>();
        assert_eq!(
            abs.len(),
            2,
            "the connecting client (inode 0) has no name: {abs:?}"
        );
        assert!(abs[0].listening && abs[0].inode == 5_885_807 && abs[0].kind == "stream");
        assert!(!abs[1].listening && abs[1].connected);
        let d: Vec<_> = super::parse_proc_net_unix(table, |n| n == "/tmp/ux/dgram")
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        assert_eq!(
            (d[0].kind, d[0].listening, d[0].connected),
            ("dgram", false, false)
        );
        assert_eq!(
            super::parse_proc_net_unix(table, |n| n == "/tmp/a b.sock").len(),
            1
        );
        assert!(super::parse_proc_net_unix(table, |n| n == "/tmp/a").is_empty());
    }
}
