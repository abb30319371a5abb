//! One consistent read of sockets, their owners and the owning processes.
//!
//! The platform layer reads the kernel tables and the fd tables once; this module filters,
//! attaches owners, loads details only for processes that hold a listed socket, and makes
//! sure an empty owner list is never silent: every such socket gets an `owner_note`.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::error::Result;
use crate::model::{ALL_STATES, Process, Proto, Socket, State};
use crate::sys;
use crate::users::Users;

/// A set of socket states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateSet(u16);

impl StateSet {
    /// No state.
    #[must_use]
    pub fn empty() -> StateSet {
        StateSet(0)
    }

    /// Every state.
    #[must_use]
    pub fn all() -> StateSet {
        ALL_STATES.into_iter().collect()
    }

    /// The listener states: TCP listen, TCP bound, UDP unconnected.
    #[must_use]
    pub fn listeners() -> StateSet {
        [State::Listen, State::Bound, State::Unconn]
            .into_iter()
            .collect()
    }

    fn bit(st: State) -> u16 {
        1 << ALL_STATES.iter().position(|s| *s == st).unwrap_or(0)
    }

    /// Adds a state.
    pub fn insert(&mut self, st: State) {
        self.0 |= Self::bit(st);
    }

    /// True when the set holds `st`.
    #[must_use]
    pub fn contains(self, st: State) -> bool {
        self.0 & Self::bit(st) != 0
    }

    /// True when the set is empty.
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<State> for StateSet {
    fn from_iter<I: IntoIterator<Item = State>>(iter: I) -> Self {
        let mut s = StateSet::empty();
        for st in iter {
            s.insert(st);
        }
        s
    }
}

/// What to read. The kernel does the filtering where it can (state mask, port bytecode).
#[derive(Debug, Clone)]
pub struct Query {
    /// Include TCP sockets.
    pub tcp: bool,
    /// Include UDP sockets.
    pub udp: bool,
    /// Include IPv4 sockets.
    pub ipv4: bool,
    /// Include IPv6 sockets.
    pub ipv6: bool,
    /// States to include.
    pub states: StateSet,
    /// Only sockets whose local port is this.
    pub port: Option<u16>,
    /// With `port`: also the sockets whose remote port it is (the client side of a
    /// connection to it, as `ss '( sport = :P or dport = :P )'` shows).
    pub either_end: bool,
    /// Map sockets to the processes holding them (scans every process's fd table).
    pub owners: bool,
    /// Also read the sockets of other network namespaces (containers, `ip netns`).
    pub other_netns: bool,
    /// Read `/proc/net` instead of netlink (for testing the fallback).
    pub force_proc_net: bool,
    /// The port the caller cares most about: where the platform's whole-table read is not
    /// atomic (Linux's sock_diag dump resumes by position between replies, and can skip a
    /// socket while others open and close), this port's sockets are read again on their
    /// own, in one reply, so none of them is missed.
    pub focus: Option<u16>,
}

impl Query {
    /// Listeners of every protocol and family, with owners, in every namespace.
    #[must_use]
    pub fn listeners() -> Query {
        Query {
            tcp: true,
            udp: true,
            ipv4: true,
            ipv6: true,
            states: StateSet::listeners(),
            port: None,
            either_end: false,
            owners: true,
            other_netns: true,
            force_proc_net: std::env::var_os("LPORT_FORCE_PROC_NET").is_some(),
            focus: None,
        }
    }

    /// Every socket in every state.
    #[must_use]
    pub fn all() -> Query {
        Query {
            states: StateSet::all(),
            ..Query::listeners()
        }
    }

    /// Every socket in any state whose local port is `port`.
    #[must_use]
    pub fn port(port: u16) -> Query {
        Query {
            port: Some(port),
            ..Query::all()
        }
    }

    /// Whether a socket read from the kernel matches this query (the kernel filters
    /// coarsely; this is the exact check, also used for the `/proc/net` fallback).
    #[must_use]
    pub fn matches(&self, s: &Socket) -> bool {
        let proto_ok = match s.proto {
            Proto::Tcp => self.tcp,
            Proto::Udp => self.udp,
        };
        let fam_ok = if s.is_v6() { self.ipv6 } else { self.ipv4 };
        proto_ok
            && fam_ok
            && self.states.contains(s.state)
            && self.port.is_none_or(|p| {
                s.local.port == p || (self.either_end && s.remote.is_some_and(|r| r.port == p))
            })
    }
}

/// Sockets, the processes that hold them, and notes on what could not be seen.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// Sockets, sorted by protocol, port, address, state.
    pub sockets: Vec<Socket>,
    /// Every process holding a listed socket, sorted by pid.
    pub processes: Vec<Process>,
    /// What the user should know about this snapshot (fallbacks, hidden owners).
    pub notes: Vec<String>,
    /// Sockets whose owner is hidden from this user; root would show them.
    #[serde(skip)]
    pub hidden_owners: usize,
}

