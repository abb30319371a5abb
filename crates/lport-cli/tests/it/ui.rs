//! `lport ui`: its HTTP guards (Host, token, Origin), and the dashboard in a real headless
//! Chromium driven through chromedriver (WebDriver): it lists a listener the test started,
//! updates when another opens, and kill asks first, then frees the port. A screenshot is
//! saved as `target/lport-ui.png`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Sockets, bin, have, skip_unless, unused_port};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_ui() -> (Killed, String) {
    let mut child = Command::new(bin())
        .args(["ui", "--no-open"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn lport ui");
    let mut url = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut url)
        .expect("url");
    (Killed(child), url.trim().to_owned())
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args(args)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn host_token_and_origin_are_enforced() {
    if skip_unless(have("curl"), "needs curl") {
        return;
    }
    let (_ui, url) = start_ui();
    let (base, token) = url.split_once("/?token=").expect("url with token");
    let port = base.rsplit(':').next().expect("port");
    let auth = format!("X-Lport-Token: {token}");
    let api = format!("{base}/api/listeners");
    assert_eq!(
        curl(&["-H", &format!("Host: evil.example:{port}"), &url]),
        "403",
        "DNS rebinding"
    );
    assert_eq!(curl(&[&api]), "401", "no token");
    assert_eq!(
        curl(&["-H", "X-Lport-Token: wrong", &api]),
        "401",
        "a wrong token"
    );
    assert_eq!(curl(&["-H", &auth, &api]), "200");
    // Regression: the token used to become a cookie, which browsers also send to every
    // other port of 127.0.0.1; neither a cookie nor the query string opens the API now.
    assert_eq!(
        curl(&["-b", &format!("lport_token={token}"), &api]),
        "401",
        "a cookie is not a token"
    );
    assert_eq!(
        curl(&[&format!("{api}?token={token}")]),
        "401",
        "the query string is not a token"
    );
    let out = Command::new("curl")
        .args(["-s", "-i", &url])
        .output()
        .expect("curl");
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "the page itself: {head}");
    assert!(
        !head.contains("set-cookie"),
        "no cookie is ever set: {head}"
    );
    assert!(!head.contains("location:"), "no redirect: {head}");
    assert!(head.contains("referrer-policy: no-referrer"), "{head}");
    // GET APIs cannot be triggered from another site or another local port either.
    for site in ["cross-site", "same-site"] {
        assert_eq!(
            curl(&["-H", &auth, "-H", &format!("Sec-Fetch-Site: {site}"), &api]),
            "403",
            "Sec-Fetch-Site: {site}"
        );
    }
    assert_eq!(
        curl(&["-H", &auth, "-H", "Sec-Fetch-Site: same-origin", &api]),
        "200"
    );
    // Regression: `//evil.example/x?token=...` was redirected to `//evil.example/x`.
    let out = Command::new("curl")
        .args([
            "-s",
            "-i",
            "--path-as-is",
            &format!("{base}//evil.example/x?token={token}"),
        ])
        .output()
        .expect("curl");
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(!head.contains("location:"), "no open redirect: {head}");
    // Two Host headers: which one would a proxy have checked?
    let mut s =
        TcpStream::connect(("127.0.0.1", port.parse::<u16>().expect("port"))).expect("connect");
    write!(
        s,
        "GET /api/listeners HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example\r\n{auth}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 400"), "duplicate Host: {reply}");
    for q in [
        "/api/who?port=1&proto=sctp",
        "/api/why?host=127.0.0.1&port=1&proto=icmp",
    ] {
        assert_eq!(
            curl(&["-H", &auth, &format!("{base}{q}")]),
            "400",
            "{q}: proto is validated"
        );
    }
}

#[test]
fn the_kill_api_needs_the_same_origin() {
    if skip_unless(have("curl"), "needs curl") {
        return;
    }
    let (_ui, url) = start_ui();
    let (base, token) = url.split_once("/?token=").expect("url with token");
    let auth = format!("X-Lport-Token: {token}");
    let api = format!("{base}/api/listeners");
    let kill_from = |origin: Option<&str>, body: &str| {
        let mut a = vec![
            "-H",
            auth.as_str(),
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ];
        let o;
        if let Some(origin) = origin {
            o = format!("Origin: {origin}");
            a.extend(["-H", o.as_str()]);
        }
        let u = format!("{base}/api/kill");
        a.push(&u);
        curl(&a)
    };
    // Port 1 and no pids: nothing is ever signalled by these requests.
    let body = r#"{"port":1,"pids":[]}"#;
    assert_eq!(
        kill_from(Some("http://evil.example"), body),
        "403",
        "cross-origin POST"
    );
    assert_eq!(kill_from(None, body), "403", "POST without an Origin");
    assert_eq!(
        kill_from(Some(base), r#"{"proto":"raw","port":1,"pids":[]}"#),
        "400",
        "proto is validated"
    );
    assert_eq!(kill_from(Some(base), body), "200", "same-origin POST");
    let out = Command::new("curl")
        .args(["-s", "-i", "-H", &auth, &api])
        .output()
        .expect("curl");
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(
        !head.contains("access-control-allow"),
        "no CORS headers: {head}"
    );
}

/// A minimal WebDriver client over HTTP/1.1.
struct Driver {
    port: u16,
    session: String,
}

fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("chromedriver");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    // chromedriver keeps the connection open: read the head, then Content-Length bytes.
    let mut r = BufReader::new(s);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).expect("read") == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).expect("read body");
    let json = String::from_utf8_lossy(&body).into_owned();
    serde_json::from_str(&json).unwrap_or(Value::Null)
}

