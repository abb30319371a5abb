//! The Windows build, tested for real under Wine (`scripts/wine-run` as cargo's runner, see
//! `.ci/run`): sockets this test process opens, and `lport.exe` children started from it,
//! all Windows programs sharing one wineserver. Elsewhere this file compiles to nothing.
//!
//! What Wine cannot produce (pid 4, bound-only rows, excluded port ranges, access denied)
//! is covered by the decoders' fixture tests in `lport::sys::decode::windows`.
#![cfg(windows)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn lport(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lport"))
        .args(args)
        .output()
        .expect("run lport.exe")
}

fn json(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = lport(&a);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{args:?}: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn sockets_on(doc: &Value, port: u16) -> Vec<Value> {
    doc["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .filter(|s| s["local"]["port"] == u64::from(port))
        .cloned()
        .collect()
}

fn pids(s: &Value) -> Vec<u64> {
    s["owners"]
        .as_array()
        .expect("owners")
        .iter()
        .filter_map(|o| o["pid"].as_u64())
        .collect()
}

/// The path of an example program of this package (cargo builds examples beside the test
/// binary's directory; `.ci/run` builds them).
fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let path = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target dir")
        .join("examples")
        .join(format!("{name}.exe"));
    assert!(
        path.exists(),
        "{} is built by `cargo build -p lport-cli --examples --target x86_64-pc-windows-gnu` (.ci/run does)",
        path.display()
    );
    path
}

/// A child `lport.exe serve` on a port, killed when dropped.
struct Server(Child, u16);

impl Server {
    fn start(args: &[&str]) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_lport"))
            .args(args)
            .args(["--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start lport.exe serve");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{args:?} never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server(child, port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ls_and_who_show_this_process_as_the_owner() {
    let tcp = TcpListener::bind("127.0.0.1:0").expect("tcp");
    let port = tcp.local_addr().expect("addr").port();
    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let uport = udp.local_addr().expect("addr").port();
    let me = u64::from(std::process::id());
    let doc = json(&["ls"]);
    let s = sockets_on(&doc, port);
    assert_eq!(s.len(), 1, "{doc}");
    assert_eq!(
        (s[0]["proto"].as_str(), s[0]["state"].as_str()),
        (Some("tcp"), Some("listen"))
    );
    assert_eq!(pids(&s[0]), [me], "the owner is this test process: {doc}");
    assert_eq!(
        s[0]["owners"][0]["fd"],
        Value::Null,
        "Windows names no descriptor"
    );
    assert_eq!(s[0]["exposure"], "loopback");
    let p = doc["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["pid"] == me)
        .unwrap_or_else(|| panic!("this process is listed: {doc}"));
    let exe = std::path::Path::new(p["exe"].as_str().unwrap_or_default());
    assert!(
        exe.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("exe")),
        "{p}"
    );
    let who = json(&["who", &format!("udp/{uport}")]);
    let u = sockets_on(&who, uport);
    assert_eq!(u.len(), 1, "{who}");
    assert_eq!(
        (u[0]["state"].as_str(), pids(&u[0])),
        (Some("unconn"), vec![me])
    );
    drop((tcp, udp));
}

#[test]
fn ipv6_listeners_are_listed() {
    let Ok(l) = TcpListener::bind("[::1]:0") else {
        panic!("this Wine has no IPv6 loopback");
    };
    let port = l.local_addr().expect("addr").port();
    let doc = json(&["who", &port.to_string()]);
    let s = sockets_on(&doc, port);
    assert_eq!(s.len(), 1, "{doc}");
    assert_eq!(s[0]["local"]["addr"], "::1");
    assert_eq!(pids(&s[0]), [u64::from(std::process::id())]);
}

#[test]
fn why_refused_connected_and_the_other_family() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let ok = json(&["why", &format!("127.0.0.1:{port}"), "--no-identify"]);
    assert_eq!(ok["verdict"], "ok", "{ok}");
    assert_eq!(ok["attempts"][0]["outcome"], "connected");
    drop(l);
    let refused = json(&["why", &format!("127.0.0.1:{port}"), "--no-identify"]);
    assert_eq!(refused["verdict"], "problem", "{refused}");
    let ids: Vec<&str> = refused["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(ids.contains(&"nothing-listening"), "{ids:?}");
    // A server on [::1] only, a client on 127.0.0.1.
    let six = TcpListener::bind("[::1]:0").expect("bind ::1");
    let port = six.local_addr().expect("addr").port();
    let mm = json(&["why", &format!("127.0.0.1:{port}"), "--no-identify"]);
    let ids: Vec<&str> = mm["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(ids.contains(&"family-mismatch"), "{mm}");
}

#[test]
fn wait_sees_a_server_come_up_and_kill_frees_it() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free")
        .port();
    let waiter = Command::new(env!("CARGO_BIN_EXE_lport"))
        .args([
            "wait",
            &format!("127.0.0.1:{port}"),
            "--timeout",
            "30s",
            "-q",
        ])
        .spawn()
        .expect("wait");
    std::thread::sleep(Duration::from_millis(500));
    let child = Command::new(env!("CARGO_BIN_EXE_lport"))
        .args(["serve", "--tcp-echo", "-q", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut server = Server(child, port);
    let out = waiter.wait_with_output().expect("wait ends");
    assert!(out.status.success(), "wait saw it open");
    let doc = json(&["who", &port.to_string()]);
    let s = sockets_on(&doc, port);
    assert_eq!(pids(&s[0]), [u64::from(server.0.id())], "{doc}");
    let k = lport(&["kill", &port.to_string(), "--signal", "kill", "--yes"]);
    let text = String::from_utf8_lossy(&k.stdout);
    assert!(
        k.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&k.stderr)
    );
    // What Windows does is said: TerminateProcess, not a SIGKILL it cannot send.
    assert!(
        text.contains(&format!("terminate pid {}", server.0.id())) && !text.contains("SIG"),
        "{text}"
    );
    let _ = server.0.wait();
    assert!(
        TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "the port is free"
    );
    server.1 = 0;
}

#[test]
fn kill_closes_a_console_program_with_ctrl_c() {
    use std::os::windows::process::CommandExt;
    // serve in a console of its own (CREATE_NEW_CONSOLE): `kill` sends Ctrl-C there,
    // serve stops itself (exit 0; TerminateProcess would leave 1) within --grace.
    const CREATE_NEW_CONSOLE: u32 = 0x10;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free")
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_lport"))
        .args(["serve", "--tcp-echo", "-q", "--port", &port.to_string()])
        .creation_flags(CREATE_NEW_CONSOLE)
        .spawn()
        .expect("serve");
    let mut server = Server(child, port);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = server.0.id();
    let k = lport(&["kill", &port.to_string(), "--grace", "10s", "--yes"]);
    let text = String::from_utf8_lossy(&k.stdout);
    assert!(
        k.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&k.stderr)
    );
    assert!(text.contains(&format!("close pid {pid}")), "{text}");
    assert!(
        text.contains(&format!("pid {pid} exited")) && !text.contains("ignored"),
        "{text}"
    );
    let st = server.0.wait().expect("wait");
    assert_eq!(st.code(), Some(0), "serve stopped itself: {st:?}");
    server.1 = 0;
}

#[test]
fn kill_closes_a_windowed_program_with_wm_close() {
    // A program with a window: `kill` posts WM_CLOSE, the program closes its window and
    // exits 0 by itself within --grace (TerminateProcess would leave 1).
    let window_exe = example("win_window");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free")
        .port();
    let mut child = Command::new(&window_exe)
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("win_window");
    let mut out = child.stdout.take().expect("stdout");
    let mut ready = [0u8; 5];
    out.read_exact(&mut ready).expect("ready");
    assert_eq!(&ready, b"ready");
    let pid = child.id();
    let mut server = Server(child, port);
    let k = lport(&["kill", &port.to_string(), "--grace", "10s", "--yes"]);
    let text = String::from_utf8_lossy(&k.stdout);
    assert!(
        k.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&k.stderr)
    );
    assert!(text.contains(&format!("close pid {pid}")), "{text}");
    assert!(
        text.contains(&format!("pid {pid} exited")) && !text.contains("ignored"),
        "{text}"
    );
    let st = server.0.wait().expect("wait");
    let mut said = String::new();
    let _ = out.read_to_string(&mut said);
    assert_eq!(st.code(), Some(0), "it closed itself: {st:?}");
    assert!(said.contains("closing"), "its window got WM_CLOSE: {said}");
    server.1 = 0;
}

#[test]
fn kill_refuses_unix_signals() {
    let out = lport(&["kill", "1", "--signal", "HUP", "--dry-run"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn free_gives_a_port_that_binds_and_serve_answers() {
    let out = lport(&["free"]);
    assert!(out.status.success());
    let port: u16 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a port");
    TcpListener::bind(("127.0.0.1", port)).expect("the free port binds");
    let s = Server::start(&["serve", "--echo", "-q"]);
    let mut c = TcpStream::connect(("127.0.0.1", s.1)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        c,
        "GET /hello HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
        s.1
    )
    .expect("write");
    let mut reply = String::new();
    let _ = c.read_to_string(&mut reply);
    assert!(
        reply.starts_with("HTTP/1.1 200") && reply.contains("/hello"),
        "{reply}"
    );
}

/// `sc.exe` with `args`, its output as text.
fn sc(args: &[&str]) -> (bool, String) {
    let out = Command::new("sc").args(args).output().expect("run sc");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Services an earlier run of this test registered and could not delete (it was killed):
/// stopped and deleted, so that they neither hold a name nor a port.
fn remove_stale_test_services() {
    let (_, list) = sc(&["query", "type=", "service", "state=", "all"]);
    for name in list
        .lines()
        .filter_map(|l| l.trim().strip_prefix("SERVICE_NAME:"))
        .map(str::trim)
        .filter(|n| n.starts_with("lporttest"))
    {
        let _ = sc(&["stop", name]);
        let _ = sc(&["delete", name]);
    }
}

/// A service registered with the service manager for one test, deleted when dropped.
struct TestService(String);

impl Drop for TestService {
    fn drop(&mut self) {
        let _ = sc(&["stop", &self.0]);
        let _ = sc(&["delete", &self.0]);
    }
}

#[test]
fn a_service_is_named_and_stopped_through_the_service_manager() {
    let service_exe = example("win_service");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free")
        .port();
    remove_stale_test_services();
    // The pid alone repeats across Wine runs; the clock makes the name this run's own.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!("lporttest{}x{nanos}", std::process::id());
    let bin_path = format!("\"{}\" {name} {port}", service_exe.display());
    // The guard exists before the service does: whatever fails below, it is deleted.
    let _guard = TestService(name.clone());
    let (ok, text) = sc(&["create", &name, "binPath=", &bin_path]);
    assert!(ok, "sc create: {text}");
    let (ok, text) = sc(&["start", &name]);
    assert!(ok, "sc start: {text}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the service never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let doc = json(&["who", &port.to_string()]);
    let s = sockets_on(&doc, port);
    let pid = pids(&s[0])[0];
    let p = doc["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("the service's process: {doc}"));
    assert_eq!(p["unit"], name.as_str(), "the service's name: {p}");
    assert_eq!(p["name"], "win_service");
    assert_eq!(p["uid"], Value::Null, "Windows has no uids: {p}");
    assert!(p["user"].as_str().is_some_and(|u| u.contains('\\')), "{p}");
    let cmd: Vec<&str> = p["cmdline"]
        .as_array()
        .expect("cmdline")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(cmd[1..], [name.as_str(), &port.to_string()], "{p}");
    let dry = lport(&["kill", &port.to_string(), "--dry-run"]);
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(
        text.contains(&format!("stop service {name} (sc stop {name})")),
        "{text}"
    );
    let k = lport(&["kill", &port.to_string(), "--yes"]);
    let text =
        String::from_utf8_lossy(&k.stdout).into_owned() + &String::from_utf8_lossy(&k.stderr);
    assert!(k.status.success(), "{text}");
    let (_, state) = sc(&["query", &name]);
    assert!(
        state.contains("STOPPED"),
        "stopped through the manager, not killed: {state}"
    );
    assert!(
        TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "the port is free"
    );
}

#[test]
fn command_lines_and_accounts_are_read() {
    let s = Server::start(&["serve", "--echo", "-q"]);
    let doc = json(&["who", &s.1.to_string()]);
    let p = &doc["processes"][0];
    let cmd: Vec<&str> = p["cmdline"]
        .as_array()
        .expect("cmdline")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        cmd[1..],
        ["serve", "--echo", "-q", "--port", &s.1.to_string()],
        "{p}"
    );
    assert_eq!(p["uid"], Value::Null);
    assert_eq!(doc["sockets"][0]["uid"], Value::Null);
    let text = String::from_utf8_lossy(&lport(&["who", &s.1.to_string()]).stdout).into_owned();
    assert!(text.contains("serve --echo"), "{text}");
    // The program's path as Windows writes it, each backslash once.
    assert!(
        text.contains(":\\") && !text.contains("\\\\"),
        "backslashes shown once: {text}"
    );
}

#[test]
fn an_exposed_port_names_what_the_windows_firewall_says() {
    let l = TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let doc = json(&["why", &format!("127.0.0.1:{port}"), "--no-identify"]);
    assert_eq!(doc["verdict"], "ok", "{doc}");
    let exposed = doc["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .find(|c| c["id"] == "exposed")
        .unwrap_or_else(|| panic!("a listener on 0.0.0.0 is exposed: {doc}"));
    let evidence = exposed["evidence"].to_string();
    assert!(
        evidence.contains("Windows Firewall"),
        "the firewall's rules (or that none names the port): {evidence}"
    );
    drop(l);
}

/// One HTTP/1.1 GET to 127.0.0.1:`port` with extra headers; the whole reply.
fn http_get(port: u16, path: &str, headers: &str) -> String {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Connection: close\r\n\r\n"
    )
    .expect("write");
    let mut reply = String::new();
    let _ = c.read_to_string(&mut reply);
    reply
}

#[test]
fn the_exporter_and_the_dashboard_serve_this_machines_listeners() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let watched = l.local_addr().expect("addr").port();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free")
        .port();
    let exporter = Command::new(env!("CARGO_BIN_EXE_lport"))
        .args(["exporter", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("exporter");
    let _exporter = Server(exporter, port);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the exporter never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let metrics = http_get(port, "/metrics", "");
    assert!(
        metrics.starts_with("HTTP/1.1 200")
            && metrics.lines().any(|m| m.starts_with("lport_listener_info")
                && m.contains(&format!("port=\"{watched}\""))),
        "{metrics}"
    );
    // The dashboard prints its URL, token included, on stdout.
    let mut ui = Command::new(env!("CARGO_BIN_EXE_lport"))
        .args(["ui", "--no-open"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ui");
    let mut first = String::new();
    {
        use std::io::BufRead;
        let mut out = std::io::BufReader::new(ui.stdout.take().expect("stdout"));
        out.read_line(&mut first).expect("the URL line");
    }
    let url = first.trim();
    let (addr, token) = url
        .strip_prefix("http://127.0.0.1:")
        .and_then(|r| r.split_once("/?token="))
        .unwrap_or_else(|| panic!("a URL with a token: {url}"));
    let ui_port: u16 = addr.parse().expect("port");
    let _ui = Server(ui, ui_port);
    let denied = http_get(ui_port, "/api/listeners", "");
    assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
    let listeners = http_get(
        ui_port,
        "/api/listeners",
        &format!("X-Lport-Token: {token}\r\n"),
    );
    assert!(
        listeners.starts_with("HTTP/1.1 200") && listeners.contains(&format!("\"port\":{watched}")),
        "{listeners}"
    );
    drop(l);
}

#[test]
fn a_reachable_loopback_port_mentions_appcontainer_isolation() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let out = lport(&["why", &format!("127.0.0.1:{port}"), "--no-identify"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CheckNetIsolation LoopbackExempt"),
        "a Store app may still be kept from it: {err}"
    );
    // Not in the JSON report, and not when nothing answers.
    let doc = json(&["why", &format!("127.0.0.1:{port}"), "--no-identify"]);
    assert!(!doc.to_string().contains("CheckNetIsolation"));
    drop(l);
    let out = lport(&["why", &format!("127.0.0.1:{port}"), "--no-identify"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("CheckNetIsolation"));
}

#[test]
fn watch_reports_a_listener_that_opens() {
    use std::io::BufRead;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lport"))
        .args(["watch", "--json", "-i", "100ms", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch");
    let out = child.stdout.take().expect("stdout");
    std::thread::sleep(Duration::from_millis(800));
    let l = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(out).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("an event line");
    let _ = child.kill();
    let _ = child.wait();
    let ev: Value = serde_json::from_str(&line).expect("json");
    assert_eq!(ev["event"], "opened", "{ev}");
    assert_eq!(ev["socket"]["local"]["port"], u64::from(port), "{ev}");
    assert_eq!(ev["process"]["pid"], u64::from(std::process::id()), "{ev}");
    drop(l);
}

#[test]
fn record_polls_the_listeners_and_history_reads_them() {
    let dir = std::env::temp_dir().join(format!("lport-win-hist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = dir.join("history.db");
    let db_arg = db.display().to_string();
    // No kernel events here: trace says so, record polls.
    let out = lport(&["trace", "--duration", "1s"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Linux only"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec = Command::new(env!("CARGO_BIN_EXE_lport"))
        .args([
            "record",
            "--db",
            &db_arg,
            "--interval",
            "200ms",
            "--duration",
            "4s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("record");
    std::thread::sleep(Duration::from_millis(1500));
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::sleep(Duration::from_secs(1));
    drop(l);
    let out = rec.wait_with_output().expect("record ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("polling"), "{err}");
    let doc = json(&["history", &port.to_string(), "--db", &db_arg]);
    let l = &doc["listeners"][0];
    assert_eq!(l["pid"], u64::from(std::process::id()), "{doc}");
    assert_eq!(l["seen"], "poll", "{doc}");
    assert!(l["closed_ms"].is_i64(), "{doc}");
    let _ = std::fs::remove_dir_all(&dir);
}