impl Snapshot {
    /// The process with this pid, if it is in the snapshot.
    #[must_use]
    pub fn process(&self, pid: u32) -> Option<&Process> {
        self.processes
            .binary_search_by_key(&pid, |p| p.pid)
            .ok()
            .map(|i| &self.processes[i])
    }
}

/// Reads the sockets `query` asks for, with their owners.
pub fn snapshot(query: &Query) -> Result<Snapshot> {
    let raw = sys::collect(query)?;
    Ok(assemble(query, raw, &Users::load(), sys::is_privileged()))
}

/// Reads these processes now, with user names filled in; those that exited are left out.
#[must_use]
pub fn processes(pids: &[u32]) -> Vec<Process> {
    let mut list = sys::processes(pids);
    complete(&mut list, &Users::load());
    list
}

/// The unix sockets bound to `path` (`@name`: a name in Linux's abstract namespace), with
/// the processes holding each, listeners first; `None` where the OS does not say (only
/// Linux lists unix sockets: /proc/net/unix).
#[must_use]
pub fn unix_sockets(path: &std::path::Path) -> Option<Vec<crate::sys::UnixBound>> {
    sys::unix_bound(path, true)
}

/// A process's working directory, where this user may read it.
#[must_use]
pub fn process_cwd(pid: u32) -> Option<String> {
    sys::process_cwd(pid)
}

/// Counts the sockets `query` matches by protocol and state, without owners, sorting or
/// notes: the cheap path for metrics.
pub fn count_by_state(query: &Query) -> Result<std::collections::BTreeMap<(Proto, State), usize>> {
    let q = Query {
        owners: false,
        other_netns: false,
        ..query.clone()
    };
    let raw = sys::collect(&q)?;
    let mut out = std::collections::BTreeMap::new();
    for s in raw.sockets.iter().filter(|s| q.matches(s)) {
        *out.entry((s.proto, s.state)).or_insert(0) += 1;
    }
    Ok(out)
}

/// Builds a snapshot from what the platform layer read: owners attached, notes written,
/// processes loaded. Split out so it can run on hand-made input.
fn assemble(query: &Query, raw: sys::Raw, users: &Users, privileged: bool) -> Snapshot {
    assemble_with(query, raw, users, privileged, sys::processes)
}

/// `assemble` with the process reader given, so tests can feed another platform's
/// processes through it.
/// What a process's fields give once read: the user name for its uid (Windows names the
/// account itself), a docker-proxy's container.
fn complete(list: &mut [Process], users: &Users) {
    for p in list {
        if let Some(uid) = p.uid {
            p.user = users.name(uid).map(str::to_owned);
        }
        if p.name == "docker-proxy" {
            p.container = docker_proxy_target(&p.cmdline).or(p.container.take());
        }
    }
}

