//! Helpers for the integration tests: real listeners in real child processes, the `lport`
//! binary, network namespaces, and honest skipping (a test that cannot run here says why,
//! and fails instead under `LPORT_REQUIRE_ALL=1`, as CI sets).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

/// A Python program that opens the sockets named on its command line, prints what it opened
/// as one JSON line, and holds them until its stdin closes. Specs are `KIND@HOST`:
/// `listen`, `v6only`, `dual`, `bound`, `udp`, `conn` (a listener plus a connected pair);
/// `--fork` makes it fork afterwards so parent and child hold the same sockets;
/// `--cgroup=DIR` moves it into a cgroup v2 directory first; `--ignore-term` ignores SIGTERM.
const SOCKETS_PY: &str = r#"
import json, os, socket, sys
held, out, fork = [], [], False
def users(port):
    n = 0
    for t in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open("/proc/net/" + t) as f:
                next(f)
                n += sum(1 for l in f if int(l.split()[1].rsplit(":", 1)[1], 16) == port)
        except OSError:
            pass
    return n
for spec in sys.argv[1:]:
    if spec == "--fork":
        fork = True
        continue
    if spec == "--ignore-term":
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        continue
    if spec.startswith("--cgroup="):
        # Join a cgroup before any socket exists: a socket keeps its creator's cgroup.
        with open(spec.split("=", 1)[1] + "/cgroup.procs", "w") as f:
            f.write(str(os.getpid()))
        continue
    kind, _, host = spec.partition("@")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    typ = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    # A port no other socket in this namespace uses on any address, so that what a test
    # asserts about "its" port is not muddled by another workload's sockets.
    for _ in range(200):
        s = socket.socket(fam, typ)
        if kind in ("v6only", "dual"):
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if kind == "v6only" else 0)
        s.bind((host, 0))
        # A TCP socket only bound is in no /proc/net table; a listener or UDP one is.
        if kind in ("listen", "v6only", "dual", "conn"):
            s.listen(16)
        if users(s.getsockname()[1]) <= (0 if kind == "bound" else 1):
            break
        s.close()
    held.append(s)
    rec = {"kind": kind, "host": host, "port": s.getsockname()[1], "fd": s.fileno()}
    if kind == "conn":
        c = socket.create_connection((host, rec["port"]))
        a, _ = s.accept()
        held += [c, a]
        rec["client_port"] = c.getsockname()[1]
    out.append(rec)
child = None
if fork:
    child = os.fork()
    if child == 0:
        sys.stdin.read()
        os._exit(0)
print(json.dumps({"pid": os.getpid(), "child": child, "sockets": out}), flush=True)
sys.stdin.read()
"#;

/// The Python interpreter to use: Debian's, so it also runs under `ip netns exec`.
pub(crate) fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// One opened socket, as the helper reported it.
#[derive(Debug, Clone)]
pub(crate) struct Opened {
    pub(crate) kind: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) fd: u32,
    pub(crate) client_port: Option<u16>,
}

/// A child process holding sockets; killed (with its forked child) when dropped.
#[allow(clippy::struct_field_names)] // `sockets.sockets` reads fine in tests
pub(crate) struct Sockets {
    child: Child,
    pub(crate) pid: u32,
    pub(crate) fork_pid: Option<u32>,
    pub(crate) sockets: Vec<Opened>,
}

impl Sockets {
    /// Opens sockets in a new child process.
    pub(crate) fn open(specs: &[&str]) -> Sockets {
        Self::open_via(&[], specs)
    }

    /// Opens sockets in a child started through `prefix` (such as `ip netns exec NAME`).
    pub(crate) fn open_via(prefix: &[&str], specs: &[&str]) -> Sockets {
        let mut argv: Vec<&str> = prefix.to_vec();
        argv.extend([python(), "-c", SOCKETS_PY]);
        argv.extend(specs);
        let mut child = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the socket helper (python3)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read helper output");
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("helper output {line:?}: {e}"));
        let sockets = v["sockets"]
            .as_array()
            .expect("sockets")
            .iter()
            .map(|s| Opened {
                kind: s["kind"].as_str().expect("kind").to_owned(),
                host: s["host"].as_str().expect("host").to_owned(),
                port: s["port"].as_u64().expect("port") as u16,
                fd: s["fd"].as_u64().expect("fd") as u32,
                client_port: s["client_port"].as_u64().map(|p| p as u16),
            })
            .collect();
        Sockets {
            child,
            pid: v["pid"].as_u64().expect("pid") as u32,
            fork_pid: v["child"].as_u64().map(|p| p as u32),
            sockets,
        }
    }

    pub(crate) fn port(&self, i: usize) -> u16 {
        self.sockets[i].port
    }

    /// Whether the helper (and its forked child) still run: not exited, not a zombie.
    pub(crate) fn alive(pid: u32) -> bool {
        // Bytes, not a string: a process name need not be UTF-8.
        std::fs::read(format!("/proc/{pid}/stat")).is_ok_and(|b| {
            let s = String::from_utf8_lossy(&b);
            let state = s.rsplit_once(") ").map(|(_, r)| r.chars().next());
            !matches!(state, Some(Some('Z' | 'X')) | None)
        })
    }
}

