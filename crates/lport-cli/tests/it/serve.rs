//! `lport serve`: fetched with curl — files, listings, ranges, validators, HEAD, 404,
//! traversal attempts — plus the echo servers and a clean stop on Ctrl-C.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::support::{bin, have, skip_unless, stdout};

struct Served {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Served {
    fn start(args: &[&str]) -> Served {
        let dir = std::env::temp_dir().join(format!(
            "lport-serve-{}-{}",
            std::process::id(),
            args.join("_").replace(['/', '-', ' ', '.'], "")
        ));
        std::fs::create_dir_all(dir.join("docs")).expect("mkdir");
        std::fs::write(dir.join("hello.txt"), "hello, world\n").expect("write");
        std::fs::write(dir.join("page.html"), "<p>page</p>\n").expect("write");
        std::fs::write(dir.join("docs/index.html"), "<h1>docs</h1>\n").expect("write");
        let outside = dir.with_extension("secret");
        std::fs::write(&outside, "secret\n").expect("write");
        let _ = std::os::unix::fs::symlink(&outside, dir.join("leak.txt"));
        let mut child = Command::new(bin())
            .arg("serve")
            .args(args)
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let mut url = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut url)
            .expect("url line");
        Served {
            child,
            url: url.trim().to_owned(),
            dir,
        }
    }

    /// Stops with SIGINT (Ctrl-C) and returns the exit status and stderr.
    fn stop(mut self) -> (Option<i32>, String) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let code = self.child.wait().ok().and_then(|s| s.code());
        (code, err)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(self.dir.with_extension("secret"));
    }
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-s", "--max-time", "5"])
        .args(args)
        .output()
        .expect("run curl")
}

fn status_of(out: &Output) -> String {
    stdout(out).lines().next().unwrap_or("").trim().to_owned()
}

#[test]
fn static_files_listings_ranges_validators_and_refusals() {
    if skip_unless(have("curl"), "needs curl") {
        return;
    }
    let s = Served::start(&["--port", &crate::support::unused_port().to_string()]);
    assert!(s.url.starts_with("http://127.0.0.1:"), "{}", s.url);
    let u = |p: &str| format!("{}{p}", s.url.trim_end_matches('/'));

    let out = curl(&["-i", &u("/hello.txt")]);
    let text = stdout(&out);
    assert_eq!(status_of(&out), "HTTP/1.1 200 OK");
    assert!(
        text.contains("content-type: text/plain; charset=utf-8"),
        "{text}"
    );
    assert!(text.contains("content-length: 13"), "{text}");
    assert!(text.ends_with("hello, world\n"));
    let etag = text
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("etag")
        .trim()
        .to_owned();
    assert!(text.contains("last-modified: "));

    // HEAD: the same headers, no body.
    let out = curl(&["-I", &u("/hello.txt")]);
    assert!(stdout(&out).contains("content-length: 13"));
    assert!(!stdout(&out).contains("hello"));

    // Ranges.
    let out = curl(&["-i", "-r", "0-4", &u("/hello.txt")]);
    assert_eq!(status_of(&out), "HTTP/1.1 206 Partial Content");
    assert!(stdout(&out).contains("content-range: bytes 0-4/13"));
    assert!(stdout(&out).ends_with("\r\n\r\nhello"));
    let out = curl(&["-i", "-r", "100-200", &u("/hello.txt")]);
    assert_eq!(status_of(&out), "HTTP/1.1 416 Range Not Satisfiable");

    // Validators.
    let out = curl(&[
        "-i",
        "-H",
        &format!("If-None-Match: {etag}"),
        &u("/hello.txt"),
    ]);
    assert_eq!(status_of(&out), "HTTP/1.1 304 Not Modified");

    // MIME, index.html, listings, redirect to the slash.
    assert!(stdout(&curl(&["-i", &u("/page.html")])).contains("text/html; charset=utf-8"));
    assert_eq!(stdout(&curl(&[&u("/docs/")])), "<h1>docs</h1>\n");
    let out = curl(&["-i", &u("/docs")]);
    assert_eq!(status_of(&out), "HTTP/1.1 301 Moved Permanently");
    assert!(stdout(&out).contains("location: /docs/"));
    let listing = stdout(&curl(&[&u("/")]));
    assert!(
        listing.contains("<a href=\"hello.txt\">hello.txt</a>"),
        "{listing}"
    );
    assert!(listing.contains("<a href=\"docs/\">docs/</a>"), "{listing}");

    // 404, traversal and symlinks out of the directory, methods.
    assert_eq!(
        status_of(&curl(&["-i", &u("/nope")])),
        "HTTP/1.1 404 Not Found"
    );
    for path in [
        "/../hello.txt",
        "/docs/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/leak.txt",
    ] {
        let out = curl(&["-i", "--path-as-is", &u(path)]);
        assert_eq!(status_of(&out), "HTTP/1.1 403 Forbidden", "{path}");
        assert!(
            !stdout(&out).contains("secret") && !stdout(&out).contains("root:"),
            "{path}"
        );
    }
    let out = curl(&["-i", "-X", "POST", &u("/hello.txt")]);
    assert_eq!(status_of(&out), "HTTP/1.1 405 Method Not Allowed");

    // An edited file is served fresh.
    std::fs::write(s.dir.join("hello.txt"), "changed\n").expect("write");
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(stdout(&curl(&[&u("/hello.txt")])), "changed\n");

    let (code, err) = s.stop();
    assert_eq!(code, Some(0), "Ctrl-C stops cleanly: {err}");
    assert!(
        err.contains("GET /hello.txt 200"),
        "requests are logged: {err}"
    );
    assert!(err.contains("GET /nope 404"), "{err}");
    // The bytes a listing sent, which has no Content-Length header of its own.
    assert!(
        err.contains(&format!("GET / 200 {}B", listing.len())),
        "the listing's size is logged: {err}"
    );
}