pub(crate) fn assemble_with(
    query: &Query,
    raw: sys::Raw,
    users: &Users,
    privileged: bool,
    read_processes: impl Fn(&[u32]) -> Vec<Process>,
) -> Snapshot {
    let mut sockets: Vec<Socket> = raw
        .sockets
        .into_iter()
        .filter(|s| query.matches(s))
        .collect();
    let my_uid = sys::current_uid();
    let mut hidden = 0;
    let mut cgroup_names: HashMap<u64, Option<String>> = HashMap::new();
    let mut pids = BTreeSet::new();
    for s in &mut sockets {
        let start = raw.holders.partition_point(|(ino, _)| *ino < s.inode);
        let held = raw.holders[start..]
            .iter()
            .take_while(|(ino, _)| *ino == s.inode);
        if s.inode != 0 {
            s.owners.extend(held.map(|(_, o)| *o));
        }
        if !s.owners.is_empty() {
            pids.extend(s.owners.iter().map(|o| o.pid));
            continue;
        }
        if !query.owners {
            continue;
        }
        let cgroup = s.cgroup.and_then(|id| {
            cgroup_names
                .entry(id)
                .or_insert_with(|| sys::resolve_cgroup(id))
                .clone()
        });
        let seen = Seen {
            privileged,
            every_process: raw.saw_every_process,
            gone: raw.gone.contains(&s.inode),
        };
        let (note, is_hidden) = owner_note(s, users, seen, my_uid, cgroup.as_deref());
        hidden += usize::from(is_hidden);
        // A hint the platform gave (macOS: the last pid the kernel saw use it) follows.
        s.owner_note = Some(match s.owner_note.take() {
            Some(hint) => format!("{note}; {hint}"),
            None => note,
        });
    }
    let processes: Vec<Process> = if query.owners {
        let pids: Vec<u32> = pids.into_iter().collect();
        let mut list = read_processes(&pids);
        list.sort_unstable_by_key(|p| p.pid);
        complete(&mut list, users);
        list
    } else {
        Vec::new()
    };
    // A process can exit between the fd scan and reading its details: drop its owner
    // entries rather than point at a pid that no longer exists.
    let alive: BTreeSet<u32> = processes.iter().map(|p| p.pid).collect();
    for s in &mut sockets {
        let before = s.owners.len();
        s.owners.retain(|o| alive.contains(&o.pid));
        if before > 0 && s.owners.is_empty() {
            s.owner_note = Some("its process exited while lport was reading".into());
        }
    }
    sort_for_display(&mut sockets);
    let mut notes = raw.notes;
    let mut processes = processes;
    notes.extend(name_containers(&mut processes));
    if privileged && raw.unreadable_pids > 0 {
        notes.push(format!(
            "{} process{} refused to show {} file descriptors even to root; sockets they hold show no owner",
            raw.unreadable_pids,
            if raw.unreadable_pids == 1 { "" } else { "es" },
            if raw.unreadable_pids == 1 { "its" } else { "their" },
        ));
    }
    if hidden > 0 {
        notes.push(format!(
            "{hidden} {} to other users' processes; run as root to see which",
            if hidden == 1 {
                "socket belongs"
            } else {
                "sockets belong"
            }
        ));
    }
    Snapshot {
        sockets,
        processes,
        notes,
        hidden_owners: hidden,
    }
}

/// The host namespace first, then by protocol, port, address and state.
fn sort_for_display(sockets: &mut [Socket]) {
    sockets.sort_by(|a, b| {
        (
            !a.netns.host,
            a.netns.inode,
            a.proto,
            a.local.port,
            a.local.addr,
            a.state,
            a.remote,
        )
            .cmp(&(
                !b.netns.host,
                b.netns.inode,
                b.proto,
                b.local.port,
                b.local.addr,
                b.state,
                b.remote,
            ))
    });
}

/// What lport could see when it found a socket without a holder.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    /// It runs as root (or the platform's equivalent).
    privileged: bool,
    /// It read every process on the machine (no PID namespace hides any).
    every_process: bool,
    /// The socket had closed when lport looked again.
    gone: bool,
}

/// Why a socket has no owner, and whether root would show one.
fn owner_note(
    s: &Socket,
    users: &Users,
    seen: Seen,
    my_uid: Option<u32>,
    cgroup: Option<&str>,
) -> (String, bool) {
    let privileged = seen.privileged;
    let place = cgroup
        .map(|c| {
            let (unit, container) = cgroup_names(c);
            match (container, unit) {
                (Some(id), _) => format!("; container {id}"),
                (None, Some(u)) => format!("; systemd unit {u}"),
                (None, None) if c != "/" => format!("; cgroup {c}"),
                _ => String::new(),
            }
        })
        .unwrap_or_default();
    if s.inode == 0 {
        let why = match s.state {
            State::TimeWait => {
                "time-wait: the kernel keeps a closed connection a while; no process holds it"
            }
            State::SynRecv => "handshake in progress: not yet accepted by any process",
            _ => "kernel socket: no process holds it (orphaned or closing)",
        };
        return (why.to_owned(), false);
    }
    let user = match s.uid {
        Some(uid) => users
            .name(uid)
            .map_or_else(|| format!("uid {uid}"), |n| format!("user {n}")),
        None => "another user".to_owned(),
    };
    if !privileged && s.uid != my_uid {
        return (
            format!("owner hidden: a process of {user} (needs root){place}"),
            true,
        );
    }
    if seen.gone {
        return (
            format!("it closed while lport was reading, before its process was seen{place}"),
            false,
        );
    }
    if privileged && seen.every_process {
        // Every process and thread was read: what holds a socket then is no process.
        return (
            format!(
                "no process has it in a descriptor table: it is in flight between processes (sent over a unix socket and not yet received), held by the kernel for one (io_uring registered files, a BPF map), or a kernel socket{place}"
            ),
            false,
        );
    }
    if privileged {
        (
            format!(
                "no process lport can see holds it: a kernel socket, or a process in another PID namespace (a container or sandbox){place}"
            ),
            false,
        )
    } else {
        (
            format!(
                "no visible process holds it (a kernel socket, or a process in another PID namespace){place}"
            ),
            false,
        )
    }
}

