//! `lport why`: each cause reproduced for real — listeners on the wrong family or address,
//! stopped processes, full accept queues, forwarders with dead backends, namespaces, TLS
//! and protocol mismatches, proxy variables, binds — and services identified.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::{
    NetnsGuard, Proc, Sockets, bin, cause, have, is_root, lport, python, skip_unless, stdout,
    unused_port,
};

fn why(args: &[&str]) -> (Option<i32>, Value) {
    let out = why_raw(args, &[]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(v["schema"], 1);
    (out.status.code(), v)
}

fn why_raw(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.arg("why").args(args).arg("--json");
    for k in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "no_proxy",
        "NO_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run lport why")
}

fn ids(v: &Value) -> Vec<String> {
    v["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect()
}

const HTTP: &str = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html><head><title>Hello Dev</title></head></html>"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
if len(sys.argv) > 2:
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("up", flush=True)
srv.serve_forever()
"#;

#[test]
fn nothing_listening_and_a_nearby_port() {
    // A listener with a neighbouring port that nothing holds (a busy machine holds many:
    // open another listener until one has such a neighbour).
    let (s, near) = (0..50)
        .find_map(|_| {
            let s = Sockets::open(&["listen@127.0.0.1"]);
            let port = s.port(0);
            [port - 1, port + 1]
                .into_iter()
                .find(|p| {
                    std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok()
                        && std::net::TcpListener::bind(("::1", *p)).is_ok()
                })
                .map(|near| (s, near))
        })
        .expect("a listener with a free neighbour");
    let port = s.port(0);
    let (code, v) = why(&[&format!("127.0.0.1:{near}")]);
    assert_eq!(code, Some(1));
    assert_eq!(v["verdict"], "problem");
    assert_eq!(v["attempts"][0]["outcome"], "refused");
    let found = ids(&v);
    assert!(found.contains(&"nothing-listening".to_owned()), "{v}");
    let nearby = v["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .find(|c| c["id"] == "nearby-port");
    assert!(
        nearby.is_some_and(|c| c["summary"]
            .as_str()
            .is_some_and(|t| t.contains(&port.to_string()))
            || c["evidence"].to_string().contains(&port.to_string())),
        "{v}"
    );
}

#[test]
fn family_v6only_and_bound_elsewhere() {
    // The IPv4 side of each port must be free, or another test's listener would answer.
    let free_v4 = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    let s = (0..10)
        .map(|_| Sockets::open(&["listen@::1", "v6only@::", "listen@127.0.0.2"]))
        .find(|s| free_v4(s.port(0)) && free_v4(s.port(1)) && free_v4(s.port(2)))
        .expect("ports whose IPv4 side is free");
    let (code, v) = why(&[&format!("127.0.0.1:{}", s.port(0))]);
    assert_eq!(code, Some(1));
    assert!(ids(&v).contains(&"family-mismatch".to_owned()), "{v}");
    let (_, v) = why(&[&format!("127.0.0.1:{}", s.port(1))]);
    assert!(ids(&v).contains(&"v6only".to_owned()), "{v}");
    let (_, v) = why(&[&format!("127.0.0.1:{}", s.port(2))]);
    assert!(ids(&v).contains(&"bound-elsewhere".to_owned()), "{v}");
    assert!(
        v["causes"]
            .to_string()
            .contains(&format!("127.0.0.2:{}", s.port(2))),
        "{v}"
    );
}

#[test]
fn a_working_http_server_is_identified_and_ok() {
    let port = unused_port();
    let _srv = Proc::start(python(), &["-c", HTTP, &port.to_string()], true);
    let (code, v) = why(&[&format!("http://127.0.0.1:{port}/")]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["verdict"], "ok");
    assert_eq!(v["service"]["name"], "http");
    assert_eq!(v["service"]["product"], "BaseHTTP");
    assert_eq!(v["service"]["detail"]["status"], 200);
    assert_eq!(v["service"]["detail"]["title"], "Hello Dev");
    assert_eq!(v["service"]["tls"], Value::Null);
    // The same target with a proxy in the environment that NO_PROXY does not cover.
    let out = why_raw(
        &[&format!("http://127.0.0.1:{port}/")],
        &[
            ("http_proxy", "http://127.0.0.1:9"),
            ("NO_PROXY", "localhost"),
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(ids(&v).contains(&"proxy-env".to_owned()), "{v}");
    assert_eq!(v["verdict"], "ok", "a warning does not make it a problem");
}

#[test]
fn tls_and_protocol_mismatches() {
    if skip_unless(
        have("openssl"),
        "needs openssl to make a self-signed certificate",
    ) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lport-why-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let (cert, key) = crate::support::self_signed(&dir);
    let tls_port = unused_port();
    let _tls = Proc::start(
        python(),
        &[
            "-c",
            HTTP,
            &tls_port.to_string(),
            cert.to_str().expect("p"),
            key.to_str().expect("p"),
        ],
        true,
    );
    let (code, v) = why(&[&format!("http://127.0.0.1:{tls_port}/")]);
    assert_eq!(code, Some(1));
    assert!(ids(&v).contains(&"tls-mismatch".to_owned()), "{v}");
    assert_eq!(v["service"]["name"], "http");
    assert!(
        v["service"]["tls"]["version"]
            .as_str()
            .is_some_and(|t| t.starts_with("TLSv1.")),
        "{v}"
    );
    let (code, v) = why(&[&format!("https://127.0.0.1:{tls_port}/")]);
    assert_eq!(code, Some(0), "{v}");
    let plain = unused_port();
    let _http = Proc::start(python(), &["-c", HTTP, &plain.to_string()], true);
    let (_, v) = why(&[&format!("https://127.0.0.1:{plain}/")]);
    assert!(ids(&v).contains(&"tls-mismatch".to_owned()), "{v}");
    let _ = std::fs::remove_dir_all(&dir);

    // http:// to an SMTP server (Python's own smtpd, a real SMTP implementation).
    let smtp = unused_port();
    let _smtpd = Proc::start(
        python(),
        &[
            "-W",
            "ignore",
            "-c",
            &format!(
                "import smtpd, asyncore; smtpd.DebuggingServer(('127.0.0.1', {smtp}), None); print('up', flush=True); asyncore.loop()"
            ),
        ],
        true,
    );
    let (code, v) = why(&[&format!("http://127.0.0.1:{smtp}/")]);
    assert_eq!(code, Some(1));
    assert_eq!(v["service"]["name"], "smtp", "{v}");
    assert!(ids(&v).contains(&"protocol-mismatch".to_owned()), "{v}");
}

#[test]
fn a_stopped_server_and_a_full_accept_queue() {
    let s = Sockets::open(&["listen@127.0.0.1"]);
    let _ = Command::new("kill")
        .args(["-STOP", &s.pid.to_string()])
        .status();
    // lport's own connections stay in the stopped process's queue: run after run, the
    // answer stays `process-stopped`, never `backlog-full` or `no-response` (the queue's
    // backlog is 128 here, so the runs cannot fill it; that is checked by the rule: a
    // stopped listener's queue is no backlog problem).
    let target = format!("127.0.0.1:{}", s.port(0));
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(why(&[&target, "--timeout", "300ms"]));
    }
    let table = crate::support::stdout(&crate::support::lport(&[&s.port(0).to_string()]));
    let _ = Command::new("kill")
        .args(["-CONT", &s.pid.to_string()])
        .status();
    assert!(
        table.contains(", stopped)"),
        "the table shows the stop: {table}"
    );
    let (code, v) = runs.pop().expect("runs");
    for (_, earlier) in &runs {
        assert_eq!(
            ids(earlier),
            ids(&v),
            "the same answer each run: {earlier} / {v}"
        );
    }
    assert_eq!(code, Some(1));
    assert!(ids(&v).contains(&"process-stopped".to_owned()), "{v}");
    assert!(
        !ids(&v).contains(&"no-response".to_owned()),
        "said once: {v}"
    );
    assert!(!ids(&v).contains(&"backlog-full".to_owned()), "{v}");
    assert!(
        v["causes"]
            .to_string()
            .contains(&format!("kill -CONT {}", s.pid)),
        "{v}"
    );

    // Backlog 1 and never accept: two connections fill the queue.
    let code_py = "import socket, sys\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\np = s.getsockname()[1]\nheld = [socket.create_connection(('127.0.0.1', p)) for _ in range(2)]\nprint(p, flush=True)\nsys.stdin.read()\n";
    let mut child = Command::new(python())
        .args(["-c", code_py])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("line");
    let (code, v) = why(&[
        &format!("127.0.0.1:{}", line.trim()),
        "--timeout",
        "300ms",
        "--no-identify",
    ]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, Some(1));
    assert!(ids(&v).contains(&"backlog-full".to_owned()), "{v}");
}

#[test]
fn a_forwarder_with_a_dead_backend() {
    if skip_unless(have("socat"), "needs socat (the forwarder)") {
        return;
    }
    let port = unused_port();
    let dead = unused_port();
    let _fwd = Proc::start(
        "socat",
        &[
            &format!("TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr"),
            &format!("TCP:127.0.0.1:{dead}"),
        ],
        false,
    );
    crate::support::wait_for_port(port, 5);
    let (code, v) = why(&[&format!("127.0.0.1:{port}")]);
    assert_eq!(code, Some(1));
    assert!(
        ids(&v).contains(&"forwarder-dead-backend".to_owned()),
        "{v}"
    );
    assert!(
        v["causes"]
            .to_string()
            .contains(&format!("TCP:127.0.0.1:{dead}")),
        "{v}"
    );
}

#[test]
fn a_listener_in_another_namespace() {
    if skip_unless(
        is_root() && have("ip"),
        "needs root and iproute2 to create a network namespace",
    ) {
        return;
    }
    let ns = NetnsGuard::new();
    let s = Sockets::open_via(&["ip", "netns", "exec", &ns.name], &["listen@127.0.0.1"]);
    // Skip if the host happens to use the same port number.
    if std::net::TcpListener::bind(("127.0.0.1", s.port(0))).is_err() {
        return;
    }
    let (code, v) = why(&[&format!("127.0.0.1:{}", s.port(0))]);
    assert_eq!(code, Some(1));
    assert!(ids(&v).contains(&"other-netns".to_owned()), "{v}");
    assert!(
        v["causes"].to_string().contains(&format!("pid {}", s.pid)),
        "{v}"
    );
}

#[test]
fn binding_diagnoses() {
    let s = Sockets::open(&["listen@127.0.0.1", "bound@127.0.0.1"]);
    let (code, v) = why(&["--listen", &format!(":{}", s.port(0))]);
    assert_eq!(code, Some(1));
    assert_eq!(v["target"]["mode"], "listen");
    assert!(ids(&v).contains(&"port-in-use".to_owned()), "{v}");
    assert!(
        v["causes"].to_string().contains(&format!("pid {}", s.pid)),
        "{v}"
    );
    // A socket bound without listening blocks a bind too, and is named as such.
    let (_, v) = why(&["--listen", &format!(":{}", s.port(1))]);
    assert!(
        v["causes"].to_string().contains("bound (not listening)"),
        "{v}"
    );
    // TEST-NET-1 is on no interface here.
    let (_, v) = why(&["--listen", "192.0.2.1:8080"]);
    assert!(ids(&v).contains(&"address-not-local".to_owned()), "{v}");
    // A free port outside the ephemeral range binds.
    let free = stdout(&Command::new(bin()).arg("free").output().expect("free"))
        .trim()
        .to_owned();
    let (code, v) = why(&["--listen", &format!("127.0.0.1:{free}")]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["verdict"], "ok");
}

#[test]
fn exposed_listeners_are_flagged_even_when_reachable() {
    let s = Sockets::open(&["listen@0.0.0.0"]);
    let (code, v) = why(&[&format!("127.0.0.1:{}", s.port(0)), "--no-identify"]);
    assert_eq!(code, Some(0), "{v}");
    assert!(ids(&v).contains(&"exposed".to_owned()), "{v}");
}

#[test]
fn bad_targets() {
    for (t, needle) in [("abc", "a port is needed"), ("70000", "out of range")] {
        let out = Command::new(bin()).args(["why", t]).output().expect("run");
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle));
    }
}

/// Runs `lport why ... --json` inside a namespace.
fn why_in(ns: &str, args: &[&str]) -> Value {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(bin())
        .arg("why")
        .args(args)
        .arg("--json")
        .output()
        .expect("ip netns exec lport why");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn nft(ns: &str, rule: &str) {
    let ok = Command::new("ip")
        .args(["netns", "exec", ns, "nft", rule])
        .status()
        .expect("nft");
    assert!(ok.success(), "nft {rule}");
}

#[test]
fn firewall_drop_and_reject_in_a_namespace() {
    if skip_unless(
        is_root() && have("ip") && have("nft"),
        "needs root, iproute2 and nftables",
    ) {
        return;
    }
    let ns = NetnsGuard::new();
    let s = Sockets::open_via(
        &["ip", "netns", "exec", &ns.name],
        &["listen@127.0.0.1", "listen@127.0.0.1"],
    );
    let (dropped, rejected) = (s.port(0), s.port(1));
    nft(&ns.name, "add table inet lporttest");
    nft(
        &ns.name,
        "add chain inet lporttest input { type filter hook input priority 0; }",
    );
    nft(
        &ns.name,
        &format!("add rule inet lporttest input iif lo tcp dport {dropped} counter drop"),
    );
    nft(
        &ns.name,
        &format!(
            "add rule inet lporttest input iif lo tcp dport {rejected} counter reject with tcp reset"
        ),
    );
    let started = std::time::Instant::now();
    let v = why_in(
        &ns.name,
        &[&format!("127.0.0.1:{dropped}"), "--timeout", "500ms"],
    );
    let took = started.elapsed();
    assert_eq!(v["attempts"][0]["outcome"], "timeout", "{v}");
    assert!(ids(&v).contains(&"firewall-drop".to_owned()), "{v}");
    assert!(v["causes"].to_string().contains("counter rose by"), "{v}");
    assert!(
        took < std::time::Duration::from_secs(3),
        "ended soon after the 500 ms timeout: {took:?}"
    );
    let v = why_in(&ns.name, &[&format!("127.0.0.1:{rejected}")]);
    assert_eq!(v["attempts"][0]["outcome"], "refused", "{v}");
    assert!(ids(&v).contains(&"firewall-reject".to_owned()), "{v}");
    assert!(!ids(&v).contains(&"nothing-listening".to_owned()), "{v}");
}

#[test]
fn ipv6_disabled_in_a_namespace() {
    if skip_unless(is_root() && have("ip"), "needs root and iproute2") {
        return;
    }
    let ns = NetnsGuard::new();
    let ok = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            "sysctl",
            "-q",
            "-w",
            "net.ipv6.conf.lo.disable_ipv6=1",
        ])
        .status()
        .expect("sysctl");
    assert!(ok.success());
    let v = why_in(&ns.name, &["[::1]:8080"]);
    assert!(ids(&v).contains(&"ipv6-disabled".to_owned()), "{v}");
}

