//! `lport watch`: JSON events for a listener that opens and closes, and a clean exit that
//! restores the terminal on Ctrl-C.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{bin, python, stdout, unused_port};

#[test]
fn json_events_for_a_listener_that_opens_and_closes() {
    let port = unused_port();
    let child = Command::new(bin())
        .args([
            "watch",
            "--json",
            "-i",
            "100ms",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch");
    std::thread::sleep(Duration::from_millis(400));
    let l = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
    std::thread::sleep(Duration::from_millis(500));
    drop(l);
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "Ctrl-C ends it cleanly");
    let events: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().expect("event"))
        .collect();
    assert_eq!(kinds, vec!["opened", "closed"], "{events:?}");
    for e in &events {
        assert_eq!(e["schema"], 1);
        assert_eq!(e["socket"]["local"]["port"], u64::from(port));
        assert!(e["at"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    assert_eq!(
        events[0]["process"]["pid"],
        std::process::id(),
        "{:?}",
        events[0]
    );
}

/// Runs `lport watch` on a pseudo-terminal, lets it draw, then types Ctrl-C.
const ON_A_TERMINAL: &str = r#"
import os, pty, sys, time, select
lport = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    os.execv(lport, [lport, "watch", "-i", "100ms"])
out = b""
end = time.time() + 0.8
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.05)
    if r:
        out += os.read(fd, 65536)
os.write(fd, b"\x03")
while True:
    try:
        data = os.read(fd, 65536)
    except OSError:
        break
    if not data:
        break
    out += data
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
sys.stdout.write(out.decode(errors="replace").replace("\x1b", "ESC"))
"#;

#[test]
fn ctrl_c_on_a_terminal_restores_it() {
    let out = Command::new(python())
        .args(["-c", ON_A_TERMINAL])
        .arg(bin())
        .output()
        .expect("pty");
    let text = stdout(&out);
    assert_eq!(text.lines().next(), Some("0"), "{text}");
    assert!(
        text.contains("ESC[?1049h") && text.contains("PROTO"),
        "drew the table: {text}"
    );
    assert!(
        text.contains("ESC[?1049l") && text.contains("ESC[?25h"),
        "restored the screen: {text}"
    );
}

/// On a terminal, listeners there from the start are never marked new; one that opens
/// while watching is, and every frame fits the terminal.
#[test]
fn only_listeners_that_open_while_watching_are_marked_new() {
    let old = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let old_port = old.local_addr().expect("addr").port();
    let new_port = crate::support::unused_port();
    let opener = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1200));
        let l = std::net::TcpListener::bind(("127.0.0.1", new_port)).expect("bind late");
        std::thread::sleep(std::time::Duration::from_millis(1500));
        drop(l);
    });
    let text = crate::support::on_terminal(
        &[
            "watch",
            &old_port.to_string(),
            &new_port.to_string(),
            "-i",
            "100ms",
        ],
        80,
        2.2,
    );
    opener.join().expect("opener");
    let frames: Vec<String> = text
        .split("\x1b[H\x1b[2J")
        .map(crate::support::strip_sgr)
        .filter(|f| f.contains("PROTO"))
        .collect();
    // Redraws, however long each read of a loaded machine's tables takes (about 20 in 2.2 s
    // on a quiet one, 8 with 25k other sockets).
    assert!(frames.len() >= 4, "{} frames: {text}", frames.len());
    let row = |frame: &str, port: u16| {
        frame
            .lines()
            .find(|l| l.contains(&format!("127.0.0.1:{port}")))
            .map(str::to_owned)
    };
    for f in &frames {
        let r = row(f, old_port).unwrap_or_else(|| panic!("the old listener: {f}"));
        assert!(!r.starts_with('+'), "there from the start, never new: {r}");
        assert!(f.lines().all(|l| l.chars().count() <= 80), "{f}");
    }
    // The first frame that shows the new listener marks it new (for a few frames).
    let fresh = frames
        .iter()
        .find_map(|f| row(f, new_port))
        .unwrap_or_else(|| panic!("the new listener never showed: {text}"));
    assert!(fresh.starts_with('+'), "{fresh}");
    drop(old);
}

