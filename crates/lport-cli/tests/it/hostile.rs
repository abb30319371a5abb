//! Hostile input: servers and processes that try to hang, blind, flood or fool lport, run
//! for real on loopback. Each test names the defect it guards against (issue 8) and
//! asserts the bound: time, memory (the child's peak RSS, or `/proc/<pid>/status` of a
//! server), threads, CPU, the neutralised output and the visible owner.
//!
//! Point `LPORT_TEST_BIN` at an older build to see these fail there.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Proc, bin, have, json_of, python, skip_unless, stderr, stdout, unused_port};

/// Hostile servers, one per mode, on 127.0.0.1 and a free port; each prints
/// `{"port": N, "pid": P}` and serves every connection on its own thread until killed.
const HOSTILE_PY: &str = r#"
import ctypes, json, os, socket, sys, threading, time
mode = sys.argv[1]

def drip_tls(c):
    # A TLS handshake record header, then its body one byte every 0.3 s.
    c.sendall(b"\x16\x03\x03\x00\x40")
    for _ in range(100):
        time.sleep(0.3)
        c.sendall(b"\x02")

def endless(c):
    chunk = b"A" * 65536
    while True:
        c.sendall(chunk)

def banner100m(c):
    c.sendall(b"B" * (100 << 20))

def escape_http(c):
    c.recv(65536)
    body = b"<html><title>t\x1b]0;pwned\x07itle</title></html>"
    c.sendall(b"HTTP/1.1 200 OK\r\nServer: evil\x1b]0;pwned\x07\x1b[2J/1.0\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)

def escape_ssh(c):
    c.sendall(b"SSH-2.0-Open\x1b[2J\x1b]0;pwned\x07SSH_9.2\r\n")
    time.sleep(2)

def redirect(c):
    c.recv(65536)
    c.sendall(b"HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

def idle(c):
    time.sleep(30)

if mode == "name":
    # A name no decoder expects: not UTF-8, an OSC title sequence and a screen clear.
    libc = ctypes.CDLL(None)
    libc.prctl(15, ctypes.c_char_p(b"\xff\x1b]0;pwn\x07\x1b[2J"), 0, 0, 0)
handler = {"drip-tls": drip_tls, "endless": endless, "banner100m": banner100m,
           "escape-http": escape_http, "escape-ssh": escape_ssh, "redirect": redirect,
           "name": idle}[mode]
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 0))
s.listen(64)
print(json.dumps({"port": s.getsockname()[1], "pid": os.getpid()}), flush=True)

def serve(c):
    try:
        handler(c)
    except OSError:
        pass
    finally:
        c.close()

while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// A hostile server, killed when dropped.
pub(crate) struct Hostile {
    child: Child,
    pub(crate) port: u16,
    pub(crate) pid: u32,
}

impl Hostile {
    /// `drip-tls`, `endless`, `banner100m`, `escape-http`, `escape-ssh`, `redirect`, or
    /// `name` (an idle listener whose process name is not UTF-8 and holds escapes).
    /// Its port is free on every address and family, so what `ls PORT` shows is its own.
    pub(crate) fn start(mode: &str) -> Hostile {
        let port = unused_port().to_string();
        Hostile::start_via(&[python(), "-c", HOSTILE_PY, mode, &port])
    }