#[test]
fn a_name_that_does_not_resolve() {
    if skip_unless(
        is_root() && have("ip"),
        "needs root and iproute2 (a namespace keeps DNS on its own loopback)",
    ) {
        return;
    }
    let ns = NetnsGuard::new();
    // `ip netns exec` mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf: DNS goes to
    // the namespace's loopback, where nothing answers, and never leaves the machine.
    let etc = std::path::PathBuf::from("/etc/netns").join(&ns.name);
    std::fs::create_dir_all(&etc).expect("mkdir");
    std::fs::write(
        etc.join("resolv.conf"),
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    )
    .expect("write");
    let v = why_in(&ns.name, &["nosuch-host.invalid:80"]);
    let _ = std::fs::remove_dir_all(&etc);
    assert_eq!(v["verdict"], "problem", "{v}");
    assert!(ids(&v).contains(&"dns-failure".to_owned()), "{v}");
}

#[test]
fn ls_identify_names_the_service_of_each_listener() {
    let port = unused_port();
    let srv = Proc::start(python(), &["-c", HTTP, &port.to_string()], true);
    let silent = Sockets::open(&["listen@127.0.0.1", "udp@127.0.0.1"]);
    let pids = format!("{},{}", srv.0.id(), silent.pid);
    let out = Command::new(bin())
        .args(["--pid", &pids, "--identify", "--json"])
        .output()
        .expect("ls --identify");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let service_of = |p: u16| {
        v["sockets"]
            .as_array()
            .expect("sockets")
            .iter()
            .find(|s| s["local"]["port"] == u64::from(p) && s["local"]["addr"] == "127.0.0.1")
            .map(|s| s["service"].clone())
            .expect("socket listed")
    };
    assert_eq!(service_of(port)["name"], "http", "{v}");
    assert_eq!(service_of(silent.port(0))["name"], "unknown", "{v}");
    assert_eq!(
        service_of(silent.port(1)),
        Value::Null,
        "UDP is not probed: {v}"
    );
    let table = stdout(
        &Command::new(bin())
            .args(["--pid", &pids, "--identify"])
            .output()
            .expect("table"),
    );
    assert!(
        table.lines().next().is_some_and(|h| h.contains("SERVICE")),
        "{table}"
    );
    assert!(table.contains("http BaseHTTP/"), "{table}");
}

