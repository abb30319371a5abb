//! `lport wait`: real servers started after the wait began, listeners that go away, HTTP
//! and HTTPS status, unix and UDP sockets, and running a command once ready.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Proc, Sockets, bin, have, python, skip_unless, stderr, stdout, unused_port};

fn spawn_wait(args: &[&str]) -> Child {
    Command::new(bin())
        .arg("wait")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lport wait")
}

fn finish(child: Child) -> Output {
    child.wait_with_output().expect("wait for lport")
}

const HTTP_SERVER: &str = r#"
import http.server, socketserver, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 200 if self.path == "/health" else 404
        self.send_response(code); self.send_header("Content-Length", "0"); self.end_headers()
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
fn a_server_started_after_the_wait_began_is_noticed() {
    let port = unused_port();
    let started = Instant::now();
    let w = spawn_wait(&[&format!("127.0.0.1:{port}"), "--timeout", "10s"]);
    std::thread::sleep(Duration::from_millis(300));
    let l = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let out = finish(w);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(stderr(&out).contains("ready after"), "{}", stderr(&out));
    drop(l);
}

#[test]
fn ipv6_literals_and_several_targets_wait_for_all() {
    let s = Sockets::open(&["listen@::1"]);
    let later = unused_port();
    let w = spawn_wait(&[
        &format!("[::1]:{}", s.port(0)),
        &format!(":{later}"),
        "--timeout",
        "10s",
    ]);
    std::thread::sleep(Duration::from_millis(200));
    assert!(w.id() > 0);
    let l = std::net::TcpListener::bind(("127.0.0.1", later)).expect("bind");
    let out = finish(w);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    drop(l);
}

#[test]
fn timing_out_exits_1_with_the_last_reason() {
    let port = unused_port();
    let out = finish(spawn_wait(&[&port.to_string(), "--timeout", "300ms"]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("timed out after") && err.contains("nothing listens"),
        "{err}"
    );
}

#[test]
fn gone_waits_until_the_listener_closes() {
    let s = Sockets::open(&["listen@127.0.0.1"]);
    let port = s.port(0).to_string();
    // Still there: times out.
    let out = finish(spawn_wait(&["--gone", &port, "--timeout", "300ms"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("still listening"), "{}", stderr(&out));
    // Closes while waiting: done.
    let w = spawn_wait(&["--gone", &port, "--timeout", "10s"]);
    std::thread::sleep(Duration::from_millis(300));
    drop(s);
    let out = finish(w);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("gone after"));
}

#[test]
fn http_targets_wait_for_a_good_status() {
    let port = unused_port();
    let _srv = Proc::start(python(), &["-c", HTTP_SERVER, &port.to_string()], true);
    let base = format!("http://127.0.0.1:{port}");
    let out = finish(spawn_wait(&[&format!("{base}/health"), "--timeout", "5s"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = finish(spawn_wait(&[
        &format!("{base}/missing"),
        "--timeout",
        "400ms",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("HTTP 404"), "{}", stderr(&out));
    let out = finish(spawn_wait(&[
        &format!("{base}/missing"),
        "--status",
        "404",
        "--timeout",
        "5s",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn https_targets_accept_a_self_signed_certificate() {
    if skip_unless(
        have("openssl"),
        "needs openssl to make a self-signed certificate",
    ) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lport-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let (cert, key) = crate::support::self_signed(&dir);
    let port = unused_port();
    let _srv = Proc::start(
        python(),
        &[
            "-c",
            HTTP_SERVER,
            &port.to_string(),
            cert.to_str().expect("path"),
            key.to_str().expect("path"),
        ],
        true,
    );
    let out = finish(spawn_wait(&[
        &format!("https://127.0.0.1:{port}/health"),
        "--timeout",
        "5s",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Plain HTTP to the TLS port is not mistaken for ready.
    let out = finish(spawn_wait(&[
        &format!("http://127.0.0.1:{port}/health"),
        "--timeout",
        "500ms",
    ]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unix_and_udp_targets() {
    let dir = std::env::temp_dir().join(format!("lport-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join("app.sock");
    let target = format!("unix:{}", path.display());
    let w = spawn_wait(&[&target, "--timeout", "10s"]);
    std::thread::sleep(Duration::from_millis(200));
    let l = std::os::unix::net::UnixListener::bind(&path).expect("bind unix");
    let out = finish(w);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    drop(l);
    let _ = std::fs::remove_dir_all(&dir);

    let port = unused_port();
    let w = spawn_wait(&[&format!("udp/{port}"), "--timeout", "10s"]);
    std::thread::sleep(Duration::from_millis(300));
    let u = std::net::UdpSocket::bind(("127.0.0.1", port)).expect("bind udp");
    let out = finish(w);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    drop(u);
}

#[test]
fn the_command_after_dashes_runs_once_ready() {
    let s = Sockets::open(&["listen@127.0.0.1"]);
    let out = finish(spawn_wait(&[
        &s.port(0).to_string(),
        "-q",
        "--",
        "sh",
        "-c",
        "echo ran",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "ran\n");
    assert!(
        stderr(&out).is_empty(),
        "-q keeps stderr quiet: {}",
        stderr(&out)
    );
    // Not ready: the command does not run.
    let port = unused_port();
    let out = finish(spawn_wait(&[
        &port.to_string(),
        "--timeout",
        "200ms",
        "--",
        "sh",
        "-c",
        "echo ran",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
}

#[test]
fn waiting_on_the_wrong_family_says_so_and_urls_keep_their_path() {
    // A port no other socket uses on any address, so the family is the only thing amiss.
    let port = unused_port();
    let six = std::net::TcpListener::bind(("::1", port)).expect("bind ::1");
    let out = crate::support::lport(&["wait", &format!("127.0.0.1:{port}"), "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(1));
    let err = crate::support::stderr(&out);
    assert!(
        err.contains(&format!(
            "but [::1]:{port} listens: the other address family"
        )),
        "{err}"
    );
    drop(six);
    let out = crate::support::lport(&[
        "wait",
        &format!("http://127.0.0.1:{port}/health"),
        "--timeout",
        "1s",
    ]);
    let err = crate::support::stderr(&out);
    assert!(
        err.contains(&format!("http://127.0.0.1:{port}/health")),
        "{err}"
    );
    assert!(!err.contains("other address family"), "{err}");
}