/// Names the containers behind docker-proxy holders (by the address it forwards to) and
/// behind processes in a container's cgroup (by id), asking the engines only when there
/// are such processes; a note when an engine could not be read.
fn name_containers(processes: &mut [Process]) -> Vec<String> {
    if !processes.iter().any(|p| p.container.is_some()) {
        return Vec::new();
    }
    let (containers, mut notes) = crate::containers::list();
    if crate::containers::engines().is_empty() && processes.iter().any(|p| p.name == "docker-proxy")
    {
        notes.push(
            "no container engine socket found (DOCKER_HOST, /var/run/docker.sock, /run/podman/podman.sock): containers are named by address only".into(),
        );
    }
    for p in processes.iter_mut() {
        let Some(key) = p.container.as_deref() else {
            continue;
        };
        let found = if p.name == "docker-proxy" {
            // `10.123.0.2:8080`: the container's address on the engine's network.
            let ip = key.rsplit_once(':').map_or(key, |(ip, _)| ip);
            containers
                .iter()
                .find(|c| c.addresses.iter().any(|a| a == ip))
        } else {
            containers.iter().find(|c| c.id.starts_with(key))
        };
        p.container_info = found.cloned();
    }
    notes
}

/// The systemd unit and container (short id) named by a cgroup path such as
/// `/system.slice/nginx.service` or `/system.slice/docker-<64 hex>.scope`.
pub(crate) fn cgroup_names(path: &str) -> (Option<String>, Option<String>) {
    let mut unit = None;
    let mut container = None;
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        let core = comp.strip_suffix(".scope").unwrap_or(comp);
        let core = [
            "docker-",
            "cri-containerd-",
            "crio-",
            "libpod-",
            "containerd-",
        ]
        .iter()
        .find_map(|p| core.strip_prefix(p))
        .unwrap_or(core);
        if core.len() == 64 && core.bytes().all(|b| b.is_ascii_hexdigit()) {
            container = Some(core[..12].to_owned());
        } else if [".service", ".scope", ".socket", ".mount"]
            .iter()
            .any(|sfx| comp.ends_with(sfx))
        {
            unit = Some(comp.to_owned());
        }
    }
    (unit, container)
}