/// An HTTP server that answers 403 to any Host but localhost, like a dev server with
/// rebinding protection.
const HOST_CHECKING: &str = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.headers.get("Host", "").split(":")[0] in ("localhost", "127.0.0.1")
        self.send_response(200 if ok else 403); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("up", flush=True)
srv.serve_forever()
"#;

#[test]
fn dns_rebinding_exposure_depends_on_the_host_check() {
    let open_port = unused_port();
    let _open = Proc::start(python(), &["-c", HTTP, &open_port.to_string()], true);
    let (_, v) = why(&[&format!("127.0.0.1:{open_port}")]);
    assert!(ids(&v).contains(&"rebinding-vulnerable".to_owned()), "{v}");
    let checked = unused_port();
    let _chk = Proc::start(python(), &["-c", HOST_CHECKING, &checked.to_string()], true);
    let (_, v) = why(&[&format!("127.0.0.1:{checked}")]);
    assert_eq!(v["service"]["detail"]["foreign_host_status"], 403, "{v}");
    assert!(!ids(&v).contains(&"rebinding-vulnerable".to_owned()), "{v}");
}

#[test]
fn debuggers_are_identified_and_flagged() {
    if skip_unless(have("node"), "needs node (the Node.js inspector)") {
        return;
    }
    let port = unused_port();
    let _node = Proc::start(
        "node",
        &[
            &format!("--inspect=127.0.0.1:{port}"),
            "-e",
            "setTimeout(() => {}, 60000)",
        ],
        false,
    );
    crate::support::wait_for_port(port, 10);
    let (_, v) = why(&[&format!("127.0.0.1:{port}")]);
    assert_eq!(v["service"]["name"], "devtools", "{v}");
    assert_eq!(
        v["service"]["product"], "node.js",
        "the runtime debugged: {v}"
    );
    assert!(
        v["service"]["version"]
            .as_str()
            .is_some_and(|x| x.starts_with('v')),
        "{v}"
    );
    assert!(ids(&v).contains(&"unauthenticated-risky".to_owned()), "{v}");
}