/// Runs ARGV on a pty of 100x12 for a second and a half, then 60x12 for another: each
/// frame after the resize fits the new width.
const RESIZING_PTY: &str = r#"
import fcntl, os, pty, select, struct, sys, termios, time
argv = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 12, 100, 0, 0))
    for v in ("COLUMNS", "LINES", "NO_COLOR"):
        os.environ.pop(v, None)
    os.execv(argv[0], argv)
out = b""
start = time.time()
resized = False
while time.time() < start + 3.0:
    if not resized and time.time() > start + 1.5:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 12, 60, 0, 0))
        out += b"\n@@RESIZED@@\n"
        resized = True
    r, _, _ = select.select([fd], [], [], 0.05)
    if r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
os.kill(pid, 9)
os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
"#;

/// Holds N listeners on one port across 127.0.0.2..: more rows than the terminal has.
const MANY_ON_ONE_PORT: &str = r#"
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
held = []
for i in range(n):
    s = socket.socket(); s.bind(("127.0.0.%d" % (i + 2), port)); s.listen(1); held.append(s)
print("ready", flush=True)
time.sleep(30)
"#;

/// With more listeners than rows, the title and header scrolled off and nothing said how
/// many were left out; after a resize the frames kept the old width; at 60 columns the pid
/// was cut. Every frame now fits the terminal as it is, says "N more", and keeps each pid.
#[test]
fn frames_fit_the_terminal_as_it_is_resized() {
    use std::io::BufRead as _;
    let port = crate::support::unused_port();
    let mut holder = std::process::Command::new(crate::support::python())
        .args(["-c", MANY_ON_ONE_PORT, &port.to_string(), "30"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    let out = holder.stdout.take().expect("stdout");
    let holder = crate::support::Proc(holder);
    let mut line = String::new();
    std::io::BufReader::new(out)
        .read_line(&mut line)
        .expect("ready");
    assert_eq!(line.trim(), "ready");
    let out = std::process::Command::new(crate::support::python())
        .args(["-c", RESIZING_PTY])
        .arg(crate::support::bin())
        .args(["watch", &port.to_string(), "-i", "100ms"])
        .output()
        .expect("pty");
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    let (before, after) = text.split_once("@@RESIZED@@").expect("resized");
    let frames = |t: &str| -> Vec<String> {
        t.split("\x1b[H\x1b[2J")
            .map(crate::support::strip_sgr)
            .filter(|f| f.contains("PROTO"))
            .collect()
    };
    let (before, after) = (frames(before), frames(after));
    assert!(!before.is_empty() && after.len() >= 2, "frames: {text}");
    let pid = holder.0.id().to_string();
    for (frames, width) in [(&before[..], 100), (&after[1..], 60)] {
        for f in frames {
            let lines: Vec<&str> = f.lines().filter(|l| !l.trim().is_empty()).collect();
            assert!(lines.len() <= 12, "{} lines in 12 rows: {f}", lines.len());
            assert!(lines[0].starts_with("lport watch"), "the title stays: {f}");
            assert!(lines[1].contains("PROTO"), "the header stays: {f}");
            assert!(
                lines.iter().all(|l| l.chars().count() <= width),
                "{width}: {f}"
            );
            assert!(f.contains(" more ("), "says how many are left out: {f}");
            let rows = lines.iter().filter(|l| l.contains(&format!(":{port}")));
            for r in rows {
                assert!(r.contains(&pid), "the pid kept at {width} columns: {r}");
            }
        }
    }
}

/// Piped, `watch` printed nothing until something changed: it starts with the state.
#[test]
fn piped_watch_starts_with_what_is_there() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let mut child = std::process::Command::new(crate::support::bin())
        .args(["watch", &port.to_string(), "-i", "100ms"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("watch");
    let out = child.stdout.take().expect("stdout");
    let child = crate::support::Proc(child);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).expect("line");
    assert!(
        line.contains(&format!(" listen tcp 127.0.0.1:{port} ")),
        "{line}"
    );
    assert!(
        line.contains(&format!("({})", std::process::id())),
        "{line}"
    );
    drop((child, l));
}