    fn start_via(argv: &[&str]) -> Hostile {
        let mut child = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a hostile server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("its port");
        let v: Value = serde_json::from_str(&line).expect("json line");
        Hostile {
            child,
            port: v["port"].as_u64().expect("port") as u16,
            pid: v["pid"].as_u64().expect("pid") as u32,
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs lport; returns its output, how long it took, and its peak RSS in KiB (measured by
/// a Python parent with getrusage, so no extra tool is needed).
fn measured(args: &[&str]) -> (Output, Duration, u64) {
    const WRAP: &str = r"
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
sys.stdout.buffer.write(r.stdout)
sys.stderr.buffer.write(r.stderr)
sys.stderr.write('\nMAXRSS_KIB=%d\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(r.returncode)
";
    let start = Instant::now();
    let mut out = Command::new(python())
        .args(["-c", WRAP])
        .arg(bin())
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .output()
        .expect("run lport");
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let (rest, rss) = err.rsplit_once("\nMAXRSS_KIB=").expect("peak RSS");
    let rss = rss.trim().parse().expect("a number");
    out.stderr = rest.as_bytes().to_vec();
    (out, took, rss)
}

fn assert_no_raw_controls(text: &str, what: &str) {
    assert!(
        !text
            .chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{9b}'),
        "{what}: a raw control character reached the terminal: {text:?}"
    );
}

#[test]
fn why_ends_on_time_against_a_dripping_tls_server() {
    // Regression: a TLS record dripped one byte every 0.3 s kept `why` busy for minutes
    // (only each read had a timeout).
    let h = Hostile::start("drip-tls");
    let (out, took, _) = measured(&["why", &h.addr(), "--timeout", "1s", "--json"]);
    let v = json_of(&out);
    assert_eq!(v["attempts"][0]["outcome"], "connected", "{v}");
    assert!(
        took <= Duration::from_millis(1500),
        "why took {took:?}: at most --timeout + 0.5 s whatever the server does"
    );
}

#[test]
fn wait_honours_its_timeout_against_a_dripping_tls_server() {
    // Regression: `wait https://...` ignored --timeout during a dripped handshake.
    let h = Hostile::start("drip-tls");
    let (out, took, _) = measured(&["wait", &format!("https://{}/", h.addr()), "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_millis(1300),
        "wait --timeout 1s took {took:?}"
    );
}

#[test]
fn ls_identify_bounds_the_whole_run() {
    // Regression: each dripping service held `ls --identify` for as long as it dripped.
    let drips: Vec<Hostile> = (0..3).map(|_| Hostile::start("drip-tls")).collect();
    let endless = Hostile::start("endless");
    let mut args = vec![
        "ls".to_owned(),
        "--identify".to_owned(),
        "--json".to_owned(),
    ];
    args.extend(drips.iter().chain([&endless]).map(Hostile::addr));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, took, rss) = measured(&args);
    let v = json_of(&out);
    // Another workload may hold a UDP socket with one of these numbers: only TCP counts.
    let tcp = v["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .filter(|s| s["proto"] == "tcp")
        .count();
    assert_eq!(tcp, 4, "{v}");
    assert!(
        took < Duration::from_millis(3500),
        "ls --identify took {took:?} (bounded at 3 s of probing)"
    );
    assert!(rss < 64 * 1024, "peak RSS {rss} KiB");
}

#[test]
fn floods_are_read_a_little_and_never_held() {
    // An endless stream and a 100 MB banner: lport reads a few KiB of each and moves on.
    for mode in ["endless", "banner100m"] {
        let h = Hostile::start(mode);
        let (out, took, rss) = measured(&["why", &h.addr(), "--timeout", "1s", "--json"]);
        let v = json_of(&out);
        assert_eq!(v["attempts"][0]["outcome"], "connected", "{mode}: {v}");
        assert!(took <= Duration::from_millis(1500), "{mode}: took {took:?}");
        assert!(rss < 64 * 1024, "{mode}: peak RSS {rss} KiB");
    }
}

#[test]
fn a_process_with_a_hostile_name_is_listed_and_neutralised() {
    // Regression: a comm that is not UTF-8 made the process vanish (`who` said it had
    // exited, `kill` could not stop it); escapes in it reached the terminal raw.
    let h = Hostile::start("name");
    let port = h.port.to_string();
    let pid = h.pid.to_string();
    let who = Command::new(bin())
        .args(["who", &port])
        .output()
        .expect("who");
    let text = stdout(&who);
    assert_eq!(who.status.code(), Some(0), "{text}{}", stderr(&who));
    assert!(
        text.contains(&format!("pid {pid}")),
        "the owner is shown: {text}"
    );
    assert!(
        text.contains("\\x1b]0;pwn\\x07"),
        "escapes shown as text: {text}"
    );
    assert_no_raw_controls(&text, "who");
    let ls = Command::new(bin())
        .args(["ls", &port])
        .output()
        .expect("ls");
    let text = stdout(&ls);
    assert!(text.contains(&format!("({pid})")), "{text}");
    assert_no_raw_controls(&text, "ls");
    let dry = Command::new(bin())
        .args(["kill", &port, "--dry-run"])
        .output()
        .expect("kill --dry-run");
    let text = stdout(&dry);
    assert_eq!(dry.status.code(), Some(0), "{text}{}", stderr(&dry));
    assert!(
        text.contains(&format!("pid {pid}")),
        "kill can stop it: {text}"
    );
    assert_no_raw_controls(&text, "kill --dry-run");
    // JSON keeps the name exactly, escaped by serde, with the bad byte decoded lossily.
    let v = json_of(
        &Command::new(bin())
            .args(["ls", &port, "--json"])
            .output()
            .expect("ls --json"),
    );
    let name = v["processes"][0]["name"].as_str().expect("a name");
    assert_eq!(name, "\u{fffd}\u{1b}]0;pwn\u{7}\u{1b}[2J");
}

#[test]
fn server_text_is_neutralised_in_why_and_identify() {
    // Regression: `Server:` headers and SSH banners reached the terminal raw.
    for mode in ["escape-http", "escape-ssh"] {
        let h = Hostile::start(mode);
        let (out, _, _) = measured(&["why", &h.addr()]);
        let text = stdout(&out);
        assert!(
            text.contains("\\x1b"),
            "{mode}: the escape is shown: {text}"
        );
        assert_no_raw_controls(&text, mode);
        let (out, _, _) = measured(&["ls", "--identify", &h.addr()]);
        assert_no_raw_controls(&stdout(&out), mode);
        // JSON stays exact.
        let (out, _, _) = measured(&["why", &h.addr(), "--json"]);
        let v = json_of(&out);
        let product = v["service"]["product"].as_str().unwrap_or_default();
        assert!(product.contains('\u{1b}'), "{mode}: {v}");
    }
}

#[test]
fn a_bare_redirect_is_no_rebinding_alarm() {
    // Regression: a 302 with an empty body for a foreign Host was flagged as
    // rebinding-vulnerable.
    let h = Hostile::start("redirect");
    let (out, _, _) = measured(&["why", &h.addr(), "--json"]);
    let v = json_of(&out);
    assert_eq!(v["service"]["name"], "http", "{v}");
    assert_eq!(v["service"]["detail"]["foreign_host_status"], 302, "{v}");
    let ids: Vec<&str> = v["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(!ids.contains(&"rebinding-vulnerable"), "{ids:?}");
}

#[test]
fn usage_bounds() {
    // Regression: `free -n 99999999999` aborted on allocation (exit 134); `--timeout 0`
    // was accepted and the failure blamed on a firewall.
    let out = Command::new(bin())
        .args(["free", "-n", "99999999999"])
        .output()
        .expect("free");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("1..=65535"), "{}", stderr(&out));
    let port = unused_port().to_string();
    let out = Command::new(bin())
        .args(["why", &port, "--timeout", "0"])
        .output()
        .expect("why");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("above zero"), "{}", stderr(&out));
}

/// A server under test: `lport ARGS` on a free port, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts `prefix... lport args... --port P` (or `--listen`), waits until it accepts.
    fn start(prefix: &[&str], args: &[&str], port_flag: &str) -> Server {
        let port = unused_port();
        let port_arg = if port_flag == "--listen" {
            format!("127.0.0.1:{port}")
        } else {
            port.to_string()
        };
        let (cmd, pre) = match prefix.split_first() {
            Some((c, rest)) => (c.to_string(), rest.to_vec()),
            None => (bin().display().to_string(), Vec::new()),
        };
        let mut c = Command::new(cmd);
        c.args(pre);
        if !prefix.is_empty() {
            c.arg(bin());
        }
        let child = c
            .args(args)
            .args([port_flag, &port_arg])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{args:?} never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, port }
    }

    fn status_field(&self, key: &str) -> u64 {
        let s =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("status");
        s.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("field")
    }

    /// User plus system CPU time so far, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).expect("stat");
        let after = &s[s.rfind(')').expect("comm") + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        // Fields 14 and 15 of stat; `after` starts at field 3.
        f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
    }

    /// Stops it and returns what it said on stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let _ = self.child.wait();
        err
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One GET with extra header lines; the whole reply, or "" when there was none.
fn get_with(port: u16, path: &str, headers: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(15)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Connection: close\r\n\r\n"
    );
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).ok()?;
    Some(String::from_utf8_lossy(&reply).into_owned())
}

#[test]
fn serve_cache_is_bounded_by_resolved_path() {
    // Regression: the file cache was keyed by the raw URL path, so 400 spellings of
    // `/./././one.bin` held 400 copies (5 MB -> 417 MB RSS).
    let dir = tempdir("cache");
    std::fs::write(dir.join("one.bin"), vec![7u8; 1 << 20]).expect("write");
    let srv = Server::start(&[], &["serve", dir.to_str().expect("dir"), "-q"], "--port");
    let before = srv.status_field("VmRSS:");
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = vec![0u8; 2 << 20];
    for i in 0..400 {
        let path = format!("/{}one.bin", "./".repeat(i));
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
            srv.port
        )
        .expect("write");
        // Head plus 1 MiB of body.
        let mut got = 0;
        while got < (1 << 20) {
            let n = s.read(&mut buf).expect("read");
            assert!(n > 0, "closed early");
            got += n;
        }
        if i == 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let after = srv.status_field("VmRSS:");
    assert!(
        after < before + 96 * 1024,
        "RSS grew from {before} to {after} KiB over 400 spellings of one file"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir(what: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("lport-it-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn accept_errors_do_not_spin_a_core() {
    // Regression: with its file descriptors used up, `serve --tcp-echo` retried accept at
    // once, forever: a full core. Every server shares the accept loop; each is tried.
    if skip_unless(have("prlimit"), "needs prlimit (util-linux)") {
        return;
    }
    let servers: [(&[&str], &str); 4] = [
        (&["serve", "--tcp-echo", "-q"], "--port"),
        (&["serve", "--echo", "-q"], "--port"),
        (&["exporter"], "--listen"),
        (&["ui", "--no-open"], "--port"),
    ];
    for (args, flag) in servers {
        let srv = Server::start(&["prlimit", "--nofile=24:24", "--"], args, flag);
        // Far more clients than descriptors: accept fails with EMFILE.
        let clients: Vec<TcpStream> = (0..40)
            .filter_map(|_| TcpStream::connect(("127.0.0.1", srv.port)).ok())
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let t0 = srv.cpu_ticks();
        std::thread::sleep(Duration::from_secs(2));
        let used = srv.cpu_ticks() - t0;
        // 2 s is 200 ticks at 100 Hz; a spinning loop uses all of them.
        assert!(
            used < 30,
            "{args:?}: {used} ticks of CPU in 2 s while out of descriptors"
        );
        drop(clients);
        // Once descriptors are free again, it serves.
        std::thread::sleep(Duration::from_millis(1200));
        let mut c = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect again");
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        if args.contains(&"--tcp-echo") {
            c.write_all(b"ping").expect("write");
            let mut b = [0u8; 4];
            c.read_exact(&mut b).expect("echo after recovery");
            assert_eq!(&b, b"ping");
        } else {
            write!(c, "GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", srv.port).expect("write");
            let mut b = [0u8; 12];
            c.read_exact(&mut b).expect("a reply after recovery");
            assert!(b.starts_with(b"HTTP/1.1 "), "{args:?}");
        }
        drop(c);
        let err = srv.stop();
        assert!(
            err.contains("cannot accept connections"),
            "{args:?} says why once: {err}"
        );
    }
}

#[test]
fn slow_clients_are_cut_off_and_the_cap_is_announced() {
    // Regression: no header or idle timeout: slowloris clients held the server as long as
    // they liked, and with few descriptors locked everyone out.
    let srv = Server::start(
        &[],
        &["serve", "--echo", "--max-connections", "6"],
        "--port",
    );
    let port = srv.port;
    let mut slow: Vec<TcpStream> = Vec::new();
    for i in 0..6 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        if i % 2 == 0 {
            // Half drip a request head; half send nothing at all.
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
                .expect("write");
        }
        slow.push(s);
    }
    let dripping = std::thread::spawn({
        let mut drips: Vec<TcpStream> = slow
            .iter()
            .step_by(2)
            .map(|s| s.try_clone().expect("clone"))
            .collect();
        move || {
            for _ in 0..20 {
                std::thread::sleep(Duration::from_secs(1));
                for d in &mut drips {
                    let _ = d.write_all(b"X-a: b\r\n");
                }
            }
        }
    });
    // At the cap: a seventh client waits, then is served once the slow ones are cut off
    // (10 s to send a head).
    let start = Instant::now();
    let reply = get(port, "/after").expect("served");
    let waited = start.elapsed();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(waited < Duration::from_secs(14), "served after {waited:?}");
    for mut s in slow {
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut b = [0u8; 256];
        // The server closed it (EOF, or a 408 then EOF, or a reset).
        let closed = loop {
            match s.read(&mut b) {
                Ok(0) | Err(_) => break true,
                Ok(_) => {}
            }
        };
        assert!(closed);
        let _ = s.shutdown(Shutdown::Both);
    }
    let _ = dripping.join();
    let err = srv.stop();
    assert!(
        err.contains("6 connections open, the most this server takes"),
        "the cap is announced: {err}"
    );
}

#[test]
fn concurrent_scrapes_share_one_read() {
    // Regression: 200 simultaneous scrapes made 515 threads and 71 MB.
    let srv = Server::start(&[], &["exporter"], "--listen");
    let port = srv.port;
    // What one read costs on this machine, whose socket count the test does not choose:
    // another workload's 20k sockets make every read bigger. The bound is relative to it.
    let idle = srv.status_field("VmRSS:");
    let first = get(port, "/metrics").unwrap_or_default();
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    let one_read = srv.status_field("VmHWM:");
    let per_read = one_read.saturating_sub(idle);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(200));
    let scrapers: Vec<_> = (0..200)
        .map(|_| {
            let b = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                b.wait();
                get(port, "/metrics")
            })
        })
        .collect();
    let mut peak_threads = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while scrapers.iter().any(|h| !h.is_finished()) && Instant::now() < deadline {
        peak_threads = peak_threads.max(srv.status_field("Threads:"));
        std::thread::sleep(Duration::from_millis(5));
    }
    let ok = scrapers
        .into_iter()
        .filter_map(|h| h.join().ok().flatten())
        .filter(|r| r.starts_with("HTTP/1.1 200") && r.contains("lport_sockets"))
        .count();
    assert_eq!(ok, 200, "every scrape answered");
    assert!(peak_threads <= 16, "{peak_threads} threads at the peak");
    // Shared reads: at most the one that runs plus the next, and 200 connections' buffers.
    let rss = srv.status_field("VmHWM:");
    let bound = one_read + per_read + 24 * 1024;
    assert!(
        rss < bound,
        "peak RSS {rss} KiB; one read peaked at {one_read} KiB from {idle} KiB idle"
    );
}

/// Swapping a served subdirectory with a symlink to the outside
/// (`renameat2(RENAME_EXCHANGE)`) while files inside it are requested: before `serve`
/// opened names beneath the root's descriptor, about one reply in five carried the outside
/// file, and the cache went on serving it.
#[test]
fn serve_never_reads_outside_through_a_swapped_directory() {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    let base = tempdir("swap");
    let root = base.join("root");
    std::fs::create_dir_all(root.join("sub")).expect("mkdir");
    std::fs::create_dir_all(base.join("outside")).expect("mkdir");
    // Past the in-memory cache's limit, so each request opens the file again.
    std::fs::write(root.join("sub/file.txt"), "inside".repeat(400_000)).expect("write");
    std::fs::write(base.join("outside/file.txt"), "SECRET".repeat(400_000)).expect("write");
    std::os::unix::fs::symlink(base.join("outside"), root.join("link")).expect("symlink");
    let srv = Server::start(
        &[],
        &["serve", root.to_str().expect("root"), "-q"],
        "--port",
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let stop = std::sync::Arc::clone(&stop);
        let (a, b) = (root.join("sub"), root.join("link"));
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                renameat_with(CWD, &a, CWD, &b, RenameFlags::EXCHANGE).expect("exchange");
                swaps += 1;
            }
            swaps
        })
    };
    // Four clients, each asking for the file's first bytes 750 times.
    let port = srv.port;
    let clients: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let (mut inside, mut leaked, mut other) = (0, 0, 0);
                for _ in 0..750 {
                    let r = get_with(port, "/sub/file.txt", "Range: bytes=0-11\r\n");
                    if r.contains("SECRET") {
                        leaked += 1;
                    } else if r.contains("insideinside") {
                        inside += 1;
                    } else {
                        other += 1;
                    }
                }
                (inside, leaked, other)
            })
        })
        .collect();
    let (mut inside, mut leaked, mut other) = (0, 0, 0);
    for c in clients {
        let (i, l, o) = c.join().expect("client");
        (inside, leaked, other) = (inside + i, leaked + l, other + o);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().expect("swapper");
    assert!(swaps > 100, "the directory was swapped ({swaps} times)");
    assert_eq!(
        leaked, 0,
        "{leaked} of 3000 replies carried the file outside the root ({inside} inside, {other} refused)"
    );
    assert!(
        inside > 0,
        "the file inside was served at all ({other} refused)"
    );
    drop(srv);
    let _ = std::fs::remove_dir_all(&base);
}