#[test]
fn a_java_debugger_speaks_jdwp() {
    if skip_unless(have("java"), "needs a JDK (java) for a real JDWP agent") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lport-jdwp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let src = dir.join("Sleep.java");
    std::fs::write(&src, "public class Sleep { public static void main(String[] a) throws Exception { System.out.println(\"ready\"); System.out.flush(); Thread.sleep(60000); } }").expect("write");
    let port = unused_port();
    let mut java = Proc::start(
        "java",
        &[
            &format!(
                "-agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=127.0.0.1:{port}"
            ),
            src.to_str().expect("path"),
        ],
        false,
    );
    // The agent listens before the JVM has compiled and started the program (seconds on a
    // fresh machine, where the JDK is read from disk for the first time), and its handshake
    // waits for that: the program says when it runs. Its first line is the agent's.
    let stdout = java.0.stdout.take().expect("java's stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(l) if l.trim() == "ready" => {
                    let _ = tx.send(());
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("the Java program started within 60 s");
    // On a loaded machine (the whole suite on two cores) the handshake reply can still take
    // over a second, so this test allows what a user on a busy machine would pass.
    let (_, v) = why(&[&format!("127.0.0.1:{port}"), "--timeout", "5s"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(v["service"]["name"], "jdwp", "{v}");
    // VirtualMachine.Version, asked after the handshake (an echo could not answer it).
    assert!(
        v["service"]["product"]
            .as_str()
            .is_some_and(|p| p.contains("VM")),
        "{v}"
    );
    assert!(
        v["service"]["version"]
            .as_str()
            .is_some_and(|x| !x.is_empty()),
        "{v}"
    );
    assert!(ids(&v).contains(&"unauthenticated-risky".to_owned()), "{v}");
}

#[test]
fn ephemeral_ports_exhausted_in_a_namespace() {
    if skip_unless(is_root() && have("ip"), "needs root and iproute2") {
        return;
    }
    let ns = NetnsGuard::new();
    let ok = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_local_port_range=40000 40001",
        ])
        .status()
        .expect("sysctl");
    assert!(ok.success());
    // A listener and two connections to it use up both source ports.
    let code = "import socket, sys\ns = socket.socket(); s.bind(('127.0.0.1', 9999)); s.listen()\nheld = [socket.create_connection(('127.0.0.1', 9999)) for _ in range(2)]\nprint('full', flush=True)\nsys.stdin.read()\n";
    let holder = Proc::start(
        "ip",
        &["netns", "exec", &ns.name, python(), "-c", code],
        true,
    );
    let v = why_in(&ns.name, &["127.0.0.1:9999", "--no-identify"]);
    drop(holder);
    assert_eq!(v["attempts"][0]["outcome"], "addr-unavailable", "{v}");
    assert!(ids(&v).contains(&"ephemeral-exhausted".to_owned()), "{v}");
    assert!(v["causes"].to_string().contains("40000 40001"), "{v}");
}

#[test]
fn a_server_that_accepts_and_never_answers() {
    let code = "import socket, sys\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(16)\nprint(s.getsockname()[1], flush=True)\nheld = []\nwhile True:\n    c, _ = s.accept(); held.append(c)\n";
    let mut child = Command::new(python())
        .args(["-c", code])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("line");
    let (code, v) = why(&[&format!("http://127.0.0.1:{}/", line.trim())]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, Some(1), "{v}");
    assert!(ids(&v).contains(&"no-response".to_owned()), "{v}");
}

#[test]
fn the_reverse_family_mismatch_and_a_debugger_stop() {
    // Listener on 127.0.0.1 only, client on ::1.
    let s = (0..10)
        .map(|_| Sockets::open(&["listen@127.0.0.1"]))
        .find(|s| std::net::TcpListener::bind(("::1", s.port(0))).is_ok())
        .expect("a port free on ::1");
    let (_, v) = why(&[&format!("[::1]:{}", s.port(0))]);
    assert!(ids(&v).contains(&"family-mismatch".to_owned()), "{v}");
    if skip_unless(
        is_root() && have("gdb"),
        "needs root and gdb (a debugger holding the process)",
    ) {
        return;
    }
    // gdb attaches (tracing stop, state t) and holds the process while `sleep` runs.
    let gdb = Proc::start(
        "gdb",
        &[
            "-q",
            "-batch",
            "-p",
            &s.pid.to_string(),
            "-ex",
            "shell echo attached; sleep 5",
        ],
        true,
    );
    let (_, v) = why(&[&format!("127.0.0.1:{}", s.port(0)), "--timeout", "300ms"]);
    drop(gdb);
    assert!(ids(&v).contains(&"process-stopped".to_owned()), "{v}");
    assert!(v["causes"].to_string().contains("debugger"), "{v}");
}

#[test]
fn a_reserved_port_in_a_namespace() {
    if skip_unless(is_root() && have("ip"), "needs root and iproute2") {
        return;
    }
    let ns = NetnsGuard::new();
    let ok = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_local_reserved_ports=41000",
        ])
        .status()
        .expect("sysctl");
    assert!(ok.success());
    let v = why_in(&ns.name, &["--listen", "127.0.0.1:41000"]);
    assert_eq!(v["verdict"], "ok", "{v}");
    let c = cause(&v, "reserved-port");
    assert_eq!(
        c.map(|c| c["severity"].clone()),
        Some(Value::from("info")),
        "{v}"
    );
}

