//! Probing never hurts what it probes: hand-written servers that die on the first error
//! (a reset while they greet, a reset while they read) are still alive, and still answer,
//! after `why`, `wait` and `ls --identify`.

use std::io::Read;
use std::process::Child;
use std::time::Duration;

use crate::support::{Proc, lport, python, unused_port};

/// Accepts one connection at a time, waits a moment, greets and closes: a reset from the
/// client before the greeting kills it (`ConnectionResetError` / `BrokenPipeError`).
const LATE_GREETER: &str = r#"
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    time.sleep(0.02)
    c.sendall(b"hi\r\n")
    c.close()
"#;

/// Single-threaded, reads a request first: a reset while it reads kills it.
const READER: &str = r#"
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    data = c.recv(64)
    c.sendall(b"got %d bytes\n" % len(data))
    c.close()
"#;

/// Greets with an SMTP banner and closes at once.
const BANNER_AND_CLOSE: &str = r#"
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b"220 fragile.test ESMTP ready\r\n")
    c.close()
"#;

fn alive(child: &mut Child) -> bool {
    matches!(child.try_wait(), Ok(None))
}

/// What the server says to a plain client that sends nothing and waits.
fn first_words(port: u16) -> String {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let _ = c.shutdown(std::net::Shutdown::Write);
    let mut s = String::new();
    let _ = c.read_to_string(&mut s);
    s
}

fn survives_every_probe(script: &str, expect: &str) -> serde_json::Value {
    let port = unused_port();
    let mut server = Proc::start(python(), &["-c", script, &port.to_string()], true);
    let target = format!("127.0.0.1:{port}");
    let port_arg = format!(":{port}");
    let runs: [&[&str]; 4] = [
        &["why", &target, "--json"],
        &["wait", &target, "--timeout", "5s"],
        &["ls", &port_arg, "--identify", "--json"],
        &["why", &target, "--no-identify", "--json"],
    ];
    let mut why = serde_json::Value::Null;
    for args in runs {
        let out = lport(args);
        // The server's last words come before lport's: give a crash the moment it takes.
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            alive(&mut server.0),
            "the server died after `lport {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        if why.is_null() {
            why = serde_json::from_slice(&out.stdout).expect("why json");
        }
    }
    assert!(
        first_words(port).contains(expect),
        "it still answers after being probed"
    );
    why
}

#[test]
fn a_server_greeting_late_survives_probing() {
    let v = survives_every_probe(LATE_GREETER, "hi");
    assert_eq!(v["verdict"], "ok", "{v}");
}

#[test]
fn a_single_threaded_reader_survives_probing() {
    let v = survives_every_probe(READER, "got 0 bytes");
    assert_eq!(v["verdict"], "ok", "{v}");
}

#[test]
fn a_banner_that_closes_at_once_survives_probing_and_is_named() {
    let v = survives_every_probe(BANNER_AND_CLOSE, "220 fragile.test");
    assert_eq!(v["service"]["name"], "smtp", "{v}");
}

fn why_json(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = crate::support::lport(&[&["why", "--json"], args].concat());
    (out.status.code(), crate::support::json_of(&out))
}

fn cause_ids(v: &serde_json::Value) -> Vec<String> {
    v["causes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// An echo server returned JDWP's handshake, so `why` warned "a Java debugger (JDWP)
/// listens" on `lport serve --tcp-echo`. An echo is named as such, with no alarm.
#[test]
fn an_echo_server_is_no_java_debugger() {
    let port = unused_port();
    let _echo = Proc::start(
        &crate::support::bin().display().to_string(),
        &["serve", "--tcp-echo", "-q", "--port", &port.to_string()],
        false,
    );
    crate::support::wait_for_port(port, 5);
    let (code, v) = why_json(&[&format!("127.0.0.1:{port}")]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["service"]["name"], "echo", "{v}");
    assert!(
        !cause_ids(&v).contains(&"unauthenticated-risky".to_owned()),
        "{v}"
    );
}

/// `why http://HOST:P/missing` said "reachable, HTTP 200" (it asked for `/`) where the path
/// is 404. The path is asked for and an error status on it is the answer.
#[test]
fn the_url_path_is_asked_for_and_its_status_told() {
    let port = unused_port();
    let _web = Proc::start(
        python(),
        &[
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ],
        false,
    );
    crate::support::wait_for_port(port, 10);
    let (code, v) = why_json(&[&format!("http://127.0.0.1:{port}/missing")]);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["service"]["detail"]["status"], 404, "{v}");
    assert_eq!(v["service"]["detail"]["path"], "/missing", "{v}");
    let c = crate::support::cause(&v, "http-status").unwrap_or_else(|| panic!("{v}"));
    assert!(
        c["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("/missing with HTTP 404"),
        "{c}"
    );
    let (code, v) = why_json(&[&format!("http://127.0.0.1:{port}/")]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["service"]["detail"]["status"], 200, "{v}");
    // A path with a space and a CR is sent encoded, never as a header of its own.
    let (_, v) = why_json(&[&format!("http://127.0.0.1:{port}/a b\rX-Evil: 1")]);
    assert_eq!(v["service"]["detail"]["status"], 404, "{v}");
    // `wait https://` to this plain server says what it speaks.
    let out = crate::support::lport(&[
        "wait",
        "--timeout",
        "1s",
        &format!("https://127.0.0.1:{port}/"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = crate::support::stderr(&out);
    assert!(err.contains("it speaks plain HTTP, not TLS"), "{err}");
}