/// A special file at `path` (a FIFO, or a device node as root).
fn mknod(path: &std::path::Path, kind: rustix::fs::FileType, dev: rustix::fs::Dev) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        kind,
        rustix::fs::Mode::from_raw_mode(0o644),
        dev,
    )
    .unwrap_or_else(|e| panic!("mknod {}: {e}", path.display()));
}

/// A FIFO in the served directory: `open()` used to block a worker thread for good; eight
/// such requests starved every uncached file, and SIGTERM never ended the process.
#[test]
fn serve_refuses_a_fifo_without_hanging() {
    let dir = tempdir("fifo");
    std::fs::write(dir.join("hello.txt"), "hello\n").expect("write");
    mknod(&dir.join("pipe"), rustix::fs::FileType::Fifo, 0);
    let mut srv = Server::start(&[], &["serve", dir.to_str().expect("dir"), "-q"], "--port");
    for i in 0..12 {
        let r = get(srv.port, "/pipe").unwrap_or_default();
        assert!(
            r.starts_with("HTTP/1.1 403"),
            "request {i} for the FIFO: {r}"
        );
        assert!(r.contains("a FIFO is not served"), "{r}");
    }
    let r = get(srv.port, "/hello.txt").unwrap_or_default();
    assert!(
        r.starts_with("HTTP/1.1 200") && r.ends_with("hello\n"),
        "{r}"
    );
    // And it still stops when asked.
    let _ = Command::new("kill")
        .args(["-TERM", &srv.child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while srv.child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "serve did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A character device node (like /dev/zero) reports size 0: it took the "small file,
/// cache it" path and was read to EOF, 1.8 GB in 5 s. Only regular files are served, and
/// never past the size fstat gave.
#[test]
fn serve_refuses_device_nodes() {
    if skip_unless(
        crate::support::is_root(),
        "needs root (mknod of a character device)",
    ) {
        return;
    }
    let dir = tempdir("device");
    std::fs::write(dir.join("hello.txt"), "hello\n").expect("write");
    mknod(
        &dir.join("zero"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::makedev(1, 5),
    );
    let srv = Server::start(&[], &["serve", dir.to_str().expect("dir"), "-q"], "--port");
    let before = srv.status_field("VmRSS:");
    let r = get(srv.port, "/zero").unwrap_or_default();
    assert!(r.starts_with("HTTP/1.1 403"), "{}", &r[..r.len().min(300)]);
    assert!(
        r.contains("a device node is not served"),
        "{}",
        &r[..r.len().min(300)]
    );
    let listing = get(srv.port, "/").unwrap_or_default();
    assert!(
        listing.contains(">zero</a></li>"),
        "listed, without a size: {listing}"
    );
    let r = get(srv.port, "/hello.txt").unwrap_or_default();
    assert!(r.ends_with("hello\n"), "{r}");
    let after = srv.status_field("VmRSS:");
    assert!(after < before + 16 * 1024, "RSS {before} -> {after} KiB");
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A datagram from 127.0.0.1:PORT to 127.0.0.1:PORT, written with a raw socket.
const FORGE: &str = r#"
import socket, struct, sys
port = int(sys.argv[1])
payload = b"loop"
udp = struct.pack("!HHHH", port, port, 8 + len(payload), 0) + payload
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
s.sendto(udp, ("127.0.0.1", 0))
"#;

/// One datagram whose source is the server's own address made `serve --udp-echo` answer
/// itself forever: more than a core and 133k log lines in 3 s. Sources that are the server
/// itself or an echo-like service port get nothing, and each source is rate-limited.
#[test]
fn udp_echo_never_answers_itself_or_another_echo() {
    if skip_unless(
        crate::support::is_root(),
        "needs root (a raw socket to forge the source, a source port below 1024)",
    ) {
        return;
    }
    let port = unused_port();
    let mut child = Command::new(bin())
        .args(["serve", "--udp-echo", "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve --udp-echo");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("url");
    assert!(line.starts_with("udp://"), "{line}");
    let ticks = |pid: u32| -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let f: Vec<&str> = s[s.rfind(')').expect("comm") + 2..]
            .split_whitespace()
            .collect();
        f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
    };
    let before = ticks(child.id());
    let st = Command::new(python())
        .args(["-c", FORGE, &port.to_string()])
        .status()
        .expect("python");
    assert!(st.success());
    // From port 7 (echo): no reply, or two echo servers would bounce it between them.
    let echo = std::net::UdpSocket::bind("127.0.0.1:7").expect("bind port 7");
    echo.set_read_timeout(Some(Duration::from_millis(700)))
        .expect("timeout");
    echo.send_to(b"ping", ("127.0.0.1", port)).expect("send");
    let mut buf = [0u8; 64];
    assert!(
        echo.recv_from(&mut buf).is_err(),
        "an echo port got a reply"
    );
    // A flood from one client: replies are capped by the per-source rate.
    let c = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    c.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    for _ in 0..3000 {
        let _ = c.send_to(b"x", ("127.0.0.1", port));
    }
    let mut replies = 0;
    while c.recv_from(&mut buf).is_ok() {
        replies += 1;
    }
    assert!(
        (100..=900).contains(&replies),
        "{replies} replies to 3000 datagrams sent at once"
    );
    // A normal client is still answered.
    std::thread::sleep(Duration::from_millis(1100));
    let d = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    d.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    d.send_to(b"hello", ("127.0.0.1", port)).expect("send");
    let (n, _) = d.recv_from(&mut buf).expect("an echo");
    assert_eq!(&buf[..n], b"hello");
    let spent = ticks(child.id()) - before;
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    let log = String::from_utf8_lossy(&out.stderr);
    let lines = log.lines().count();
    // Ticks are 1/100 s: a loop would burn a core for the 2+ s this took.
    assert!(spent < 60, "{spent} ticks of CPU");
    assert!(lines < 1500, "{lines} log lines");
    assert!(log.contains("from its own address"), "{log}");
}

/// A unix listener that never accepts, with its queue full: a blocking connect waits as
/// long as that lasts, so `why unix:` ran until killed (10 s with the default 1 s) and
/// `wait --timeout 2s` returned after 19 s. Both end on their deadline now.
#[test]
fn unix_targets_with_a_full_queue_end_on_their_timeout() {
    const FULL: &str = r#"
import os, socket, sys
path = sys.argv[1]
l = socket.socket(socket.AF_UNIX); l.bind(path); l.listen(0)
held = []
while True:
    c = socket.socket(socket.AF_UNIX); c.setblocking(False)
    try:
        c.connect(path)
        held.append(c)
    except BlockingIOError:
        break
print("full", len(held), flush=True)
sys.stdin.read()
"#;
    let dir = tempdir("unix-full");
    let path = dir.join("s.sock");
    let mut child = Command::new(python())
        .args(["-c", FULL, path.to_str().expect("path")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready");
    assert!(line.starts_with("full"), "{line}");
    let target = format!("unix:{}", path.display());
    let (out, took, _) = measured(&["why", &target, "--timeout", "1s", "--json"]);
    let v = json_of(&out);
    let ids: Vec<&str> = v["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(ids.contains(&"backlog-full"), "{v}");
    assert!(
        took < Duration::from_secs(3),
        "why --timeout 1s took {took:?}"
    );
    let (out, took, _) = measured(&["wait", &target, "--timeout", "2s"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_millis(3500),
        "wait --timeout 2s took {took:?}"
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Python program that makes a listener in an odd place (`thread`: a thread that
/// unshared its fd table; `flight`: sent over a unix socket and closed, so only the
/// message holds it), prints its port and pid, and waits for stdin to close.
const ODD_HOLDER: &str = r#"
import ctypes, os, socket, sys, threading
mode, port = sys.argv[1], int(sys.argv[2])
ready = threading.Event()
keep = []
def make():
    s = socket.socket(); s.bind(("127.0.0.1", port)); s.listen(1); keep.append(s)
if mode == "thread":
    def own_table():
        # CLONE_FILES: from here this thread's fd table is its own copy.
        assert ctypes.CDLL(None, use_errno=True).unshare(0x400) == 0
        make()
        ready.set()
        threading.Event().wait()
    threading.Thread(target=own_table, daemon=True).start()
    ready.wait()
else:
    a, b = socket.socketpair()
    make()
    socket.send_fds(a, [b"x"], [keep[0].fileno()])
    keep[0].close()
    keep.append((a, b))
print(os.getpid(), flush=True)
sys.stdin.read()
"#;

/// `lport ls 127.0.0.1:PORT --json` while an odd holder (see [`ODD_HOLDER`]) holds the
/// port, and the holder's pid.
fn listed_while_held(mode: &str, port: u16) -> (Value, u32) {
    let (mut child, pid) = odd_holder(mode, port);
    let v = json_of(
        &Command::new(bin())
            .args(["ls", &format!("127.0.0.1:{port}"), "--json"])
            .output()
            .expect("ls"),
    );
    drop(child.stdin.take());
    let _ = child.wait();
    (v, pid)
}

fn odd_holder(mode: &str, port: u16) -> (Child, u32) {
    let mut child = Command::new(python())
        .args(["-c", ODD_HOLDER, mode, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("pid");
    let pid = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("pid: {line:?}"));
    (child, pid)
}

#[test]
fn sockets_held_by_a_thread_or_a_message_are_named_for_what_they_are() {
    if skip_unless(
        rustix::process::geteuid().is_root(),
        "seeing every process's fd tables needs root",
    ) {
        return;
    }
    // Regression: both were "a kernel socket, or a process in another PID namespace".
    let port = unused_port();
    let (v, pid) = listed_while_held("thread", port);
    assert_eq!(
        v["sockets"][0]["owners"][0]["pid"], pid,
        "the thread's process holds it: {v}"
    );

    let port = unused_port();
    let (v, _) = listed_while_held("flight", port);
    let note = v["sockets"][0]["owner_note"].as_str().unwrap_or_default();
    assert!(note.contains("in flight between processes"), "{v}");
}

/// One GET naming `host` in its Host header; the status code, or 0 without a reply.
fn status_for_host(port: u16, path: &str, host: &str) -> u16 {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(15)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    );
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn serve_and_exporter_answer_only_their_own_names() {
    // Regression: both answered any Host, so a web page could read them through DNS
    // rebinding (`Host: attacker.example:P` -> 200 /metrics), and lport's own `why` called
    // them rebinding-vulnerable.
    let dir = tempdir("hosts");
    std::fs::write(dir.join("index.html"), "hello").expect("write");
    let servers = [
        (
            Server::start(&[], &["serve", "-q", dir.to_str().expect("dir")], "--port"),
            "/index.html",
        ),
        (
            Server::start(&[], &["serve", "--echo", "-q"], "--port"),
            "/x",
        ),
        (Server::start(&[], &["exporter"], "--listen"), "/metrics"),
    ];
    for (s, path) in &servers {
        let p = s.port;
        for own in [
            format!("127.0.0.1:{p}"),
            format!("localhost:{p}"),
            format!("[::1]:{p}"),
        ] {
            assert_eq!(status_for_host(p, path, &own), 200, "{path} for {own}");
        }
        for foreign in [
            format!("attacker.example:{p}"),
            "localhost".to_owned(),
            String::new(),
        ] {
            assert_eq!(
                status_for_host(p, path, &foreign),
                403,
                "{path} for {foreign:?}"
            );
        }
        let v = json_of(
            &Command::new(bin())
                .args(["why", &format!("127.0.0.1:{p}"), "--json"])
                .output()
                .expect("why"),
        );
        let ids: Vec<&str> = v["causes"]
            .as_array()
            .expect("causes")
            .iter()
            .filter_map(|c| c["id"].as_str())
            .collect();
        assert!(!ids.contains(&"rebinding-vulnerable"), "{path}: {v}");
    }
    // A name the user allows is answered; `*` answers any.
    let named = Server::start(
        &[],
        &["serve", "--echo", "-q", "--allow-host", "Dev.Example"],
        "--port",
    );
    assert_eq!(
        status_for_host(named.port, "/", &format!("dev.example:{}", named.port)),
        200
    );
    assert_eq!(
        status_for_host(named.port, "/", &format!("other.example:{}", named.port)),
        403
    );
    let any = Server::start(&[], &["exporter", "--allow-host", "*"], "--listen");
    assert_eq!(
        status_for_host(
            any.port,
            "/metrics",
            &format!("scraper.example:{}", any.port)
        ),
        200
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A directory of 100k files: every listing was built anew on the async runtime, 0.45 s and
/// 13.9 MB each, and 64 at once took memory to 970 MB while a small file waited 25 s. A
/// listing is cut at 10,000 entries (the page says so), built a few at a time on blocking
/// threads, and shared by every request while the directory is unchanged.
#[test]
fn many_listings_of_a_huge_directory_share_one_build() {
    let dir = tempdir("huge");
    for i in 0..100_000 {
        std::fs::File::create(dir.join(format!("file-{i:06}.txt"))).expect("create");
    }
    std::fs::write(dir.join("small.txt"), "small\n").expect("write");
    std::fs::create_dir(dir.join("sub")).expect("sub");
    std::fs::write(dir.join("sub/a.txt"), "a").expect("write");
    let srv = Server::start(&[], &["serve", dir.to_str().expect("dir"), "-q"], "--port");
    let port = srv.port;
    let cpu_before = srv.cpu_ticks();
    let listings: Vec<_> = (0..64)
        .map(|_| std::thread::spawn(move || get(port, "/").unwrap_or_default()))
        .collect();
    let small = get(port, "/small.txt").unwrap_or_default();
    assert!(small.ends_with("\r\n\r\nsmall\n"), "{small}");
    for l in listings {
        let page = l.join().expect("thread");
        assert!(
            page.starts_with("HTTP/1.1 200"),
            "{}",
            &page[..page.len().min(300)]
        );
        assert!(
            page.contains("The first 10000 entries are listed; the directory has more."),
            "the cap is said"
        );
        assert_eq!(page.matches("<li>").count(), 10_000, "capped at 10,000");
    }
    let cpu_64 = srv.cpu_ticks() - cpu_before;
    let peak = srv.status_field("VmHWM:");
    // What one build costs: the directory changed, so the next listing is built anew.
    std::fs::write(dir.join("new.txt"), "").expect("write");
    let cpu_before = srv.cpu_ticks();
    let one = get(port, "/").unwrap_or_default();
    assert!(one.contains("the directory has more"));
    let cpu_1 = srv.cpu_ticks() - cpu_before;
    assert!(
        cpu_64 <= 8 * cpu_1.max(2) + 10,
        "64 listings took {cpu_64} CPU ticks, one alone {cpu_1}: each was built anew"
    );
    assert!(
        peak < 64 * 1024,
        "peak RSS {peak} KiB over 64 listings of 100k files"
    );
    // A kept listing is never stale: a new file is listed once the directory changed.
    let before = get(port, "/sub/").unwrap_or_default();
    assert!(
        before.contains(">a.txt</a>") && !before.contains(">b.txt</a>"),
        "{before}"
    );
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(dir.join("sub/b.txt"), "b").expect("write");
    let after = get(port, "/sub/").unwrap_or_default();
    assert!(after.contains(">b.txt</a>"), "{after}");
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Holds N TCP listeners on one port across 127.77.x.y from the FIRST-th address; the
/// first holder also opens and closes one more every 0.4 s, so the document keeps changing.
const MANY_LISTENERS: &str = r#"
import resource, socket, sys, time
port, first, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard < n + 100:
    print("no-fds", flush=True); sys.exit(0)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n + 100), hard))
held = []
for i in range(first, first + n):
    s = socket.socket()
    s.bind(("127.77.%d.%d" % (i // 250, i % 250 + 1), port))
    s.listen(1)
    held.append(s)
print("ready", flush=True)
while True:
    if first == 0:
        s = socket.socket(); s.bind(("127.77.250.1", port)); s.listen(1)
    time.sleep(0.4)
    if first == 0:
        s.close()
    time.sleep(0.4)
"#;

/// Event streams of the dashboard that never read: with 20k listeners, 50 of them took
/// the dashboard to 714 MB (819 MB here: each stream kept its own copies of the 4 MB
/// document, the connection copied each chunk into a buffer of its own, and every refresh
/// built a `json!` tree). Every stream shares one frame per change, written from where it
/// is, and a client that stops reading holds at most that.
#[test]
fn dashboard_streams_that_never_read_share_one_document() {
    let port = unused_port();
    // Four holders of 5,000 each: a process here may not have 20,000 descriptors.
    let mut guards = Vec::new();
    for first in ["0", "5000", "10000", "15000"] {
        let mut holder = Command::new(python())
            .args(["-c", MANY_LISTENERS, &port.to_string(), first, "5000"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python");
        let out = holder.stdout.take().expect("stdout");
        guards.push(Proc(holder));
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).expect("ready");
        if skip_unless(
            line.trim() == "ready",
            "needs 5,100 file descriptors a process",
        ) {
            return;
        }
    }
    let mut ui = Command::new(bin())
        .args(["ui", "--no-open"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lport ui");
    let ui_pid = ui.id();
    let out = ui.stdout.take().expect("stdout");
    let _ui = Proc(ui);
    let mut url = String::new();
    BufReader::new(out).read_line(&mut url).expect("url");
    let (base, token) = url.trim().split_once("/?token=").expect("url with token");
    let ui_port: u16 = base
        .rsplit(':')
        .next()
        .expect("port")
        .parse()
        .expect("port");
    let request = format!(
        "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{ui_port}\r\nX-Lport-Token: {token}\r\n\r\n"
    );
    // One client that reads: it gets the document, then a newer one.
    let mut reader = TcpStream::connect(("127.0.0.1", ui_port)).expect("connect");
    reader.write_all(request.as_bytes()).expect("request");
    let mut idle: Vec<TcpStream> = (0..50)
        .map(|_| {
            let s = TcpStream::connect(("127.0.0.1", ui_port)).expect("connect");
            let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&s, 4096);
            s
        })
        .collect();
    for s in &mut idle {
        s.write_all(request.as_bytes()).expect("request");
    }
    reader
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut events = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while events < 3 && Instant::now() < deadline {
        let n = reader.read(&mut buf).expect("read");
        assert!(n > 0, "the stream ended");
        got.extend_from_slice(&buf[..n]);
        events = got
            .windows(17)
            .filter(|w| w == b"event: listeners\n")
            .count();
    }
    assert!(events >= 3, "a reading client gets each change");
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("127.77.0.1"),
        "the document lists the holder's sockets"
    );
    let status = std::fs::read_to_string(format!("/proc/{ui_pid}/status")).expect("status");
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("field")
    };
    let (rss, peak) = (kib("VmRSS:"), kib("VmHWM:"));
    assert!(
        peak < 128 * 1024,
        "peak RSS {peak} KiB (now {rss}) with 50 streams that never read"
    );
    drop(idle);
}

/// Binds an abstract stream listener `\0NAME`, a datagram socket at DIR/dgram and a stream
/// listener at DIR/listen.sock with one accepted connection; prints "ready".
const UNIX_KINDS: &str = r#"
import os, socket, sys, time
name, d = sys.argv[1], sys.argv[2]
a = socket.socket(socket.AF_UNIX); a.bind("\0" + name); a.listen(4)
g = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); g.bind(os.path.join(d, "dgram"))
l = socket.socket(socket.AF_UNIX); l.bind(os.path.join(d, "listen.sock")); l.listen(4)
c = socket.socket(socket.AF_UNIX); c.connect(os.path.join(d, "listen.sock"))
s, _ = l.accept()
print("ready", flush=True)
time.sleep(120)
"#;

fn why_unix(target: &str) -> Value {
    let out = Command::new(bin())
        .args(["why", "--json", &format!("unix:{target}")])
        .output()
        .expect("why");
    json_of(&out)
}

/// The first cause's id, summary and fix.
fn first_cause(v: &Value) -> (String, String, String) {
    let c = &v["causes"][0];
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
    (s("id"), s("summary"), s("fix"))
}

/// `unix:` targets were misnamed: a FIFO and a directory were "a regular file" with the fix
/// "rm PATH", and a symlink loop (ELOOP) got "no rule explains why". Each is named for what
/// it is.
#[test]
fn unix_paths_that_are_no_socket_are_named_for_what_they_are() {
    let dir = tempdir("unix-files");
    let p = |n: &str| dir.join(n).display().to_string();
    let mkfifo = Command::new("mkfifo").arg(p("fifo")).status();
    assert!(mkfifo.is_ok_and(|s| s.success()), "mkfifo");
    std::fs::create_dir(dir.join("dir")).expect("dir");
    std::fs::write(dir.join("file"), "x").expect("file");
    std::os::unix::fs::symlink(dir.join("loop2"), dir.join("loop1")).expect("link");
    std::os::unix::fs::symlink(dir.join("loop1"), dir.join("loop2")).expect("link");
    for (file, words) in [
        ("fifo", "is a FIFO (named pipe), not a socket"),
        ("dir", "is a directory, not a socket"),
        ("file", "is a regular file, not a socket"),
    ] {
        let v = why_unix(&p(file));
        let (id, summary, fix) = first_cause(&v);
        assert_eq!(id, "stale-socket-file", "{v}");
        assert!(summary.ends_with(words), "{file}: {v}");
        if file != "file" {
            assert!(!fix.starts_with("remove it (rm"), "{file}: {fix}");
        }
        assert!(!v.to_string().contains("no rule explains"), "{v}");
    }
    let v = why_unix(&p("loop1"));
    let (id, summary, _) = first_cause(&v);
    assert_eq!(id, "nothing-listening", "{v}");
    assert!(summary.contains("symbolic link loop"), "{v}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A datagram socket (EPROTOTYPE for a stream client) got "no rule explains why", and
/// `unix:@name` was taken as a file path. The socket's type is named, and abstract names
/// work in `why`, `who` and `wait`; `who` shows a listener, the connection it accepted and
/// a socket that is bound only.
#[test]
fn unix_sockets_by_type_and_abstract_name() {
    let dir = tempdir("unix-kinds");
    let p = |n: &str| dir.join(n).display().to_string();
    let name = format!("lport-it-{}", std::process::id());
    let mut holder = Command::new(python())
        .args(["-c", UNIX_KINDS, &name, &dir.display().to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python");
    let out = holder.stdout.take().expect("stdout");
    let holder = Proc(holder);
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).expect("ready");
    assert_eq!(line.trim(), "ready");
    let v = why_unix(&p("dgram"));
    let (id, summary, fix) = first_cause(&v);
    assert_eq!(id, "protocol-mismatch", "{v}");
    assert!(summary.contains("a datagram socket"), "{v}");
    assert!(fix.contains("UNIX-SENDTO"), "{v}");
    // The abstract name: reached, held by the holder, waited for.
    let v = why_unix(&format!("@{name}"));
    assert_eq!(v["verdict"], "ok", "{v}");
    let v = why_unix(&format!("@{name}-none"));
    let (id, summary, _) = first_cause(&v);
    assert_eq!(id, "nothing-listening", "{v}");
    assert!(summary.contains("abstract socket name"), "{v}");
    let lport = |args: &[&str]| Command::new(bin()).args(args).output().expect("lport");
    let out = lport(&["who", "--json", &format!("unix:@{name}")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json_of(&out);
    assert_eq!(v["unix"][0]["state"], "listening", "{v}");
    assert_eq!(v["unix"][0]["pids"][0], holder.0.id(), "{v}");
    let out = lport(&["wait", "-q", "--timeout", "5s", &format!("unix:@{name}")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = lport(&[
        "wait",
        "-q",
        "--timeout",
        "300ms",
        &format!("unix:@{name}-none"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&lport(&["who", &format!("unix:{}", p("listen.sock"))]));
    let first = text.lines().next().unwrap_or_default();
    assert!(first.contains("  listening  stream  "), "{text}");
    assert!(text.contains("  connected  stream  "), "{text}");
    assert!(
        text.contains(&format!("pid {} python", holder.0.id())),
        "{text}"
    );
    let text = stdout(&lport(&["who", &format!("unix:{}", p("dgram"))]));
    assert!(text.contains("  bound  dgram  "), "{text}");
    let out = lport(&["who", &format!("unix:{}", p("nothing"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("nothing is bound to"),
        "{}",
        stdout(&out)
    );
    drop(holder);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Listens on [ADDR%IFACE]:PORT and prints "ready".
const SCOPED_LISTENER: &str = r#"
import socket, sys, time
info = socket.getaddrinfo(sys.argv[1], int(sys.argv[2]), socket.AF_INET6, socket.SOCK_STREAM)
s = socket.socket(socket.AF_INET6); s.bind(info[0][4]); s.listen(8)
print("ready", flush=True)
while True:
    c, _ = s.accept(); c.close()
"#;

/// IPv6 zone ids were rejected (`[::1%lo]:P`: "not a valid IPv6 address"), so a link-local
/// address could not be diagnosed. Zones by name and number work in `why` and `wait`, and a
/// link-local address without one is refused with the form to write.
#[test]
fn ipv6_zones_reach_link_local_addresses() {
    // Loopback with a zone, in this namespace.
    let l = std::net::TcpListener::bind("[::1]:0").expect("bind [::1]");
    let port = l.local_addr().expect("addr").port();
    let out = Command::new(bin())
        .args([
            "why",
            "--json",
            "--no-identify",
            &format!("[::1%lo]:{port}"),
        ])
        .output()
        .expect("why");
    let v = json_of(&out);
    assert_eq!(v["verdict"], "ok", "{v}");
    assert_eq!(v["target"]["host"], "::1%lo", "{v}");
    let out = Command::new(bin())
        .args(["why", &format!("[::1%no-such-if0]:{port}")])
        .output()
        .expect("why");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no network interface is named"),
        "{}",
        stderr(&out)
    );
    drop(l);
    if skip_unless(
        crate::support::is_root() && have("ip"),
        "needs root and iproute2 (a veth pair with a link-local address in a namespace)",
    ) {
        return;
    }
    let ns = crate::support::NetnsGuard::new();
    let ip = |args: &[&str]| {
        let st = Command::new("ip")
            .args(["-n", &ns.name])
            .args(args)
            .status();
        assert!(st.is_ok_and(|s| s.success()), "ip {args:?}");
    };
    ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    ip(&["addr", "add", "fe80::1/64", "dev", "v0", "nodad"]);
    ip(&["link", "set", "v0", "up"]);
    ip(&["link", "set", "v1", "up"]);
    let port = unused_port().to_string();
    let mut srv = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            python(),
            "-c",
            SCOPED_LISTENER,
            "fe80::1%v0",
            &port,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("listener");
    let out = srv.stdout.take().expect("stdout");
    let _srv = Proc(srv);
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).expect("ready");
    assert_eq!(line.trim(), "ready");
    let in_ns = |args: &[&str]| {
        Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .arg(bin())
            .args(args)
            .output()
            .expect("lport in the namespace")
    };
    let v = json_of(&in_ns(&[
        "why",
        "--json",
        "--no-identify",
        &format!("[fe80::1%v0]:{port}"),
    ]));
    assert_eq!(v["verdict"], "ok", "{v}");
    assert_eq!(v["attempts"][0]["outcome"], "connected", "{v}");
    let out = in_ns(&[
        "wait",
        "-q",
        "--timeout",
        "5s",
        &format!("[fe80::1%v0]:{port}"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = in_ns(&["why", &format!("[fe80::1]:{port}")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "link-local: name the interface it is on, as in [fe80::1%eth0]:{port}"
        )),
        "{}",
        stderr(&out)
    );
}