/// A listener and `n` connections to it that the server's side closed first, so each
/// waits in TIME_WAIT on the listener's port.
fn listener_with_time_waits(n: usize) -> (std::net::TcpListener, u16) {
    use std::net::{TcpListener, TcpStream};
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let mut clients = Vec::new();
    for _ in 0..n {
        let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let (a, _) = l.accept().expect("accept");
        // The server side closes first, so its end (local port = the port) waits.
        drop(a);
        clients.push(c);
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    drop(clients);
    std::thread::sleep(std::time::Duration::from_millis(200));
    (l, port)
}

/// Evidence is said once, with a count: three TIME_WAIT connections beside a listener make
/// one "3x" line, and the headline does not repeat the cause.
#[test]
fn repeated_evidence_is_counted_not_repeated() {
    let (l, port) = listener_with_time_waits(3);
    let out = crate::support::lport(&["why", "--listen", &format!("127.0.0.1:{port}")]);
    let text = crate::support::stdout(&out);
    assert_eq!(
        text.lines().next(),
        Some(format!("127.0.0.1:{port} cannot be bound").as_str()),
        "{text}"
    );
    let waits: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  - ") && l.contains("TIME_WAIT"))
        .collect();
    assert_eq!(waits.len(), 1, "once: {text}");
    assert_eq!(
        waits[0],
        format!("  - 3x a connection in TIME_WAIT (no process holds it) on 127.0.0.1:{port}"),
        "{text}"
    );
    assert!(text.contains(&format!("lport kill {port}")), "{text}");
    drop(l);
}

/// A server that accepts and closes every connection without a byte, and is no known
/// forwarder (a Python allowlist that rejects everyone).
const CLOSER: &str = r#"
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.close()
"#;

#[test]
fn a_server_that_closes_on_accept() {
    let port = unused_port();
    let _srv = Proc::start(python(), &["-c", CLOSER, &port.to_string()], true);
    let (code, v) = why(&[&format!("127.0.0.1:{port}")]);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["verdict"], "problem", "{v}");
    assert!(ids(&v).contains(&"closed-on-accept".to_owned()), "{v}");
    assert!(
        !ids(&v).contains(&"forwarder-dead-backend".to_owned()),
        "{v}"
    );
}

#[test]
fn the_loopback_interface_is_down() {
    if skip_unless(
        is_root() && have("ip"),
        "needs root and iproute2 (a network namespace)",
    ) {
        return;
    }
    let ns = NetnsGuard::new();
    let st = Command::new("ip")
        .args(["-n", &ns.name, "link", "set", "lo", "down"])
        .status()
        .expect("ip");
    assert!(st.success());
    let v = why_in(&ns.name, &["127.0.0.1:8080", "--no-identify"]);
    assert_eq!(v["verdict"], "problem", "{v}");
    assert!(ids(&v).contains(&"loopback-down".to_owned()), "{v}");
    // Unreachable on some kernels, a timeout (the packet goes nowhere) on others.
    assert!(
        matches!(
            v["attempts"][0]["outcome"].as_str(),
            Some("unreachable" | "timeout")
        ),
        "{v}"
    );
    // With lo up again, nothing listening is the answer.
    let st = Command::new("ip")
        .args(["-n", &ns.name, "link", "set", "lo", "up"])
        .status()
        .expect("ip");
    assert!(st.success());
    let v = why_in(&ns.name, &["127.0.0.1:8080", "--no-identify"]);
    assert!(!ids(&v).contains(&"loopback-down".to_owned()), "{v}");
    assert!(ids(&v).contains(&"nothing-listening".to_owned()), "{v}");
}

/// A client connection whose source port is the port a server wants.
const CLIENT_FROM: &str = r#"
import socket, sys
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4)
c = socket.socket(); c.bind(("127.0.0.1", int(sys.argv[1]))); c.connect(l.getsockname())
a, _ = l.accept()
print("ready", flush=True)
sys.stdin.read()
"#;