#[test]
fn the_http_echo_returns_the_request_as_json() {
    if skip_unless(have("curl"), "needs curl") {
        return;
    }
    let s = Served::start(&["--echo", "-q"]);
    let out = curl(&[
        "-H",
        "X-Test: 1",
        "--data",
        "ping",
        &format!("{}api?x=1", s.url),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/api");
    assert_eq!(v["query"], "x=1");
    assert_eq!(v["headers"]["x-test"], "1");
    assert_eq!(v["body"], "ping");
    assert!(
        v["remote"]
            .as_str()
            .expect("remote")
            .starts_with("127.0.0.1:")
    );
    let (code, err) = s.stop();
    assert_eq!(code, Some(0));
    assert!(!err.contains("POST /api"), "-q logs nothing: {err}");
}

#[test]
fn tcp_and_udp_echo() {
    let s = Served::start(&["--tcp-echo"]);
    let addr = s.url.trim_start_matches("tcp://").to_owned();
    let mut c = std::net::TcpStream::connect(&addr).expect("connect");
    c.write_all(b"round trip\n").expect("write");
    c.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut back = String::new();
    c.read_to_string(&mut back).expect("read");
    assert_eq!(back, "round trip\n");
    assert_eq!(s.stop().0, Some(0));

    let s = Served::start(&["--udp-echo"]);
    let addr = s.url.trim_start_matches("udp://").to_owned();
    let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    u.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    u.send_to(b"datagram", &addr).expect("send");
    let mut buf = [0u8; 64];
    let (n, _) = u.recv_from(&mut buf).expect("echo");
    assert_eq!(&buf[..n], b"datagram");
    assert_eq!(s.stop().0, Some(0));
}

#[test]
fn binding_beyond_loopback_warns_and_a_taken_port_fails_cleanly() {
    let s = Served::start(&["--bind", "0.0.0.0", "-q"]);
    assert!(s.url.starts_with("http://0.0.0.0:"), "{}", s.url);
    let port = s
        .url
        .rsplit(':')
        .next()
        .expect("port")
        .trim_end_matches('/')
        .to_owned();
    let (_, err) = s.stop();
    assert!(err.contains("warning: listening on 0.0.0.0"), "{err}");

    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = held.local_addr().expect("addr").port().to_string();
    let out = Command::new(bin())
        .args(["serve", "--port", &taken])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot serve on 127.0.0.1") && err.contains("in use"),
        "{err}"
    );
    // The holder is named, as `why --listen` would: this test process.
    let me = format!("(pid {})", std::process::id());
    assert!(
        err.contains(&me) && err.contains(&format!("lport kill {taken}")),
        "{err}"
    );
    let _ = port;
}