impl Drop for Sockets {
    fn drop(&mut self) {
        for pid in [Some(self.pid), self.fork_pid].into_iter().flatten() {
            let _ = Command::new("kill")
                .args(["-9", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `lport` binary under test: this build's, or the one `LPORT_TEST_BIN` names (to
/// run a suite against an older build and see what it fixed).
pub(crate) fn bin() -> PathBuf {
    std::env::var_os("LPORT_TEST_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_lport")), PathBuf::from)
}

/// Runs lport with the environment cleared of colour settings.
pub(crate) fn lport(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .env_remove("LPORT_FORCE_PROC_NET")
        .output()
        .expect("run lport")
}

/// Runs lport with `--json` appended and parses the document; the exit code must be 0 or 1.
pub(crate) fn lport_json(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = lport(&a);
    json_of(&out)
}

pub(crate) fn json_of(out: &Output) -> Value {
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "lport failed: {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(v["schema"], 1);
    v
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The sockets of a document on one port, any address.
pub(crate) fn on_port(doc: &Value, port: u16) -> Vec<Value> {
    doc["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .filter(|s| s["local"]["port"] == u64::from(port))
        .cloned()
        .collect()
}

/// The sockets of a document on one local address and port. Tests run side by side and
/// the machine has its own sockets, so the same port number may be in use on another
/// address; the address makes the match exact.
pub(crate) fn at(doc: &Value, addr: &str, port: u16) -> Vec<Value> {
    on_port(doc, port)
        .into_iter()
        .filter(|s| s["local"]["addr"] == addr)
        .collect()
}

/// The pids holding a socket.
pub(crate) fn owner_pids(sock: &Value) -> Vec<u32> {
    let mut p: Vec<u32> = sock["owners"]
        .as_array()
        .expect("owners")
        .iter()
        .map(|o| o["pid"].as_u64().expect("pid") as u32)
        .collect();
    p.sort_unstable();
    p.dedup();
    p
}

/// True (and a line on stderr) when the test must skip; panics instead under
/// `LPORT_REQUIRE_ALL=1`.
pub(crate) fn skip_unless(ok: bool, why: &str) -> bool {
    if ok {
        return false;
    }
    assert!(
        std::env::var("LPORT_REQUIRE_ALL").as_deref() != Ok("1"),
        "LPORT_REQUIRE_ALL=1 but this test cannot run here: {why}"
    );
    eprintln!("SKIPPED: {why}");
    true
}

pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

pub(crate) fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A network namespace made for one test, deleted when dropped (also on failure).
pub(crate) struct NetnsGuard {
    pub(crate) name: String,
}

impl NetnsGuard {
    pub(crate) fn new() -> NetnsGuard {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "lport-it-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let ok = |args: &[&str]| {
            let st = Command::new("ip").args(args).status().expect("run ip");
            assert!(st.success(), "ip {args:?} failed");
        };
        ok(&["netns", "add", &name]);
        let guard = NetnsGuard { name };
        ok(&["-n", &guard.name, "link", "set", "lo", "up"]);
        guard
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A port nothing holds right now, that no other test of this run is handed, and that the
/// kernel never picks for a `bind(0)`: the ports below the ephemeral range, walked from a
/// start that differs per process. (A port taken with `bind(0)` and released was handed
/// out again by the kernel to another test's listener while the first test still meant
/// to use it: a CI run's `why --listen` then found that test's listener on it.)
pub(crate) fn unused_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(usize::MAX);
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<usize>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000usize, ephemeral_start.clamp(12_000, 49_152));
    let span = high - low;
    let _ = NEXT.compare_exchange(
        usize::MAX,
        std::process::id() as usize * 7919 % span,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    let used: std::collections::HashSet<u16> = ports_in_use().collect();
    for _ in 0..span {
        let port = (low + NEXT.fetch_add(1, Ordering::SeqCst) % span) as u16;
        if used.contains(&port) {
            continue;
        }
        let binds = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok();
        if binds {
            return port;
        }
    }
    panic!("no port free below the ephemeral range");
}

/// The local ports of every TCP and UDP socket in this namespace (one per socket).
pub(crate) fn ports_in_use() -> impl Iterator<Item = u16> {
    ports_in(&["tcp", "tcp6", "udp", "udp6"])
}

/// The local ports of every UDP socket in this namespace.
pub(crate) fn udp_ports_in_use() -> impl Iterator<Item = u16> {
    ports_in(&["udp", "udp6"])
}

fn ports_in(tables: &'static [&'static str]) -> impl Iterator<Item = u16> {
    tables
        .iter()
        .filter_map(|t| std::fs::read_to_string(format!("/proc/net/{t}")).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|l| {
                    let local = l.split_whitespace().nth(1)?;
                    u16::from_str_radix(local.rsplit(':').next()?, 16).ok()
                })
                .collect::<Vec<u16>>()
        })
}

/// Where cgroup v2 is mounted, if anywhere.
pub(crate) fn cgroup2_root() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next()? == "cgroup2")
            .then(|| PathBuf::from(pre.split_whitespace().nth(4).unwrap_or("/")))
    })
}