#[test]
fn the_port_is_an_outgoing_connections_source_port() {
    let port = unused_port();
    let _client = Proc::start(python(), &["-c", CLIENT_FROM, &port.to_string()], true);
    // Sockets with the same number on other addresses do not hold 127.0.0.1:PORT: an IPv6
    // listener on [::1] (IPv6 only by its address) and one on another loopback address.
    let _v6 = std::net::TcpListener::bind(("::1", port)).expect("bind [::1]");
    let _other = std::net::TcpListener::bind(("127.0.10.1", port)).expect("bind 127.0.10.1");
    let (code, v) = why(&["--listen", &format!("127.0.0.1:{port}")]);
    assert_eq!(code, Some(1), "{v}");
    let list = ids(&v);
    assert!(list.contains(&"source-port-collision".to_owned()), "{v}");
    assert!(!list.contains(&"port-in-use".to_owned()), "said once: {v}");
    let evidence = cause(&v, "source-port-collision").map(|c| c["evidence"].to_string());
    assert!(
        evidence
            .as_deref()
            .is_some_and(|e| !e.contains("127.0.10.1") && !e.contains("[::1]")),
        "only the client holds it: {v}"
    );
    let c =
        cause(&v, "source-port-collision").unwrap_or_else(|| panic!("source-port-collision: {v}"));
    assert!(
        c["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("python3"),
        "{c}"
    );
}

#[test]
fn only_time_wait_connections_hold_the_port() {
    let (l, port) = listener_with_time_waits(2);
    drop(l);
    let (code, v) = why(&["--listen", &format!("127.0.0.1:{port}")]);
    assert_eq!(code, Some(0), "it binds (with SO_REUSEADDR): {v}");
    let c = cause(&v, "time-wait-only").unwrap_or_else(|| panic!("time-wait-only: {v}"));
    assert_eq!(c["severity"], "warning", "{c}");
    assert!(
        c["evidence"][0]
            .as_str()
            .unwrap_or_default()
            .starts_with("2 connections in TIME_WAIT"),
        "{c}"
    );
}

/// lport's own connections leave nothing on the server's port: an HTTP/1.0 server closes
/// first, which used to leave its side in TIME_WAIT, and a later `why --listen` then blamed
/// lport's own probes (`time-wait-only`, 7 connections).
#[test]
fn lport_leaves_no_time_wait_behind() {
    let port = unused_port();
    let srv = Proc::start(python(), &["-c", HTTP, &port.to_string()], true);
    let url = format!("http://127.0.0.1:{port}/");
    let (code, v) = why(&[&url]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["service"]["name"], "http", "identified: {v}");
    let out = lport(&["wait", "-q", "--timeout", "5s", &url]);
    assert!(out.status.success(), "{out:?}");
    let out = lport(&["ls", "--identify", "--json", &port.to_string()]);
    assert!(out.status.success(), "{out:?}");
    drop(srv);
    let out = lport(&["ls", "-a", "--json"]);
    let all: Value = serde_json::from_slice(&out.stdout).expect("json");
    // Nothing on the server's side: a TIME_WAIT there would block a restart without
    // SO_REUSEADDR. (Where lport closed first, after the server read EOF, its own side
    // keeps the TIME_WAIT, on an ephemeral port, as any client's would.)
    let left: Vec<_> = all["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .filter(|s| s["local"]["port"] == port)
        .collect();
    assert!(left.is_empty(), "sockets left on port {port}: {left:?}");
    let (code, v) = why(&["--listen", &format!("127.0.0.1:{port}")]);
    assert_eq!(code, Some(0), "{v}");
    assert!(!ids(&v).contains(&"time-wait-only".to_owned()), "{v}");
}

/// A server that speaks first, but only half a second after each connection (a busy
/// machine): its banner is still heard, and the service named.
const LATE_BANNER: &str = r#"
import socket, sys, threading, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
print("ready", flush=True)
def serve(c):
    time.sleep(0.5)
    try:
        c.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
        time.sleep(2)
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

#[test]
fn a_banner_that_comes_late_is_still_heard() {
    let port = unused_port();
    let _srv = Proc::start(python(), &["-c", LATE_BANNER, &port.to_string()], true);
    let (_, v) = why(&[&format!("127.0.0.1:{port}")]);
    assert_eq!(v["service"]["name"], "ssh", "{v}");
    assert_eq!(v["service"]["product"], "OpenSSH", "{v}");
}

/// Removes a directory the test made, also when it fails.
struct Remove(std::path::PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `ip netns exec` puts `/etc/netns/NAME/hosts` over `/etc/hosts`: a namespace whose hosts
/// file maps localhost to 127.0.1.1 (as some distributions do for the host name), with a
/// server on 127.0.0.1. The evidence names the line that gave the address, and the missing
/// IPv6 line.
#[test]
fn the_hosts_file_line_behind_an_address_is_named() {
    if skip_unless(
        is_root() && have("ip"),
        "needs root and iproute2 (a network namespace)",
    ) {
        return;
    }
    let ns = NetnsGuard::new();
    let etc = std::path::PathBuf::from("/etc/netns").join(&ns.name);
    std::fs::create_dir_all(&etc).expect("mkdir /etc/netns/NAME");
    let _etc = Remove(etc.clone());
    std::fs::write(etc.join("hosts"), "# test\n127.0.1.1\tlocalhost\n").expect("hosts");
    let port = unused_port();
    let _srv = Proc::start(
        "ip",
        &[
            "netns",
            "exec",
            &ns.name,
            python(),
            "-c",
            "import socket,sys,time; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); print('ready', flush=True); time.sleep(60)",
            &port.to_string(),
        ],
        true,
    );
    let v = why_in(&ns.name, &[&format!("localhost:{port}"), "--no-identify"]);
    assert!(ids(&v).contains(&"bound-elsewhere".to_owned()), "{v}");
    let text = v["causes"].to_string();
    assert!(
        text.contains("/etc/hosts line 2: 127.0.1.1 localhost"),
        "{v}"
    );
    assert!(text.contains("no IPv6 line for localhost"), "{v}");
}

/// A namespace that lowered `ip_unprivileged_port_start` lets anyone bind port 80: no
/// `privileged-port` there for user nobody.
#[test]
fn privileged_ports_follow_the_namespaces_setting() {
    if skip_unless(
        is_root() && have("ip") && have("setpriv"),
        "needs root, iproute2 and setpriv (a namespace, and user nobody)",
    ) {
        return;
    }
    let ns = NetnsGuard::new();
    let nobody = crate::support::NobodyBin::new("priv-netns");
    let as_nobody = || {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.name,
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                "--",
            ])
            .arg(nobody.path())
            .args(["why", "--listen", "127.0.0.1:80", "--json"])
            .output()
            .expect("lport as nobody");
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
    };
    let v = as_nobody();
    assert!(
        ids(&v).contains(&"privileged-port".to_owned()),
        "the default, 1024: {v}"
    );
    let st = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            "sysctl",
            "-qw",
            "net.ipv4.ip_unprivileged_port_start=0",
        ])
        .status()
        .expect("sysctl");
    assert!(st.success());
    let v = as_nobody();
    assert_eq!(v["verdict"], "ok", "{v}");
    assert!(!ids(&v).contains(&"privileged-port".to_owned()), "{v}");
}

/// UDP targets: nothing bound is an ICMP port unreachable (refused), a bound socket is
/// reached; the nearby-port hint names UDP sockets only, never a TCP listener.
#[test]
fn udp_targets_bound_and_not() {
    // A free UDP port with a TCP listener right next to it, and no other socket within the
    // ten ports `nearby-port` looks at (another workload's UDP sockets would be a fair hint).
    let (free, tcp_next) = (0..200)
        .find_map(|_| {
            let u = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
            let q = u.local_addr().ok()?.port();
            // nearby-port looks at UDP sockets only, for a UDP target.
            let used: Vec<u16> = crate::support::udp_ports_in_use().collect();
            let crowded = used.iter().any(|&p| p != q && p.abs_diff(q) <= 10);
            if crowded {
                return None;
            }
            let t = std::net::TcpListener::bind(("127.0.0.1", q.checked_add(1)?)).ok()?;
            Some((q, t))
        })
        .expect("a free UDP port beside a TCP one, with no other socket near");
    let (code, v) = why(&[&format!("udp/127.0.0.1:{free}"), "--no-identify"]);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(
        v["attempts"][0]["outcome"], "refused",
        "ICMP port unreachable: {v}"
    );
    assert!(ids(&v).contains(&"nothing-listening".to_owned()), "{v}");
    assert!(
        !ids(&v).contains(&"nearby-port".to_owned()),
        "a TCP listener is no UDP hint: {v}"
    );
    let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let up = u.local_addr().expect("addr").port();
    let (code, v) = why(&[&format!("udp/127.0.0.1:{up}"), "--no-identify"]);
    assert_eq!(code, Some(0), "{v}");
    // The headline keeps the protocol (it read `127.0.0.1:P`, a TCP target's name).
    let text = stdout(&crate::support::lport(&[
        "why",
        &format!("udp/:{up}"),
        "--no-identify",
    ]));
    assert!(
        text.starts_with(&format!("udp/localhost:{up} is reachable")),
        "{text}"
    );
    assert_eq!(v["attempts"][0]["outcome"], "connected", "{v}");
    drop((u, tcp_next));
}

/// Two processes share a port with SO_REUSEPORT; one is stopped. Some connections hang:
/// `process-stopped` names the stopped member of the group.
#[test]
fn a_stopped_member_of_a_reuseport_group_is_named() {
    const MEMBER: &str = r#"
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b"hello\r\n")
    c.close()
