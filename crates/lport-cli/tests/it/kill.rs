//! `lport kill`: every holder of a listener, escalation to SIGKILL, clients spared, and the
//! processes lport must never signal.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support::{Sockets, bin, lport, python, stderr, stdout};

fn kill(args: &[&str]) -> std::process::Output {
    let mut a = vec!["kill"];
    a.extend(args);
    // stdin is not a terminal here, so nothing is sent without --yes.
    Command::new(bin())
        .args(&a)
        .stdin(Stdio::null())
        .output()
        .expect("run lport kill")
}

#[test]
fn a_prefork_server_is_killed_entirely_and_the_port_is_free() {
    let s = Sockets::open(&["listen@127.0.0.1", "--fork"]);
    let child = s.fork_pid.expect("forked");
    let out = kill(&[&s.port(0).to_string(), "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains(&format!("SIGTERM pid {}", s.pid)), "{text}");
    assert!(text.contains(&format!("SIGTERM pid {child}")), "{text}");
    assert!(text.contains("free"), "{text}");
    assert!(!Sockets::alive(s.pid) && !Sockets::alive(child));
    std::net::TcpListener::bind(("127.0.0.1", s.port(0))).expect("the port binds again");
}

#[test]
fn a_process_that_ignores_sigterm_gets_sigkill_after_the_grace_period() {
    let s = Sockets::open(&["--ignore-term", "listen@127.0.0.1"]);
    let out = kill(&[&s.port(0).to_string(), "--yes", "--grace", "300ms"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("sent SIGKILL"), "{}", stdout(&out));
    assert!(!Sockets::alive(s.pid));
}

/// A client that holds a connection whose local port is the listener's port number (bound
/// to 127.0.0.2:PORT), and another with an ordinary ephemeral port.
const CLIENTS: &str = r#"
import socket, sys
port = int(sys.argv[1])
a = socket.socket(); a.bind(("127.0.0.2", port)); a.connect(("127.0.0.1", port))
b = socket.create_connection(("127.0.0.1", port))
print("connected", flush=True)
sys.stdin.read()
"#;

#[test]
fn clients_are_spared_even_when_they_use_the_port_as_source_port() {
    let s = Sockets::open(&["listen@127.0.0.1"]);
    let port = s.port(0);
    let mut clients = Command::new(python())
        .args(["-c", CLIENTS, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("clients");
    let mut line = String::new();
    BufReader::new(clients.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line.trim(), "connected");
    let out = kill(&[&port.to_string(), "--yes"]);
    let alive = Sockets::alive(clients.id());
    let _ = clients.kill();
    let _ = clients.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        !stdout(&out).contains(&format!("pid {} ", clients.id())),
        "{}",
        stdout(&out)
    );
    assert!(alive, "the client process survived");
    assert!(!Sockets::alive(s.pid));
}

#[test]
fn a_dual_stack_listener_is_found_for_its_ipv4_and_name_targets() {
    // Node.js's default: one [::] socket with IPV6_V6ONLY off takes 127.0.0.1 as well.
    let s = Sockets::open(&["dual@::"]);
    let port = s.port(0);
    for target in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        port.to_string(),
    ] {
        let out = kill(&[&target, "--dry-run"]);
        assert_eq!(out.status.code(), Some(0), "{target}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains(&format!("SIGTERM pid {}", s.pid)),
            "{target}: {text}"
        );
    }
    // A v6-only listener does not take IPv4: nothing listens on 127.0.0.1:PORT.
    let v6 = Sockets::open(&["v6only@::"]);
    let out = kill(&[&format!("127.0.0.1:{}", v6.port(0)), "--dry-run"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(Sockets::alive(s.pid) && Sockets::alive(v6.pid));
}

#[test]
fn dry_run_and_missing_confirmation_send_nothing() {
    let s = Sockets::open(&["listen@127.0.0.1"]);
    let port = s.port(0).to_string();
    let out = kill(&[&port, "--dry-run"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains(&format!("SIGTERM pid {}", s.pid)));
    assert!(stdout(&out).contains("command  "));
    assert!(Sockets::alive(s.pid));
    let out = kill(&[&port]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
    assert!(Sockets::alive(s.pid));
}

#[test]
fn lports_parent_is_never_signalled() {
    // The process holding the port runs lport itself, so it is lport's parent.
    let code = format!(
        r#"
import socket, subprocess, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
r = subprocess.run([{bin:?}, "kill", str(s.getsockname()[1]), "--yes"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
print(r.returncode)
print(r.stdout + r.stderr)
"#,
        bin = bin().display().to_string()
    );
    let out = Command::new(python())
        .args(["-c", &code])
        .output()
        .expect("run");
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("1"), "{text}");
    assert!(text.contains("lport's parent"), "{text}");
    assert!(
        out.status.success(),
        "the parent survived to report: {text}"
    );
}

#[test]
fn a_docker_proxy_holder_is_not_killed() {
    let dir = std::env::temp_dir().join(format!("lport-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join("docker-proxy");
    std::fs::write(
        &path,
        format!(
            "#!{}\nimport socket, sys\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\nprint(s.getsockname()[1], flush=True)\nsys.stdin.read()\n",
            python()
        ),
    )
    .expect("write");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut proxy = Command::new(&path)
        .args(["-container-ip", "172.17.0.2", "-container-port", "80"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(proxy.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let out = kill(&[line.trim(), "--yes"]);
    let alive = Sockets::alive(proxy.id());
    let _ = proxy.kill();
    let _ = proxy.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(alive);
    assert!(stdout(&out).contains("docker stop"), "{}", stdout(&out));
    assert!(stdout(&out).contains("172.17.0.2:80"), "{}", stdout(&out));
}

#[test]
fn nothing_listening_exits_1() {
    let port = crate::support::unused_port();
    let out = lport(&["kill", &port.to_string(), "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nothing listens"));
}

#[test]
fn a_respawned_server_is_reported_with_what_restarted_it() {
    let port = crate::support::unused_port();
    let server = format!(
        "import socket, sys, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(60)"
    );
    // A shell loop standing in for a supervisor: it restarts the server whenever it exits.
    let script = format!("while true; do {} -c \"{server}\"; done", python());
    let mut sup = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .expect("supervisor");
    crate::support::wait_for_port(port, 10);
    let out = kill(&[&port.to_string(), "--yes"]);
    let sup_pid = sup.id();
    // Stop the supervisor first so it cannot start another server, then its last server.
    let _ = sup.kill();
    let _ = sup.wait();
    let _ = Command::new("pkill")
        .args(["-9", "-f", &format!("bind\\(\\('127.0.0.1', {port}\\)")])
        .status();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("respawned: python3"), "{text}");
    assert!(
        text.contains(&format!("its parent, pid {sup_pid}")),
        "{text}"
    );
}

/// Runs `lport kill PORT` on a pseudo-terminal and answers its question with `answer`.
const ON_A_TERMINAL: &str = r#"
import os, pty, sys
lport, port, answer = sys.argv[1], sys.argv[2], sys.argv[3].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execv(lport, [lport, "kill", port, "--grace", "2s"])
out, asked = b"", False
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    if not asked and b"[y/N]" in out:
        os.write(fd, answer + b"\n")
        asked = True
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
print(out.decode(errors="replace"))
"#;

#[test]
fn on_a_terminal_it_asks_first() {
    for (answer, killed) in [("n", false), ("y", true)] {
        let s = Sockets::open(&["listen@127.0.0.1"]);
        let out = Command::new(python())
            .args(["-c", ON_A_TERMINAL])
            .arg(bin())
            .args([&s.port(0).to_string(), answer])
            .output()
            .expect("pty");
        let text = stdout(&out);
        assert!(text.contains("Send SIGTERM to 1 process? [y/N]"), "{text}");
        assert_eq!(
            text.lines().next(),
            Some(if killed { "0" } else { "1" }),
            "{text}"
        );
        assert_eq!(Sockets::alive(s.pid), !killed, "answer {answer}: {text}");
    }
}

/// A stopped server (Ctrl-Z) acts on no SIGTERM until resumed: `kill --grace` said it
/// "ignored SIGTERM" and sent SIGKILL. The plan says it is stopped, lport resumes it after
/// SIGTERM, and it exits on SIGTERM itself.
#[test]
fn a_stopped_server_is_resumed_so_it_can_act_on_sigterm() {
    let s = Sockets::open(&["listen@127.0.0.1"]);
    let st = Command::new("kill")
        .args(["-STOP", &s.pid.to_string()])
        .status();
    assert!(st.is_ok_and(|s| s.success()));
    let out = kill(&[&s.port(0).to_string(), "--yes", "--grace", "5s"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("stopped  state T"), "{text}");
    assert!(text.contains(&format!("pid {} exited", s.pid)), "{text}");
    assert!(!text.contains("ignored"), "{text}");
    assert!(!Sockets::alive(s.pid));
}