/// A cgroup v2 directory named like a systemd service, removed when dropped (after the
/// processes in it are gone).
pub(crate) struct CgroupGuard {
    pub(crate) path: PathBuf,
    pub(crate) unit: String,
}

impl CgroupGuard {
    /// A cgroup named `unit` under `root`.
    pub(crate) fn with_name(root: &Path, unit: &str) -> CgroupGuard {
        let path = root.join(unit);
        std::fs::create_dir(&path).expect("create a cgroup");
        CgroupGuard {
            path,
            unit: unit.to_owned(),
        }
    }

    pub(crate) fn new(root: &Path) -> CgroupGuard {
        static N: AtomicUsize = AtomicUsize::new(0);
        let unit = format!(
            "lport-it-{}-{}.service",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let path = root.join(&unit);
        std::fs::create_dir(&path).expect("create a cgroup");
        CgroupGuard { path, unit }
    }
}

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        // The killed helper leaves the cgroup a moment later; rmdir fails until it has.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.path).is_ok() || !self.path.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// A self-signed certificate for `CN=localhost` in `dir`, made by openssl: (cert, key).
pub(crate) fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(ok.success());
    (cert, key)
}

/// A child process, killed and reaped when dropped (also when the test fails midway);
/// `start` runs a command line and can wait for its first line.
pub(crate) struct Proc(pub(crate) Child);

impl Proc {
    pub(crate) fn start(cmd: &str, args: &[&str], wait_line: bool) -> Proc {
        let mut child = Command::new(cmd)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        if wait_line {
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("stdout"))
                .read_line(&mut line)
                .expect("line");
        }
        Proc(child)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (with `lport wait`) until something accepts connections on 127.0.0.1:`port`;
/// panics after `secs` seconds.
pub(crate) fn wait_for_port(port: u16, secs: u32) {
    let ok = Command::new(bin())
        .args([
            "wait",
            "-q",
            &format!("127.0.0.1:{port}"),
            "--timeout",
            &format!("{secs}s"),
        ])
        .status()
        .expect("run lport wait");
    assert!(
        ok.success(),
        "nothing came up on 127.0.0.1:{port} within {secs}s"
    );
}

/// Runs `lport ARGS` on a pseudo-terminal `cols` wide (as a user's terminal, so lport
/// sizes its output itself) and gives what it printed, with `\r\n` as `\n`. The run is
/// cut after `secs` seconds.
pub(crate) fn on_terminal(args: &[&str], cols: u16, secs: f64) -> String {
    const PTY: &str = r#"
import fcntl, os, pty, select, struct, sys, termios, time
cols, secs, argv = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 50, cols, 0, 0))
    os.environ.pop("COLUMNS", None)
    os.environ.pop("NO_COLOR", None)
    os.execv(argv[0], argv)
out = b""
end = time.time() + secs
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.05)
    if r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
try:
    os.kill(pid, 9)
except ProcessLookupError:
    pass
os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
"#;
    let out = Command::new(python())
        .args(["-c", PTY, &cols.to_string(), &secs.to_string()])
        .arg(bin())
        .args(args)
        .output()
        .expect("run on a pty (python3)");
    String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
}

/// Text without its SGR colour codes.
pub(crate) fn strip_sgr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\x1b[") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 2..];
        let end = tail
            .find(|c: char| c.is_ascii_alphabetic())
            .map_or(tail.len(), |e| e + 1);
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// A copy of the lport binary that user nobody may run (the build directory may be closed
/// to it), removed when dropped.
pub(crate) struct NobodyBin {
    pub(crate) dir: PathBuf,
}

impl NobodyBin {
    /// The copied binary.
    pub(crate) fn path(&self) -> PathBuf {
        self.dir.join("lport")
    }

    pub(crate) fn new(tag: &str) -> NobodyBin {
        let dir = std::env::temp_dir().join(format!("lport-nobody-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let mode = |p: &std::path::Path| {
            std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .expect("chmod");
        };
        mode(&dir);
        std::fs::copy(bin(), dir.join("lport")).expect("copy");
        mode(&dir.join("lport"));
        NobodyBin { dir }
    }

    pub(crate) fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(self.dir.join("lport"))
            .args(args)
            .output()
            .expect("setpriv")
    }
}

impl Drop for NobodyBin {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The cause `id` of a `why --json` report.
pub(crate) fn cause(v: &serde_json::Value, id: &str) -> Option<serde_json::Value> {
    v["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
}