"#;
    let port = unused_port();
    let a = Proc::start(python(), &["-c", MEMBER, &port.to_string()], true);
    let b = Proc::start(python(), &["-c", MEMBER, &port.to_string()], true);
    let stopped = b.0.id();
    let st = Command::new("kill")
        .args(["-STOP", &stopped.to_string()])
        .status()
        .expect("kill -STOP");
    assert!(st.success());
    std::thread::sleep(std::time::Duration::from_millis(100));
    let (_, v) = why(&[&format!("127.0.0.1:{port}"), "--no-identify"]);
    let _ = Command::new("kill")
        .args(["-CONT", &stopped.to_string()])
        .status();
    let c = cause(&v, "process-stopped").unwrap_or_else(|| panic!("process-stopped: {v}"));
    assert!(
        c["summary"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("pid {stopped}")),
        "the stopped one, not {}: {c}",
        a.0.id()
    );
    assert!(
        c["evidence"]
            .to_string()
            .contains("one of 2 SO_REUSEPORT listeners"),
        "{v}"
    );
    drop((a, b));
}

/// A unix socket whose server died without removing it: `stale-socket-file`, with the
/// file's mode, owner and age; a live one is reachable.
#[test]
fn a_stale_unix_socket_file() {
    let dir = std::env::temp_dir().join(format!("lport-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let _dir = Remove(dir.clone());
    let path = dir.join("app.sock");
    let st = Command::new(python())
        .args([
            "-c",
            "import os, socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(); os._exit(0)",
        ])
        .arg(&path)
        .status()
        .expect("python");
    assert!(st.success());
    let target = format!("unix:{}", path.display());
    let (code, v) = why(&[&target]);
    assert_eq!(code, Some(1), "{v}");
    let c = &v["causes"][0];
    assert_eq!(c["id"], "stale-socket-file", "{v}");
    assert!(
        c["evidence"][0]
            .as_str()
            .unwrap_or_default()
            .contains("srwx"),
        "{c}"
    );
    assert!(
        c["fix"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("rm {}", path.display())),
        "{c}"
    );
    // A live one.
    let live = dir.join("live.sock");
    let _srv = Proc::start(
        python(),
        &[
            "-c",
            "import socket, sys, time; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(); print('ready', flush=True); time.sleep(60)",
            live.to_str().expect("path"),
        ],
        true,
    );
    let (code, v) = why(&[&format!("unix:{}", live.display())]);
    assert_eq!((code, v["verdict"].as_str()), (Some(0), Some("ok")), "{v}");
}

/// A root-only socket (mode 600) opened as nobody: `permission-denied`, naming the mode,
/// the owner and who lport runs as.
#[test]
fn a_unix_socket_this_user_may_not_open() {
    if skip_unless(
        is_root() && have("setpriv"),
        "needs root (to make a root-only socket and run as nobody) and setpriv",
    ) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lport-unix-perm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let _dir = Remove(dir.clone());
    let perms = |p: &std::path::Path, mode: u32| {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .expect("chmod");
    };
    perms(&dir, 0o755);
    let path = dir.join("root.sock");
    let _srv = Proc::start(
        python(),
        &[
            "-c",
            "import os, socket, sys, time; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o600); s.listen(); print('ready', flush=True); time.sleep(60)",
            path.to_str().expect("path"),
        ],
        true,
    );
    let out = crate::support::NobodyBin::new("unix-perm").run(&[
        "why",
        &format!("unix:{}", path.display()),
        "--json",
    ]);
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    let c = &v["causes"][0];
    assert_eq!(c["id"], "permission-denied", "{v}");
    let evidence = c["evidence"].to_string();
    assert!(evidence.contains("srw------- root:root"), "{evidence}");
    assert!(evidence.contains("user nobody"), "{evidence}");
}

/// No false alarms: a dual-stack `[::]` listener reached over 127.0.0.1, and an app whose
/// root redirects to its login page, are reachable with no error or warning beyond the
/// exposure of a wildcard listener.
#[test]
fn no_false_alarms_for_dual_stack_and_a_redirecting_root() {
    const REDIRECT: &str = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(302); self.send_header("Location", "/login"); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
class S(http.server.ThreadingHTTPServer):
    address_family = __import__("socket").AF_INET6
srv = S(("::", int(sys.argv[1])), H)
print("up", flush=True)
srv.serve_forever()
"#;
    let port = unused_port();
    let _srv = Proc::start(python(), &["-c", REDIRECT, &port.to_string()], true);
    let (code, v) = why(&[&format!("http://127.0.0.1:{port}/")]);
    assert_eq!((code, v["verdict"].as_str()), (Some(0), Some("ok")), "{v}");
    assert_eq!(v["service"]["detail"]["status"], 302, "{v}");
    let loud: Vec<String> = v["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .filter(|c| c["severity"] != "info" && c["id"] != "exposed")
        .map(|c| c["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(loud.is_empty(), "nothing wrong here: {v}");
}

/// A home-made forwarder (no known name) whose backend is down: it accepts, fails to
/// reach the backend, closes. `closed-on-accept` names the backend from its command line.
#[test]
fn an_unknown_forwarder_with_a_dead_backend() {
    const FORWARDER: &str = r#"
import socket, sys
listen, backend = int(sys.argv[1]), sys.argv[2]
host, port = backend.rsplit(":", 1)
s = socket.socket(); s.bind(("127.0.0.1", listen)); s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        pass
    c.close()
"#;
    let (port, dead) = (unused_port(), unused_port());
    let backend = format!("127.0.0.1:{dead}");
    let _fwd = Proc::start(
        python(),
        &["-c", FORWARDER, &port.to_string(), &backend],
        true,
    );
    let (code, v) = why(&[&format!("127.0.0.1:{port}")]);
    assert_eq!(code, Some(1), "{v}");
    let c = cause(&v, "closed-on-accept").unwrap_or_else(|| panic!("closed-on-accept: {v}"));
    assert!(
        c["evidence"]
            .to_string()
            .contains(&format!("names {backend}")),
        "{c}"
    );
}

/// `why --listen :P` with only `[::1]:P` listening said "0.0.0.0:P cannot be bound" while
/// its evidence said `[::]` failed (0.0.0.0 binds fine). The headline names both.
#[test]
fn listen_names_the_address_that_fails_and_the_one_that_binds() {
    let l = std::net::TcpListener::bind("[::1]:0").expect("bind [::1]");
    let port = l.local_addr().expect("addr").port();
    let out = crate::support::lport(&["why", "--listen", &format!(":{port}")]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("[::]:{port} cannot be bound (0.0.0.0:{port} can)")),
        "{text}"
    );
    // And `wait --timeout 0` is refused, as `why` refuses it, not "timed out" on a port
    // that listens.
    let out = crate::support::lport(&["wait", &format!("[::1]:{port}"), "--timeout", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        crate::support::stderr(&out).contains("--timeout: must be above zero"),
        "{}",
        crate::support::stderr(&out)
    );
    drop(l);
}

/// Listens, then opens files until its soft descriptor limit (32) is reached; accept()
/// then fails with EMFILE, and it keeps trying, as a leaking server does.
const OUT_OF_FDS: &str = r#"
import os, resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (32, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
held = []
try:
    while True:
        held.append(open("/dev/null"))
except OSError:
    pass
print("ready", flush=True)
while True:
    try:
        c, _ = s.accept(); c.close()
    except OSError:
        time.sleep(0.05)
"#;

/// A server at its descriptor limit cannot accept: `server-out-of-fds` names the limit and
/// what the descriptors are; the same server with room raises nothing of the kind.
#[test]
fn a_server_out_of_file_descriptors() {
    let port = unused_port();
    let srv = Proc::start(python(), &["-c", OUT_OF_FDS, &port.to_string()], true);
    let (code, v) = why(&[&format!("127.0.0.1:{port}"), "--timeout", "500ms"]);
    assert_eq!(code, Some(1), "{v}");
    let c = cause(&v, "server-out-of-fds").unwrap_or_else(|| panic!("{v}"));
    assert!(
        c["summary"]
            .as_str()
            .unwrap_or_default()
            .contains(" of 32)"),
        "{c}"
    );
    assert!(c["evidence"].to_string().contains("files"), "{c}");
    assert!(
        c["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("LimitNOFILE"),
        "{c}"
    );
    assert!(!ids(&v).contains(&"no-response".to_owned()), "{v}");
    drop(srv);
    // A server with room: no such cause.
    let srv = Proc::start(python(), &["-c", HTTP, &port.to_string()], true);
    let (_, v) = why(&[&format!("127.0.0.1:{port}"), "--no-identify"]);
    assert!(!ids(&v).contains(&"server-out-of-fds".to_owned()), "{v}");
    drop(srv);
}

/// Listens on 0.0.0.0:PORT bound to interface IFACE (SO_BINDTODEVICE), or to none when
/// IFACE is "-"; prints "ready".
const DEVICE_LISTENER: &str = r#"
import socket, sys, time
s = socket.socket()
if sys.argv[2] != "-":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, sys.argv[2].encode())
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8)
print("ready", flush=True)
while True:
    c, _ = s.accept(); c.close()
"#;

/// A wildcard listener bound to an interface with SO_BINDTODEVICE refuses connections from
/// this machine (they arrive on lo): `bound-to-device` names the interface; the same
/// listener without the binding is reached.
#[test]
fn a_listener_bound_to_another_interface() {
    if skip_unless(
        is_root() && have("ip"),
        "needs root and iproute2 (a veth pair in a namespace of its own)",
    ) {
        return;
    }
    let ns = NetnsGuard::new();
    for args in [
        &["link", "add", "v0", "type", "veth", "peer", "name", "v1"][..],
        &["link", "set", "v0", "up"],
        &["link", "set", "v1", "up"],
    ] {
        let st = Command::new("ip")
            .args(["-n", &ns.name])
            .args(args)
            .status();
        assert!(st.is_ok_and(|s| s.success()), "ip {args:?}");
    }
    let port = unused_port().to_string();
    for (iface, expect) in [("v0", true), ("-", false)] {
        let mut srv = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.name,
                python(),
                "-c",
                DEVICE_LISTENER,
                &port,
                iface,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("listener");
        let out = srv.stdout.take().expect("stdout");
        let _srv = crate::support::Proc(srv);
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).expect("ready");
        assert_eq!(line.trim(), "ready");
        let v = why_in(&ns.name, &[&format!("127.0.0.1:{port}"), "--no-identify"]);
        if expect {
            let c = cause(&v, "bound-to-device").unwrap_or_else(|| panic!("{v}"));
            assert!(
                c["summary"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("interface v0"),
                "{c}"
            );
            assert_eq!(v["verdict"], "problem", "{v}");
        } else {
            assert_eq!(v["verdict"], "ok", "{v}");
            assert!(cause(&v, "bound-to-device").is_none(), "{v}");
        }
    }
}

/// An HTTP server that checks `Host` as Vite does (localhost and addresses pass), or, with
/// "open", answers any name; prints "ready".
const VITE_LIKE: &str = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if sys.argv[2] == "open" or host in ("localhost", "127.0.0.1", "[::1]"):
            body, code = b"<html><title>app</title></html>", 200
        else:
            body = ('Blocked request. This host ("%s") is not allowed.\nTo allow this host, add "%s" to `server.allowedHosts` in vite.config.js.' % (host, host)).encode()
            code = 403
        self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("ready", flush=True)
s.serve_forever()
"#;

/// A dev server that answers localhost but blocks other names (Vite's host check), asked
/// about a name from the namespace's hosts file: `host-not-allowed` names Vite and
/// `server.allowedHosts`; asked as localhost, or a server that answers any name, nothing.
#[test]
fn a_dev_server_that_refuses_the_name_typed() {
    if skip_unless(
        is_root() && have("ip"),
        "needs root and iproute2 (a namespace with its own hosts file)",
    ) {
        return;
    }
    let ns = NetnsGuard::new();
    let etc = std::path::PathBuf::from("/etc/netns").join(&ns.name);
    std::fs::create_dir_all(&etc).expect("mkdir /etc/netns/NAME");
    let _etc = Remove(etc.clone());
    std::fs::write(
        etc.join("hosts"),
        "127.0.0.1\tlocalhost\n127.0.0.1\tmyapp.test\n",
    )
    .expect("hosts");
    for (mode, blocked) in [("vite", true), ("open", false)] {
        let port = unused_port().to_string();
        let _srv = Proc::start(
            "ip",
            &[
                "netns",
                "exec",
                &ns.name,
                python(),
                "-c",
                VITE_LIKE,
                &port,
                mode,
            ],
            true,
        );
        let v = why_in(&ns.name, &[&format!("http://myapp.test:{port}/")]);
        if blocked {
            let c = cause(&v, "host-not-allowed").unwrap_or_else(|| panic!("{v}"));
            assert!(
                c["summary"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("Vite on port"),
                "{c}"
            );
            assert!(
                c["fix"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("server.allowedHosts: ['myapp.test']"),
                "{c}"
            );
            let v = why_in(&ns.name, &[&format!("http://localhost:{port}/")]);
            assert!(
                cause(&v, "host-not-allowed").is_none(),
                "localhost passes: {v}"
            );
        } else {
            assert!(cause(&v, "host-not-allowed").is_none(), "{v}");
        }
    }
}
