//! History and tracing with real kernel events: servers that exit, are killed by a named
//! sender or by the OOM killer, clients that hammer a closed port or time out against a
//! dropped one, and a store that survives SIGKILL, readers, corruption and a full disk.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::support::{
    NetnsGuard, NobodyBin, bin, cause, have, is_root, json_of, lport, python, skip_unless, stderr,
    unused_port,
};

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("lport-it-hist-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        TempDir(d)
    }

    fn db(&self) -> PathBuf {
        self.0.join("history.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `lport record` on a database, stopped with SIGTERM (so it flushes) when asked or dropped.
struct Recorder {
    child: Option<Child>,
    notes: Vec<String>,
}

impl Recorder {
    fn start(db: &Path, extra: &[&str]) -> Recorder {
        Recorder::start_with(Command::new(bin()), db, extra)
    }

    fn start_with(mut cmd: Command, db: &Path, extra: &[&str]) -> Recorder {
        let mut child = cmd
            .args(["record", "--db"])
            .arg(db)
            .args(["--duration", "2m"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lport record");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let mut notes = Vec::new();
        loop {
            let mut line = String::new();
            let n = err.read_line(&mut line).expect("read stderr");
            assert!(n > 0, "lport record ended before it started: {notes:?}");
            if line.starts_with("recording to") {
                break;
            }
            notes.push(line.trim().to_owned());
        }
        // The rest of stderr drains in the background so the recorder never blocks on it.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while err.read_line(&mut sink).is_ok_and(|n| n > 0) {
                eprint!("record: {sink}");
                sink.clear();
            }
        });
        Recorder {
            child: Some(child),
            notes,
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Stops it as Ctrl-C would and waits: everything seen is written.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let st = c.wait().expect("wait for the recorder");
            assert!(st.success(), "lport record ended with {st}");
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A test's server process, killed when dropped (also when the test fails midway).
struct Server(Child);

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Python TCP server on 127.0.0.1:`port` that runs `then` after it listens.
fn server(port: u16, then: &str) -> Server {
    let prog = format!(
        "import socket, sys, time\ns = socket.socket()\ns.bind(('127.0.0.1', {port}))\ns.listen()\nprint('ready', flush=True)\n{then}\n"
    );
    let mut child = Command::new(python())
        .args(["-c", &prog])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready line");
    assert_eq!(line.trim(), "ready");
    Server(child)
}

fn why_json(port: u16, db: &Path) -> Value {
    let out = Command::new(bin())
        .args(["why", &format!("127.0.0.1:{port}"), "--json"])
        .env("LPORT_HISTORY", db)
        .output()
        .expect("why");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    json_of(&out)
}

fn history_json(port: u16, db: &Path) -> Value {
    let out = lport(&[
        "history",
        &port.to_string(),
        "--json",
        "--db",
        &db.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json_of(&out)
}

/// The listener `pid` held in a history document: another workload may have listened on
/// the same port number (on another address) before or since.
fn listener_of(h: &Value, pid: u32) -> &Value {
    h["listeners"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["pid"] == pid))
        .unwrap_or_else(|| panic!("no listener of pid {pid}: {h}"))
}

fn needs_root(what: &str) -> bool {
    skip_unless(
        is_root(),
        &format!("{what} needs root (kernel tracepoints through perf_event_open)"),
    )
}

#[test]
fn a_server_killed_by_a_named_sender() {
    if needs_root("recording a kill") {
        return;
    }
    let dir = TempDir::new("killed");
    let mut rec = Recorder::start(&dir.db(), &[]);
    let port = unused_port();
    let mut srv = server(port, "time.sleep(60)");
    // A server lives a while before it is killed: the recorder reads it meanwhile.
    std::thread::sleep(Duration::from_millis(300));
    // /bin/kill, a process of its own, is the named sender.
    let st = Command::new("/bin/kill")
        .args(["-KILL", &srv.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    let _ = srv.wait();
    std::thread::sleep(Duration::from_millis(300));
    rec.stop();
    let h = history_json(port, &dir.db());
    let l = listener_of(&h, srv.id());
    assert_eq!(l["ending"]["kind"], "killed", "{h}");
    assert_eq!(l["ending"]["signal"], 9);
    assert!(
        l["ending"]["sender"]
            .as_str()
            .unwrap_or("")
            .starts_with("kill (pid"),
        "{h}"
    );
    let w = why_json(port, &dir.db());
    let c = cause(&w, "listener-killed").expect("listener-killed");
    assert!(
        c["summary"]
            .as_str()
            .unwrap_or("")
            .contains("killed by SIGKILL from kill"),
        "{c}"
    );
    // The fix restarts the same command in the same directory.
    let fix = c["fix"].as_str().unwrap_or("");
    assert!(
        fix.contains(" && ") && fix.contains("python3 -c") && fix.contains(&port.to_string()),
        "{c}"
    );
    assert_eq!(
        w["causes"][0]["id"], "listener-killed",
        "the past is the headline"
    );
}

#[test]
fn a_server_that_exits_with_status_3() {
    if needs_root("recording an exit status") {
        return;
    }
    let dir = TempDir::new("exit3");
    let mut rec = Recorder::start(&dir.db(), &[]);
    let port = unused_port();
    let mut srv = server(port, "time.sleep(0.2)\nsys.exit(3)");
    assert_eq!(srv.wait().expect("wait").code(), Some(3));
    std::thread::sleep(Duration::from_millis(300));
    rec.stop();
    let w = why_json(port, &dir.db());
    let c = cause(&w, "listener-exited").expect("listener-exited");
    assert!(
        c["summary"]
            .as_str()
            .unwrap_or("")
            .contains("exited with status 3"),
        "{c}"
    );
    assert!(
        c["fix"]
            .as_str()
            .unwrap_or("")
            .starts_with("read its output"),
        "{c}"
    );
    let text = lport(&[
        "history",
        &port.to_string(),
        "--db",
        &dir.db().display().to_string(),
    ]);
    assert!(super::support::stdout(&text).contains("ended: exited with status 3"));
}

/// A memory cgroup limited to 64 MiB (v2 `memory.max`, else v1 `memory.limit_in_bytes`),
/// removed when dropped.
struct MemCgroup {
    dir: PathBuf,
    procs: &'static str,
}

impl MemCgroup {
    fn new() -> Option<MemCgroup> {
        let name = format!("lport-it-oom-{}", std::process::id());
        if let Some(root) = super::support::cgroup2_root()
            && std::fs::read_to_string(root.join("cgroup.controllers"))
                .is_ok_and(|c| c.contains("memory"))
        {
            let dir = root.join(&name);
            std::fs::create_dir(&dir).ok()?;
            std::fs::write(dir.join("memory.max"), "67108864").ok()?;
            let _ = std::fs::write(dir.join("memory.swap.max"), "0");
            return Some(MemCgroup {
                dir,
                procs: "cgroup.procs",
            });
        }
        let v1 = PathBuf::from("/sys/fs/cgroup/memory");
        let dir = v1.join(&name);
        std::fs::create_dir(&dir).ok()?;
        std::fs::write(dir.join("memory.limit_in_bytes"), "67108864").ok()?;
        Some(MemCgroup {
            dir,
            procs: "cgroup.procs",
        })
    }
}

impl Drop for MemCgroup {
    fn drop(&mut self) {
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn a_server_the_oom_killer_takes_in_a_memory_limited_cgroup() {
    if needs_root("an OOM kill in a memory cgroup") {
        return;
    }
    let Some(cg) = MemCgroup::new() else {
        assert!(!skip_unless(
            false,
            "no memory cgroup (v1 or v2) can be made here"
        ));
        return;
    };
    let dir = TempDir::new("oom");
    let mut rec = Recorder::start(&dir.db(), &[]);
    let port = unused_port();
    // The server joins the cgroup itself, then listens, then eats memory until killed.
    let then = format!(
        "open('{}/{}', 'w').write(str(__import__('os').getpid()))\nx = []\nwhile True:\n    x.append(bytearray(8 << 20))\n",
        cg.dir.display(),
        cg.procs
    );
    let mut srv = server(port, &then);
    let st = srv.wait().expect("wait");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&st),
        Some(9),
        "{st}"
    );
    std::thread::sleep(Duration::from_millis(300));
    rec.stop();
    let w = why_json(port, &dir.db());
    let c = cause(&w, "listener-oom-killed").expect("listener-oom-killed");
    assert!(
        c["summary"].as_str().unwrap_or("").contains("OOM killer"),
        "{c}"
    );
    assert!(c["fix"].as_str().unwrap_or("").contains("memory"), "{c}");

    // Polling sees the listener vanish but not how; the kernel log says it, for that pid.
    let polled = TempDir::new("oom-poll");
    let mut rec = Recorder::start(&polled.db(), &["--poll", "--interval", "100ms"]);
    let port = unused_port();
    // The server eats memory once the poller has recorded its listener (a poll takes a
    // while on a machine with many sockets): it waits for the file the test makes then.
    let go = polled.0.join("go");
    let mut srv = server(
        port,
        &format!(
            "import os\nwhile not os.path.exists('{}'):\n    time.sleep(0.02)\n{then}",
            go.display()
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let db = polled.db().display().to_string();
    loop {
        let out = lport(&["history", &port.to_string(), "--json", "--db", &db]);
        let seen = out.status.success()
            && json_of(&out)["listeners"]
                .as_array()
                .is_some_and(|l| l.iter().any(|l| l["pid"] == srv.id()));
        if seen {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the poller never recorded the server: {}",
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::write(&go, "").expect("go");
    let st = srv.wait().expect("wait");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&st),
        Some(9),
        "{st}"
    );
    std::thread::sleep(Duration::from_millis(400));
    rec.stop();
    let w = why_json(port, &polled.db());
    let c = cause(&w, "listener-oom-killed")
        .unwrap_or_else(|| panic!("listener-oom-killed from the kernel log: {w}"));
    let evidence = c["evidence"].to_string();
    assert!(
        evidence.contains(&format!("Killed process {}", srv.id())),
        "{c}"
    );
}

/// Starts `lport trace ARGS` and waits until it says it is tracing (every event from then
/// on is seen); its stderr's other lines are collected.
fn start_trace(args: &[&str]) -> (Child, std::sync::Arc<std::sync::Mutex<String>>) {
    let mut child = Command::new(bin())
        .arg("trace")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("trace");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    while !line.starts_with("tracing") {
        line.clear();
        assert!(
            err.read_line(&mut line).expect("stderr") > 0,
            "trace ended before it began"
        );
    }
    let collected = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = std::sync::Arc::clone(&collected);
    std::thread::spawn(move || {
        let mut l = String::new();
        while err.read_line(&mut l).is_ok_and(|n| n > 0) {
            sink.lock().expect("lock").push_str(&l);
            l.clear();
        }
    });
    (child, collected)
}

/// `lport trace ARGS --json` while `during` runs, its JSON lines and its stderr.
fn trace_lines(args: &[&str], during: impl FnOnce()) -> (Vec<Value>, String) {
    let (child, err) = start_trace(args);
    during();
    let out = child.wait_with_output().expect("trace output");
    let err = err.lock().expect("lock").clone();
    assert!(out.status.success(), "{err}");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (lines, err)
}

#[test]
fn clients_hammering_a_closed_port_are_named_and_counted() {
    if needs_root("tracing connection attempts") {
        return;
    }
    let port = unused_port();
    let py = format!(
        "import socket\nfor i in range(20):\n    s = socket.socket()\n    try:\n        s.connect(('127.0.0.1', {port}))\n    except OSError:\n        pass\n    s.close()\n"
    );
    let (lines, _) = trace_lines(&[&port.to_string(), "--json", "--duration", "3s"], || {
        let st = Command::new(python())
            .args(["-c", &py])
            .status()
            .expect("python");
        assert!(st.success());
        if have("curl") {
            let _ = Command::new("curl")
                .args([
                    "-s",
                    "--max-time",
                    "2",
                    &format!("http://127.0.0.1:{port}/"),
                ])
                .status();
        }
    });
    let attempts: Vec<&Value> = lines.iter().filter(|l| l["event"] == "attempt").collect();
    let from = |name: &str| {
        attempts
            .iter()
            .filter(|a| a["client"]["name"] == name)
            .count()
    };
    assert_eq!(from("python3"), 20, "{lines:?}");
    assert!(
        attempts
            .iter()
            .all(|a| a["outcome"] == "refused" && a["dst"]["port"] == port)
    );
    if have("curl") {
        assert_eq!(from("curl"), 1, "{lines:?}");
    }
    // The text view folds the repeats into one line with a count.
    let (out, _) = start_trace(&[&port.to_string(), "--duration", "3s"]);
    let st = Command::new(python())
        .args(["-c", &py])
        .status()
        .expect("python");
    assert!(st.success());
    let text = String::from_utf8_lossy(&out.wait_with_output().expect("out").stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() <= 3, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("-> 127.0.0.1:{port} refused x 20"))),
        "{text}"
    );
}

#[test]
fn a_connect_that_times_out_against_a_dropped_port_in_a_namespace() {
    if needs_root("a namespace with an nft drop rule")
        || skip_unless(have("nft"), "nft is not installed")
    {
        return;
    }
    let ns = NetnsGuard::new();
    let port = unused_port();
    let rules = format!(
        "table inet lport_it {{\n  chain input {{\n    type filter hook input priority 0;\n    tcp dport {port} drop\n  }}\n}}\n"
    );
    let file = std::env::temp_dir().join(format!("lport-it-hist-{}.nft", std::process::id()));
    std::fs::write(&file, rules).expect("rules file");
    let st = Command::new("ip")
        .args(["netns", "exec", &ns.name, "nft", "-f"])
        .arg(&file)
        .status()
        .expect("nft");
    let _ = std::fs::remove_file(&file);
    assert!(st.success());
    let py = format!(
        "import socket\ns = socket.socket()\ns.settimeout(1.5)\ntry:\n    s.connect(('127.0.0.1', {port}))\nexcept OSError:\n    pass\n"
    );
    let (lines, _) = trace_lines(&[&port.to_string(), "--json", "--duration", "3s"], || {
        let st = Command::new("ip")
            .args(["netns", "exec", &ns.name, python(), "-c", &py])
            .status()
            .expect("python in the namespace");
        assert!(st.success());
    });
    let a: Vec<&Value> = lines.iter().filter(|l| l["event"] == "attempt").collect();
    assert_eq!(a.len(), 1, "{lines:?}");
    assert_eq!(a[0]["outcome"], "timeout");
    assert!(a[0]["ms"].as_f64().unwrap_or(0.0) >= 1400.0, "{}", a[0]);
    assert_eq!(a[0]["client"]["name"], "python3");
}

#[test]
fn a_burst_of_ten_thousand_attempts_is_seen_or_its_loss_counted() {
    if needs_root("tracing a burst") {
        return;
    }
    let port = unused_port();
    let py = format!(
        "import socket\nfor i in range(10000):\n    s = socket.socket()\n    try:\n        s.connect(('127.0.0.1', {port}))\n    except OSError:\n        pass\n    s.close()\n"
    );
    let started = Instant::now();
    let (lines, err) = trace_lines(
        &[&port.to_string(), "--json", "--summary", "--duration", "8s"],
        || {
            let st = Command::new(python())
                .args(["-c", &py])
                .status()
                .expect("python");
            assert!(st.success());
        },
    );
    let summary = lines.last().expect("a summary line");
    let seen: u64 = summary["summary"]
        .as_array()
        .expect("summary")
        .iter()
        .filter(|r| r["outcome"] == "refused")
        .map(|r| r["count"].as_u64().unwrap_or(0))
        .sum();
    let lost = summary["lost"].as_u64().expect("lost");
    if lost == 0 {
        assert_eq!(
            seen, 10_000,
            "no loss reported, so every attempt must be there"
        );
    } else {
        assert!(
            seen < 10_000 && err.contains("lost"),
            "{lost} lost, {seen} seen: {err}"
        );
    }
    eprintln!(
        "burst: {seen} seen, {lost} events lost, {:?}",
        started.elapsed()
    );
}

/// Attempts in the database (summed over its rows), read with Python's sqlite3 (another
/// SQLite than lport's).
fn attempt_rows(db: &Path) -> u64 {
    let sql = format!(
        "import sqlite3; print(sqlite3.connect('{}').execute('SELECT coalesce(sum(count), 0) FROM attempts').fetchone()[0])",
        db.display()
    );
    let c = Command::new(python())
        .args(["-c", &sql])
        .output()
        .expect("count rows");
    String::from_utf8_lossy(&c.stdout)
        .trim()
        .parse()
        .expect("count")
}

#[test]
fn the_store_survives_sigkill_and_a_reader() {
    if needs_root("recording") {
        return;
    }
    let dir = TempDir::new("store");
    // SIGKILL mid-write: attempts are being written when the recorder dies.
    let rec = Recorder::start(&dir.db(), &[]);
    let port = unused_port();
    let py = format!(
        "import socket, time\nend = time.time() + 2.5\nwhile time.time() < end:\n    s = socket.socket()\n    try:\n        s.connect(('127.0.0.1', {port}))\n    except OSError:\n        pass\n    s.close()\n"
    );
    let mut hammer = Command::new(python())
        .args(["-c", &py])
        .spawn()
        .expect("hammer");
    std::thread::sleep(Duration::from_millis(1500));
    // A reader holds a read transaction while the recorder writes.
    let reader = format!(
        "import sqlite3, time\nc = sqlite3.connect('file:{}?mode=ro', uri=True)\nc.execute('BEGIN')\nprint(c.execute('SELECT coalesce(sum(count), 0) FROM attempts').fetchone()[0], flush=True)\ntime.sleep(1.5)\n",
        dir.db().display()
    );
    let reader = Command::new(python())
        .args(["-c", &reader])
        .output()
        .expect("reader");
    assert!(
        reader.status.success(),
        "{}",
        String::from_utf8_lossy(&reader.stderr)
    );
    let rows_seen_by_reader: u64 = String::from_utf8_lossy(&reader.stdout)
        .trim()
        .parse()
        .expect("count");
    let _ = Command::new("kill")
        .args(["-KILL", &rec.pid().to_string()])
        .status();
    let _ = hammer.wait();
    drop(rec);
    let h = history_json(port, &dir.db());
    let counted: u64 = h["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["count"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        counted > 0,
        "what was written before the kill is there: {h}"
    );
    let rows = attempt_rows(&dir.db());
    assert!(
        rows > rows_seen_by_reader,
        "the recorder kept writing while a reader held the database ({rows_seen_by_reader} then {rows})"
    );
    // Reopened: no note, nothing moved aside.
    let mut again = Recorder::start(&dir.db(), &[]);
    assert!(
        again.notes.iter().all(|n| !n.contains("moved")),
        "{:?}",
        again.notes
    );
    again.stop();

    // A truncated file and a corrupted one are moved aside, never overwritten.
    for (tag, damage) in [("truncated", 0usize), ("corrupt", 1)] {
        let d = TempDir::new(tag);
        let mut r = Recorder::start(&d.db(), &[]);
        r.stop();
        let bytes = std::fs::read(d.db()).expect("db");
        let damaged = if damage == 0 {
            bytes[..bytes.len() / 2].to_vec()
        } else {
            let mut b = bytes.clone();
            for x in b.iter_mut().skip(100).take(4000) {
                *x = 0xA5;
            }
            b
        };
        std::fs::write(d.db(), &damaged).expect("damage");
        let mut r = Recorder::start(&d.db(), &[]);
        r.stop();
        assert!(
            r.notes.iter().any(|n| n.contains("moved to")),
            "{tag}: {:?}",
            r.notes
        );
        let aside = std::fs::read_dir(&d.0)
            .expect("dir")
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().contains("unusable"))
            .expect("the damaged file is kept");
        assert_eq!(
            std::fs::read(aside.path()).expect("aside"),
            damaged,
            "{tag}: kept as it was"
        );
    }
}

/// Unmounts a test's tmpfs when dropped.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_loses_nothing_the_recorder_saw() {
    if needs_root("recording (and mounting a small tmpfs)") {
        return;
    }
    // The recorder says so, keeps what it saw in memory, and writes it once there is room.
    let full = TempDir::new("full");
    let mnt = full.0.join("mnt");
    // Room for the listeners already on the machine (about 300 bytes of store each; a
    // machine under another workload has thousands) and for those other tests open meanwhile
    // (one holds 2,000), with the WAL before its checkpoint; the test fills it up anyway.
    let listeners = lport::snapshot(&lport::Query::listeners())
        .expect("listeners")
        .sockets
        .len();
    let _unmount = small_disk(&mnt, 16 * 1024 + listeners);
    let db = mnt.join("h.db");
    let mut child = Command::new(bin())
        .args([
            "record",
            "--db",
            &db.display().to_string(),
            "--duration",
            "2m",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("record on a small disk");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    let mut before = String::new();
    while !line.starts_with("recording to") {
        line.clear();
        assert!(
            err.read_line(&mut line).expect("stderr") > 0,
            "the recorder ended early: {before}"
        );
        before.push_str(&line);
    }
    let collected = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = std::sync::Arc::clone(&collected);
    std::thread::spawn(move || {
        let mut l = String::new();
        while err.read_line(&mut l).is_ok_and(|n| n > 0) {
            sink.lock().expect("lock").push_str(&l);
            l.clear();
        }
    });
    let filler = mnt.join("fill");
    fill(&filler);
    let full_port = unused_port();
    let burst = format!(
        "import socket\nfor i in range(300):\n    s = socket.socket()\n    try:\n        s.connect(('127.0.0.1', {full_port}))\n    except OSError:\n        pass\n    s.close()\n"
    );
    for _ in 0..3 {
        let st = Command::new(python())
            .args(["-c", &burst])
            .status()
            .expect("python");
        assert!(st.success());
        std::thread::sleep(Duration::from_millis(700));
    }
    let said = collected.lock().expect("lock").clone();
    assert!(
        said.contains("full"),
        "the recorder says the disk is full: {said}"
    );
    std::fs::remove_file(&filler).expect("make room");
    std::thread::sleep(Duration::from_millis(1500));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let st = child.wait().expect("wait");
    assert!(st.success(), "{st}: {}", collected.lock().expect("lock"));
    let h = history_json(full_port, &db);
    let counted: u64 = h["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        counted, 900,
        "nothing seen while the disk was full is lost: {h}"
    );
}

/// Fills the disk `filler` is on with it.
fn fill(filler: &Path) {
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k", &format!("of={}", filler.display())])
        .stderr(Stdio::null())
        .status();
}

/// Mounts a tmpfs of `kib` KiB at `mnt` for a test; unmounted when the guard drops.
fn small_disk(mnt: &Path, kib: usize) -> Unmount {
    std::fs::create_dir(mnt).expect("mkdir");
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "lport-it"])
        .arg(mnt)
        .status()
        .expect("mount");
    assert!(st.success());
    Unmount(mnt.to_owned())
}

#[test]
fn a_recorder_that_starts_on_a_full_disk_holds_what_it_sees() {
    const HOLDER: &str = r#"
import resource, socket, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (3000, max(3000, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
held = []
for _ in range(2000):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1); held.append(s)
print(held[0].getsockname()[1], held[-1].getsockname()[1], flush=True)
sys.stdin.read()
"#;
    if needs_root("recording (and mounting a small tmpfs)") {
        return;
    }
    // 2,000 listeners the store has not seen (about 600 KiB to write) against 160 KiB of
    // room: the recorder starts anyway, says why it cannot write, and writes them all once
    // the room is there.
    let dir = TempDir::new("startfull");
    let mnt = dir.0.join("mnt");
    let listeners = lport::snapshot(&lport::Query::listeners())
        .expect("listeners")
        .sockets
        .len();
    let _unmount = small_disk(&mnt, 2048 + listeners);
    let db = mnt.join("h.db");
    let st = Command::new(bin())
        .args(["record", "--quiet", "--duration", "1s", "--db"])
        .arg(&db)
        .status()
        .expect("record");
    assert!(st.success(), "making the store: {st}");
    let mut holder = Command::new(python())
        .args(["-c", HOLDER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python");
    let mut ports = String::new();
    BufReader::new(holder.stdout.take().expect("stdout"))
        .read_line(&mut ports)
        .expect("ports");
    let ports: Vec<u16> = ports
        .split_whitespace()
        .map(|p| p.parse().expect("port"))
        .collect();
    assert_eq!(ports.len(), 2, "the holder said its ports");
    let filler = mnt.join("fill");
    fill(&filler);
    let st = Command::new("truncate")
        .args(["-s", "-160k"])
        .arg(&filler)
        .status()
        .expect("truncate");
    assert!(st.success());
    let mut child = Command::new(bin())
        .args(["record", "--duration", "1m", "--db"])
        .arg(&db)
        .stderr(Stdio::piped())
        .spawn()
        .expect("record on a full disk");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut said = String::new();
    let mut line = String::new();
    while !line.starts_with("recording to") {
        line.clear();
        let n = err.read_line(&mut line).expect("stderr");
        said.push_str(&line);
        assert!(n > 0, "the recorder ended at start on a full disk: {said}");
    }
    assert!(
        said.contains("full: holding what is seen"),
        "the recorder says it cannot write yet: {said}"
    );
    std::fs::remove_file(&filler).expect("make room");
    std::thread::sleep(Duration::from_millis(2500));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let st = child.wait().expect("wait");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut err, &mut rest);
    assert!(st.success(), "{st}: {said}{rest}");
    for &port in &ports {
        let h = history_json(port, &db);
        let pids: Vec<u64> = h["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            // Another workload may listen on the same port on another address.
            .filter(|l| l["addr"] == "127.0.0.1")
            .filter_map(|l| l["pid"].as_u64())
            .collect();
        assert_eq!(
            pids,
            [u64::from(holder.id())],
            "port {port}: the held listener was written: {h}"
        );
    }
    drop(holder.stdin.take());
    let _ = holder.kill();
    let _ = holder.wait();
    too_full_to_open(&mnt, &db, ports[0]);
}

/// A disk so full that the store cannot even be opened: the recorder says so and stops,
/// and the history is left where it is (not moved aside as if it were damaged).
fn too_full_to_open(mnt: &Path, db: &Path, port: u16) {
    let filler = mnt.join("fill");
    fill(&filler);
    let out = Command::new(bin())
        .args(["record", "--duration", "1s", "--db"])
        .arg(db)
        .output()
        .expect("record");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let names: Vec<String> = std::fs::read_dir(mnt)
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("unusable")),
        "nothing moved aside: {names:?} ({})",
        stderr(&out)
    );
    std::fs::remove_file(&filler).expect("make room");
    assert!(
        history_json(port, db)["listeners"]
            .as_array()
            .is_some_and(|l| !l.is_empty()),
        "the history is still there"
    );
}

#[test]
fn without_root_it_polls_and_says_what_it_cannot_see() {
    if skip_unless(
        is_root() && have("setpriv"),
        "switching to user nobody needs root and setpriv",
    ) {
        return;
    }
    let nobody = NobodyBin::new("history");
    let out = nobody.run(&["trace", "--duration", "1s"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("need root or CAP_PERFMON") && err.contains("lport watch"),
        "{err}"
    );

    let dir = TempDir::new("nobody");
    std::fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let db = dir.0.join("h.db");
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(nobody.path());
    let mut rec = Recorder::start_with(cmd, &db, &["--interval", "200ms"]);
    assert!(
        rec.notes
            .iter()
            .any(|n| n.contains("no kernel events") && n.contains("polling")),
        "{:?}",
        rec.notes
    );
    let port = unused_port();
    let mut srv = server(port, "time.sleep(1)");
    let _ = srv.wait();
    std::thread::sleep(Duration::from_millis(600));
    rec.stop();
    let h = history_json(port, &db);
    // As nobody the recorder sees no owners (pid 0): the server's is the last listener.
    let l = h["listeners"]
        .as_array()
        .and_then(|l| l.iter().max_by_key(|l| l["opened_ms"].as_i64()))
        .unwrap_or_else(|| panic!("no listener: {h}"));
    assert_eq!(l["seen"], "poll", "{h}");
    assert!(l["closed_ms"].is_i64(), "{h}");
}

/// Starts `lport ARGS` with the history at `db`; returns the child and its first stdout line.
fn start_with_history(args: &[&str], db: &Path) -> (Child, String) {
    let mut child = Command::new(bin())
        .args(args)
        .env("LPORT_HISTORY", db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lport");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    (child, line.trim().to_owned())
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_exporter_and_the_dashboard_show_the_history_recorded_beside_them() {
    if needs_root("recording") || skip_unless(have("curl"), "curl is not installed") {
        return;
    }
    let dir = TempDir::new("beside");
    // `watch --record` records while it watches.
    let mut watch = {
        let mut child = Command::new(bin())
            .args(["watch", "--json", "--record"])
            .env("LPORT_HISTORY", dir.db())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("watch --record");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        while !line.starts_with("recording to") {
            line.clear();
            assert!(
                err.read_line(&mut line).expect("stderr") > 0,
                "watch --record ended early"
            );
        }
        child
    };
    let port = unused_port();
    let mut srv = server(port, "time.sleep(60)");
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("/bin/kill")
        .args(["-KILL", &srv.id().to_string()])
        .status();
    let _ = srv.wait();
    for _ in 0..5 {
        let _ = std::net::TcpStream::connect(("127.0.0.1", port));
    }
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill")
        .args(["-TERM", &watch.id().to_string()])
        .status();
    assert!(watch.wait().expect("wait").success());

    let (mut exp, url) = start_with_history(
        &[
            "exporter",
            "--listen",
            &format!("127.0.0.1:{}", unused_port()),
        ],
        &dir.db(),
    );
    let text = curl(&[&url]);
    let _ = exp.kill();
    let _ = exp.wait();
    assert!(
        text.contains(&format!(
            "lport_connect_failures_total{{port=\"{port}\",outcome=\"refused\"}} 5"
        )),
        "{text}"
    );
    assert!(
        text.contains("lport_listeners_ended_total{how=\"killed\"}"),
        "{text}"
    );

    let (mut ui, url) = start_with_history(&["ui", "--no-open"], &dir.db());
    let (base, token) = url.split_once("/?token=").expect("url with token");
    let body = curl(&[
        "-H",
        &format!("X-Lport-Token: {token}"),
        &format!("{base}/api/history?port={port}"),
    ]);
    let _ = ui.kill();
    let _ = ui.wait();
    let doc: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(
        listener_of(&doc, srv.id())["ending"]["kind"],
        "killed",
        "{doc}"
    );
    assert_eq!(doc["attempts"][0]["count"], 5, "{doc}");
    let refused = curl(&[&format!("{base}/api/history?port={port}")]);
    assert!(
        !refused.contains("listeners"),
        "the history needs the token like every API"
    );
}
