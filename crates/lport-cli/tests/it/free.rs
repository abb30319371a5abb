//! `lport free`: ports that bind everywhere, skip what is held, and `--exec` hand-over.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use crate::support::{bin, lport, python, stderr, stdout};

fn ports(out: &std::process::Output) -> Vec<u16> {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    stdout(out)
        .lines()
        .map(|l| l.parse().expect("port"))
        .collect()
}

#[test]
fn free_ports_bind_on_every_address_for_both_protocols() {
    let got = ports(&lport(&["free", "-n", "5", "--both"]));
    assert_eq!(got.len(), 5);
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").expect("range");
    let mut r = range
        .split_whitespace()
        .map(|x| x.parse::<u16>().expect("n"));
    let (lo, hi) = (r.next().expect("lo"), r.next().expect("hi"));
    for p in got {
        assert!(
            p >= 49152 && !(lo..=hi).contains(&p),
            "{p} is a dynamic port outside {lo}-{hi}"
        );
        let _a = std::net::TcpListener::bind(("0.0.0.0", p)).expect("tcp 0.0.0.0");
        let _b = std::net::UdpSocket::bind(("::", p)).expect("udp ::");
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&lport(&["free", "--json", "-n", "2"]).stdout).expect("json");
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["ports"].as_array().map(Vec::len), Some(2));
}

#[test]
fn held_ports_are_skipped_and_an_exhausted_range_exits_1() {
    // A bound-only socket holds the port without listening: it must still count as taken.
    let held = socket2_bound();
    let port = held.1;
    let next = ports(&lport(&["free", "--near", &port.to_string()]));
    assert!(next[0] > port, "{next:?} should skip held port {port}");
    let out = lport(&["free", "--range", &format!("{port}-{port}")]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("found 0 free ports"),
        "{}",
        stderr(&out)
    );
    drop(held);
}

/// A TCP socket bound to a port without listening, held by a child process.
fn socket2_bound() -> (crate::support::Sockets, u16) {
    let s = crate::support::Sockets::open(&["bound@127.0.0.1"]);
    let p = s.port(0);
    (s, p)
}

#[test]
fn exec_hands_a_listening_socket_to_the_program_as_fd_3() {
    let script = r#"
import os, socket, sys
s = socket.socket(fileno=3)
print(os.environ["PORT"], os.environ["LISTEN_FDS"], os.environ["LISTEN_PID"], os.getpid(), s.getsockname()[1], flush=True)
c, _ = s.accept()
c.sendall(b"hello from fd 3\n")
c.close()
"#;
    let mut child = Command::new(bin())
        .args(["free", "--exec", "--", python(), "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let f: Vec<u32> = line
        .split_whitespace()
        .map(|x| x.parse().expect("num"))
        .collect();
    let (port, fds, listen_pid, pid, bound) = (f[0], f[1], f[2], f[3], f[4]);
    assert_eq!(fds, 1);
    assert_eq!(listen_pid, pid, "LISTEN_PID is the program's own pid");
    assert_eq!(pid, child.id(), "lport replaced itself with the program");
    assert_eq!(port, bound);
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port as u16)).expect("connect");
    let mut got = String::new();
    c.read_to_string(&mut got).expect("read");
    assert_eq!(got, "hello from fd 3\n");
    assert!(child.wait().expect("wait").success());
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    assert!(err.contains(&format!("127.0.0.1:{port} is fd 3")), "{err}");
}

#[test]
fn free_rejects_bad_input() {
    for (args, needle) in [
        (&["free", "--range", "9-1"][..], "above"),
        (&["free", "--near", "70000"][..], "out of range"),
        (&["free", "--exec"][..], "required"),
        (
            &["free", "--exec", "--", "/nonexistent/program"][..],
            "cannot run",
        ),
    ] {
        let out = lport(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}