/// The container address and port a `docker-proxy` forwards to, from its arguments
/// (`-container-ip 172.17.0.2 -container-port 80`).
fn docker_proxy_target(cmdline: &[String]) -> Option<String> {
    let arg = |name: &str| {
        cmdline
            .iter()
            .position(|a| a == name || a.trim_start_matches('-') == name.trim_start_matches('-'))
            .and_then(|i| cmdline.get(i + 1))
    };
    let ip = arg("-container-ip")?;
    let port = arg("-container-port")?;
    Some(if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Endpoint, Exposure, NetNs, Owner};

    fn sock(port: u16, state: State, inode: u64, uid: u32) -> Socket {
        Socket {
            proto: Proto::Tcp,
            local: Endpoint::new("127.0.0.1".parse().expect("ip"), port),
            remote: None,
            state,
            inode,
            uid: Some(uid),
            netns: NetNs {
                inode: Some(1),
                host: true,
            },
            recv_q: 0,
            send_q: 128,
            v6only: None,
            exposure: Exposure::Loopback,
            owners: Vec::new(),
            owner_note: None,
            cgroup: None,
            device: None,
        }
    }

    #[test]
    fn state_sets() {
        let l = StateSet::listeners();
        assert!(l.contains(State::Listen) && l.contains(State::Bound) && l.contains(State::Unconn));
        assert!(!l.contains(State::Established));
        assert!(StateSet::all().contains(State::TimeWait));
        assert!(StateSet::empty().is_empty());
    }

    #[test]
    fn query_filters_exactly() {
        let q = Query::listeners();
        assert!(q.matches(&sock(80, State::Listen, 1, 0)));
        assert!(!q.matches(&sock(80, State::Established, 1, 0)));
        let q = Query::port(81);
        assert!(!q.matches(&sock(80, State::Listen, 1, 0)));
        assert!(q.matches(&sock(81, State::TimeWait, 0, 0)));
    }

    #[test]
    fn empty_owners_always_get_a_note() {
        // Regression: a socket with no visible owner used to print a silent blank.
        let raw = sys::Raw {
            sockets: vec![
                sock(80, State::Listen, 10, 0),
                sock(81, State::TimeWait, 0, 0),
                sock(82, State::Listen, 11, 4242),
            ],
            ..sys::Raw::default()
        };
        let users = Users::parse("root:x:0:0::/:/bin/sh\n");
        let snap = assemble(&Query::all(), raw, &users, false);
        let note = |port: u16| {
            snap.sockets
                .iter()
                .find(|s| s.local.port == port)
                .and_then(|s| s.owner_note.clone())
                .expect("note")
        };
        assert!(note(81).starts_with("time-wait"));
        assert!(note(82).contains("uid 4242"), "{}", note(82));
        // Not root, and port 80 is root's socket: hidden unless we are root ourselves.
        if sys::current_uid() != Some(0) {
            assert!(note(80).contains("needs root"));
        }
        assert!(snap.sockets.iter().all(|s| s.owner_note.is_some()));
        // One hidden socket: "1 socket belongs", in the singular.
        let hidden = if sys::current_uid() == Some(0) { 1 } else { 2 };
        let want = if hidden == 1 {
            "1 socket belongs to other users' processes"
        } else {
            "2 sockets belong to other users' processes"
        };
        assert!(
            snap.notes.iter().any(|n| n.starts_with(want)),
            "{:?}",
            snap.notes
        );
    }

    #[test]
    fn a_socket_without_holder_is_named_by_what_lport_saw() {
        let raw = sys::Raw {
            sockets: vec![
                sock(80, State::Listen, 10, 0),
                sock(81, State::Listen, 11, 0),
            ],
            gone: vec![11],
            saw_every_process: true,
            ..sys::Raw::default()
        };
        let snap = assemble(&Query::all(), raw, &Users::default(), true);
        let note = |port: u16| {
            snap.sockets
                .iter()
                .find(|s| s.local.port == port)
                .and_then(|s| s.owner_note.clone())
                .expect("note")
        };
        assert!(
            note(80).contains("in flight between processes"),
            "{}",
            note(80)
        );
        assert!(!note(80).contains("PID namespace"), "{}", note(80));
        assert!(
            note(81).starts_with("it closed while lport was reading"),
            "{}",
            note(81)
        );
        // Inside a container's PID namespace some processes are out of sight.
        let raw = sys::Raw {
            sockets: vec![sock(80, State::Listen, 10, 0)],
            ..sys::Raw::default()
        };
        let snap = assemble(&Query::all(), raw, &Users::default(), true);
        assert!(
            snap.sockets[0]
                .owner_note
                .as_deref()
                .is_some_and(|n| n.contains("another PID namespace")),
            "{:?}",
            snap.sockets[0].owner_note
        );
    }

    #[test]
    fn holders_attach_and_vanished_processes_are_dropped() {
        let mut raw = sys::Raw {
            sockets: vec![sock(80, State::Listen, 10, 0)],
            ..sys::Raw::default()
        };
        // u32::MAX is never a live pid, so its details cannot load.
        raw.holders.push((
            10,
            Owner {
                pid: u32::MAX,
                fd: Some(3),
            },
        ));
        let snap = assemble(&Query::all(), raw, &Users::default(), true);
        assert!(snap.sockets[0].owners.is_empty());
        assert_eq!(
            snap.sockets[0].owner_note.as_deref(),
            Some("its process exited while lport was reading")
        );
    }

    #[test]
    fn cgroup_paths_name_units_and_containers() {
        assert_eq!(
            cgroup_names("/system.slice/nginx.service"),
            (Some("nginx.service".into()), None)
        );
        let id = "3f1c9a0b2d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcd";
        assert_eq!(
            cgroup_names(&format!("/system.slice/docker-{id}.scope")),
            (None, Some("3f1c9a0b2d4e".into()))
        );
        assert_eq!(
            cgroup_names(&format!("/docker/{id}")),
            (None, Some("3f1c9a0b2d4e".into()))
        );
        assert_eq!(
            cgroup_names("/user.slice/user-1000.slice/user@1000.service/app.slice/vite.service"),
            (Some("vite.service".into()), None)
        );
        assert_eq!(cgroup_names("/"), (None, None));
    }

    #[test]
    fn docker_proxy_arguments() {
        let args: Vec<String> = "/usr/bin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80"
            .split(' ')
            .map(str::to_owned)
            .collect();
        assert_eq!(docker_proxy_target(&args).as_deref(), Some("172.17.0.2:80"));
        assert_eq!(docker_proxy_target(&args[..3]), None);
    }
}