impl Driver {
    fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        http(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )["value"]
            .clone()
    }

    fn script(&self, js: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(&json!({"script": js, "args": []})),
        )
    }

    fn wait_for(&self, js: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.script(js) == Value::Bool(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "timed out waiting for {what}: {}",
            self.script("return document.body.innerText")
        );
    }
}

/// chromedriver and a headless Chromium 1280x800 (its window as a laptop's), on `url`.
fn open_browser(url: &str, tag: &str) -> (Driver, (Killed, BrowserGuard)) {
    let dport = unused_port();
    let driver = Killed(
        Command::new("chromedriver")
            .arg(format!("--port={dport}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver"),
    );
    crate::support::wait_for_port(dport, 20);
    let profile =
        std::env::temp_dir().join(format!("lport-it-chromium-{}-{tag}", std::process::id()));
    let browser = BrowserGuard(profile.clone());
    let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
        "binary": "/usr/bin/chromium",
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,800", format!("--user-data-dir={}", profile.display())]}}}});
    // Chromium sometimes fails to start on a machine busy with another workload
    // ("session not created"): a new try is a new browser, nothing of lport's is retried.
    let mut tries = Vec::new();
    let session = loop {
        let created = http(dport, "POST", "/session", Some(&caps));
        if let Some(id) = created["value"]["sessionId"].as_str() {
            break id.to_owned();
        }
        tries.push(created);
        assert!(tries.len() < 3, "no browser session: {tries:?}");
        std::thread::sleep(Duration::from_secs(1));
    };
    let d = Driver {
        port: dport,
        session,
    };
    d.cmd("POST", "/url", Some(&json!({"url": url})));
    (d, (driver, browser))
}

/// Kills the test's Chromium (found by its profile directory) and removes the profile, also
/// when the test fails half-way; chromedriver's own exit does not take Chromium with it.
struct BrowserGuard(std::path::PathBuf);

impl Drop for BrowserGuard {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args(["-9", "-f", &self.0.display().to_string()])
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[test]
// One scenario, step by step, as a person would use the page.
#[allow(clippy::too_many_lines)]
fn the_dashboard_in_a_real_browser() {
    if skip_unless(
        have("chromedriver") && std::path::Path::new("/usr/bin/chromium").exists(),
        "needs Debian's chromium and chromium-driver",
    ) {
        return;
    }
    let first = Sockets::open(&["listen@127.0.0.1"]);
    let (_ui, url) = start_ui();
    let (d, _browser) = open_browser(&url, "root");
    let dport = d.port;
    // The listener the test started is in the table.
    d.wait_for(
        &format!(
            "return !!document.querySelector('tr[data-port=\"{}\"]')",
            first.port(0)
        ),
        "the first listener",
    );
    // Start times read as "… ago", with the exact time on hover.
    let started = d.script(&format!(
        "const c = document.querySelector('tr[data-port=\"{}\"]').cells[8]; return [c.innerText, c.title]",
        first.port(0)
    ));
    let (ago, exact) = (
        started[0].as_str().unwrap_or_default(),
        started[1].as_str().unwrap_or_default(),
    );
    assert!(
        (ago == "just now" || ago.ends_with("min ago")) && exact.ends_with('Z'),
        "{started}"
    );
    // The token left the address bar and is in no cookie.
    assert_eq!(
        d.script("return location.search === '' && document.cookie === ''"),
        Value::Bool(true),
        "the token stays out of the URL and of cookies"
    );
    // A process whose name holds escapes is shown, neutralised, and the kill confirmation
    // shows the escapes as text too (dismissed here: nothing is sent).
    let evil = crate::hostile::Hostile::start("name");
    // Its TCP row: another workload's UDP socket may have the same number.
    let row = format!(
        "[...document.querySelectorAll('tr[data-port=\"{}\"]')].find(r => r.innerText.includes('\\ttcp\\t'))",
        evil.port
    );
    d.wait_for(&format!("return !!{row}"), "the hostile-named listener");
    let text = d.script(&format!("return {row}.innerText"));
    let text = text.as_str().unwrap_or_default();
    assert!(
        text.contains("\\x1b]0;pwn\\x07") && !text.contains('\u{1b}'),
        "{text:?}"
    );
    d.script(&format!("{row}.click(); return true"));
    d.wait_for(
        "return !!document.getElementById('kill')",
        "its kill button",
    );
    d.script("setTimeout(() => document.getElementById('kill').click(), 0); return true");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut question = Value::Null;
    while Instant::now() < deadline && !question.is_string() {
        std::thread::sleep(Duration::from_millis(100));
        question = d.cmd("GET", "/alert/text", None);
    }
    let q = question.as_str().unwrap_or_default().to_owned();
    d.cmd("POST", "/alert/dismiss", Some(&json!({})));
    assert!(
        q.contains(&format!("pid {}", evil.pid)) && q.contains("\\x1b") && !q.contains('\u{1b}'),
        "the confirmation names it, neutralised: {q:?}"
    );
    assert!(Sockets::alive(evil.pid), "dismissing sends nothing");
    drop(evil);
    // Its detail panel: the holder, its connections, and the why report with the service.
    d.script(&format!(
        "document.querySelector('tr[data-port=\"{}\"]').click(); return true",
        first.port(0)
    ));
    d.wait_for(
        "return !!document.getElementById('why')",
        "the detail panel",
    );
    d.wait_for(
        &format!(
            "return document.getElementById('detail').innerText.includes('pid {}')",
            first.pid
        ),
        "the holder",
    );
    d.wait_for(
        "return document.getElementById('connections').innerText.includes('connections on port')",
        "the connections",
    );
    // The port's history panel (what `lport record` kept; here, where nothing was).
    d.wait_for(
        &format!(
            "const h = document.getElementById('history'); return !!h && h.innerText.includes('history of port {}')",
            first.port(0)
        ),
        "the history panel",
    );
    d.script("document.getElementById('why').click(); return true");
    d.wait_for(
        "return document.getElementById('out').innerText.includes('verdict: ok')",
        "the why report",
    );
    d.wait_for(
        &format!(
            "return document.querySelector('tr[data-port=\"{}\"]').innerText.includes('unknown')",
            first.port(0)
        ),
        "the service column",
    );
    // Another one opens: the table updates without a reload.
    let second = Sockets::open(&["listen@127.0.0.1"]);
    d.wait_for(
        &format!(
            "return !!document.querySelector('tr[data-port=\"{}\"]')",
            second.port(0)
        ),
        "the live update",
    );
    // Kill it: the page asks first, naming the process.
    d.script(&format!(
        "document.querySelector('tr[data-port=\"{}\"]').click(); return true",
        second.port(0)
    ));
    d.wait_for(
        "return !!document.getElementById('kill')",
        "the detail panel",
    );
    d.script("setTimeout(() => document.getElementById('kill').click(), 0); return true");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut question = Value::Null;
    while Instant::now() < deadline {
        question = d.cmd("GET", "/alert/text", None);
        if question.is_string() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let q = question
        .as_str()
        .unwrap_or_else(|| panic!("no confirmation dialog: {question}"));
    assert!(
        q.contains(&format!("pid {}", second.pid)) && q.contains(&second.port(0).to_string()),
        "{q}"
    );
    assert!(
        Sockets::alive(second.pid),
        "nothing is sent before the answer"
    );
    d.cmd("POST", "/alert/accept", Some(&json!({})));
    d.wait_for(
        &format!(
            "return !document.querySelector('tr[data-port=\"{}\"]')",
            second.port(0)
        ),
        "the killed listener to leave",
    );
    assert!(!Sockets::alive(second.pid));
    std::net::TcpListener::bind(("127.0.0.1", second.port(0))).expect("the port is free again");
    let shot = d.cmd("GET", "/screenshot", None);
    let png = base64_decode(shot.as_str().unwrap_or(""));
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let target =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/lport-ui.png");
    std::fs::write(&target, &png).expect("save the screenshot");
    http(dport, "DELETE", &format!("/session/{}", d.session), None);
}

/// The page at 1280x800 with a long owner note (a root listener in a systemd-like unit with
/// a long name, seen by a dashboard run as nobody): every column visible without
/// scrolling sideways, the note whole in the detail panel, the user named, the live count
/// following the filter, and the box diagnosing a port nothing listens on.
#[test]
#[allow(clippy::too_many_lines)]
fn the_dashboard_fits_a_laptop_screen() {
    if skip_unless(
        crate::support::is_root()
            && have("setpriv")
            && have("chromedriver")
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "needs root (to run the dashboard as nobody), setpriv, chromium and chromium-driver",
    ) {
        return;
    }
    let Some(root) = crate::support::cgroup2_root() else {
        assert!(
            std::env::var_os("LPORT_REQUIRE_ALL").is_none(),
            "needs a writable cgroup v2 hierarchy"
        );
        eprintln!("SKIPPED: needs a writable cgroup v2 hierarchy");
        return;
    };
    let cg = crate::support::CgroupGuard::with_name(
        &root,
        &format!(
            "lport-it-{}-{}.service",
            std::process::id(),
            "long-unit-name-".repeat(11)
        ),
    );
    let s = Sockets::open(&[
        &format!("--cgroup={}", cg.path.display()),
        "listen@127.0.0.1",
    ]);
    let port = s.port(0);
    // The dashboard as nobody: root's socket is listed with its note.
    let nobody = crate::support::NobodyBin::new("ui");
    let mut child = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(nobody.path())
        .args(["ui", "--no-open"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lport ui as nobody");
    let mut url = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut url)
        .expect("url");
    if !url.starts_with("http://127.0.0.1:") {
        // No URL: it failed to start. Say why rather than load a blank page.
        let _ = child.kill();
        let out = child.wait_with_output().expect("lport ui's output");
        panic!(
            "lport ui printed no URL ({url:?}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ui = Killed(child);
    let (d, _browser) = open_browser(url.trim(), "laptop");
    let row = format!("tr[data-port=\"{port}\"]");
    d.wait_for(
        &format!("return !!document.querySelector('{row}')"),
        "the root listener",
    );
    let note = d.script(&format!(
        "return document.querySelector('{row}').cells[4].title"
    ));
    let note = note.as_str().unwrap_or_default().to_owned();
    assert!(
        note.chars().count() >= 200 && note.contains("needs root") && note.contains(&cg.unit),
        "a long owner note: {note}"
    );
    let fits = d.script(
        "const w = window.innerWidth; \
         const ths = [...document.querySelectorAll('th')]; \
         return { page: document.documentElement.scrollWidth, w, \
                  right: Math.max(...ths.map((t) => t.getBoundingClientRect().right)), \
                  columns: ths.length }",
    );
    let w = fits["w"].as_f64().unwrap_or(0.0);
    assert!(
        fits["page"].as_f64().unwrap_or(f64::MAX) <= w
            && fits["right"].as_f64().unwrap_or(f64::MAX) <= w,
        "no sideways scrolling at 1280 px, every column visible: {fits}"
    );
    assert_eq!(fits["columns"], 9, "{fits}");
    let cells = d.script(&format!(
        "return [...document.querySelector('{row}').cells].map((c) => c.innerText)"
    ));
    assert_eq!(cells[4], "? (hidden: needs root)", "{cells}");
    assert_eq!(cells[5], "root", "a user name, not a uid: {cells}");
    // Selected: highlighted, and the note whole in the panel, wrapped inside it.
    d.script(&format!(
        "document.querySelector('{row}').click(); return true"
    ));
    d.wait_for(
        &format!("return document.querySelector('{row}').classList.contains('selected')"),
        "the selected row",
    );
    let panel = d.script(
        "const p = document.getElementById('detail'); \
         return { text: p.innerText, fits: p.scrollWidth <= p.clientWidth, \
                  right: p.getBoundingClientRect().right, w: window.innerWidth }",
    );
    assert!(
        panel["text"]
            .as_str()
            .unwrap_or_default()
            .contains(&cg.unit)
            && panel["fits"] == true
            && panel["right"].as_f64().unwrap_or(f64::MAX) <= panel["w"].as_f64().unwrap_or(0.0),
        "{panel}"
    );
    // The live count follows the filter.
    d.script(&format!(
        "const f = document.getElementById('filter'); f.value = '{port}'; \
         f.dispatchEvent(new Event('input')); return true"
    ));
    d.wait_for(
        "return /live — 1 of \\d+ listeners match/.test(document.getElementById('status').innerText)",
        "the filtered count",
    );
    // The box: a port nothing listens on (the article's question).
    let free = unused_port();
    d.script(&format!(
        "document.getElementById('target').value = 'localhost:{free}'; \
         document.getElementById('diagnose-go').click(); return true"
    ));
    d.wait_for(
        "const o = document.getElementById('out'); return !!o && o.innerText.includes('nothing-listening')",
        "the diagnosis of a free port",
    );
    let shot = d.cmd("GET", "/screenshot", None);
    let png = base64_decode(shot.as_str().unwrap_or(""));
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let target = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/lport-ui-1280x800.png");
    std::fs::write(&target, &png).expect("save the screenshot");
    http(d.port, "DELETE", &format!("/session/{}", d.session), None);
    drop(s);
}
