//! Service identification against real servers started by the test on free ports, in
//! temporary directories: nginx (HTTP and TLS), Redis (with and without a password),
//! memcached, PostgreSQL (initdb + postgres as user postgres) and OpenSSH.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::support::{bin, cause, have, is_root, skip_unless, unused_port};

struct Server {
    child: Child,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lport-svc-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

fn start(mut cmd: Command, dir: PathBuf, port: u16) -> Server {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start server");
    let server = Server { child, dir };
    crate::support::wait_for_port(port, 20);
    server
}

fn why(target: &str) -> Value {
    why_env(target, &[])
}

/// `why` with `SSL_CERT_FILE` and `SSL_CERT_DIR` unset, then `env` set.
fn why_env(target: &str, env: &[(&str, &Path)]) -> Value {
    let out = Command::new(bin())
        .args(["why", target, "--json"])
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .envs(env.iter().copied())
        .output()
        .expect("why");
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn nginx_http_and_tls() {
    if skip_unless(
        have("nginx") && have("openssl"),
        "needs nginx and openssl (apt-get install nginx)",
    ) {
        return;
    }
    let dir = tempdir("nginx");
    std::fs::create_dir_all(dir.join("www")).expect("mkdir");
    std::fs::write(
        dir.join("www/index.html"),
        "<html><head><title>Hello Dev</title></head></html>",
    )
    .expect("write");
    let (cert, key) = crate::support::self_signed(&dir);
    let (http, https, h2c) = (unused_port(), unused_port(), unused_port());
    let d = dir.display();
    let conf = format!(
        "daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log; events {{}}\n\
         http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n\
         server {{ listen 127.0.0.1:{http}; root {d}/www; }}\n\
         server {{ listen 127.0.0.1:{https} ssl; ssl_certificate {}; ssl_certificate_key {}; root {d}/www; }}\n\
         server {{ listen 127.0.0.1:{h2c} http2; root {d}/www; }} }}\n",
        cert.display(),
        key.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
    let mut cmd = Command::new("nginx");
    cmd.arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"));
    let _srv = start(cmd, dir.clone(), http);
    let v = why(&format!("http://127.0.0.1:{http}/"));
    assert_eq!(v["verdict"], "ok", "{v}");
    let s = &v["service"];
    assert_eq!(
        (s["name"].as_str(), s["product"].as_str()),
        (Some("http"), Some("nginx")),
        "{v}"
    );
    assert!(
        s["version"].as_str().is_some_and(|x| x.starts_with("1.")),
        "{v}"
    );
    assert_eq!(s["detail"]["title"], "Hello Dev");
    let v = why(&format!("127.0.0.1:{https}"));
    let s = &v["service"];
    assert_eq!(s["product"], "nginx", "{v}");
    assert!(
        s["tls"]["version"]
            .as_str()
            .is_some_and(|t| t.starts_with("TLSv1.")),
        "{v}"
    );
    assert_eq!(s["tls"]["subject"], "CN=localhost", "{v}");
    assert_eq!(s["tls"]["self_signed"], true, "{v}");
    assert!(
        s["tls"]["not_after"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{v}"
    );
    let v = why(&format!("http://127.0.0.1:{https}/"));
    assert!(v["causes"].to_string().contains("tls-mismatch"), "{v}");
    let v = why(&format!("127.0.0.1:{h2c}"));
    assert_eq!(v["service"]["name"], "http", "{v}");
    assert_eq!(v["service"]["detail"]["h2c"], true, "{v}");
}

#[test]
fn redis_with_and_without_a_password() {
    if skip_unless(
        have("redis-server"),
        "needs redis-server (apt-get install redis-server)",
    ) {
        return;
    }
    for password in [None, Some("s3cret")] {
        let dir = tempdir(if password.is_some() {
            "redis-auth"
        } else {
            "redis"
        });
        let port = unused_port();
        let mut cmd = Command::new("redis-server");
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(&dir);
        if let Some(p) = password {
            cmd.args(["--requirepass", p]);
        }
        let _srv = start(cmd, dir, port);
        let v = why(&format!("127.0.0.1:{port}"));
        assert_eq!(v["service"]["name"], "redis", "{v}");
        if password.is_none() {
            // INFO server, read-only, names the version.
            assert_eq!(v["service"]["product"], "Redis", "{v}");
            assert!(
                v["service"]["version"]
                    .as_str()
                    .is_some_and(|x| x.starts_with(|c: char| c.is_ascii_digit())),
                "{v}"
            );
        }
        assert_eq!(
            v["service"]["detail"]["auth_required"],
            password.is_some(),
            "{v}"
        );
        let risky = v["causes"].to_string().contains("unauthenticated-risky");
        assert_eq!(risky, password.is_none(), "{v}");
    }
}

#[test]
fn memcached_is_identified_with_its_version() {
    if skip_unless(
        have("memcached"),
        "needs memcached (apt-get install memcached)",
    ) {
        return;
    }
    let dir = tempdir("memcached");
    let port = unused_port();
    let mut cmd = Command::new("memcached");
    cmd.args([
        "-l",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        "0",
        "-u",
        "nobody",
    ]);
    let _srv = start(cmd, dir, port);
    let v = why(&format!("127.0.0.1:{port}"));
    assert_eq!(v["service"]["name"], "memcached", "{v}");
    assert!(
        v["service"]["version"]
            .as_str()
            .is_some_and(|x| x.starts_with("1.")),
        "{v}"
    );
}

fn pg_bin(name: &str) -> Option<PathBuf> {
    let base = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<_> = std::fs::read_dir(base)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    versions.sort();
    versions
        .into_iter()
        .rev()
        .map(|v| v.join("bin").join(name))
        .find(|p| p.exists())
}

/// A fresh PostgreSQL cluster in a temp dir owned by user postgres: the `postgres`
/// command for it (to be given `-p`, `-c` and `-k`), the dir, and initdb's path; `None`
/// (said plainly) where root or PostgreSQL is missing.
fn pg_cluster(tag: &str) -> Option<(Command, PathBuf, PathBuf)> {
    let initdb = pg_bin("initdb");
    if skip_unless(
        is_root() && initdb.is_some() && have("setpriv"),
        "needs root (to run PostgreSQL as user postgres) and PostgreSQL (apt-get install postgresql)",
    ) {
        return None;
    }
    let dir = tempdir(tag);
    let data = dir.join("data");
    let _ = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(&dir)
        .status();
    let as_pg = |prog: &Path| {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--clear-groups",
            "--",
        ])
        .arg(prog);
        c
    };
    let initdb_path = initdb.expect("initdb");
    let ok = as_pg(&initdb_path)
        .args(["-A", "trust", "-U", "postgres", "-D"])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("initdb");
    assert!(ok.success(), "initdb");
    let mut cmd = as_pg(&pg_bin("postgres").expect("postgres"));
    cmd.arg("-D").arg(&data);
    Some((cmd, dir, initdb_path))
}

#[test]
fn postgresql_is_identified_and_http_to_it_is_a_protocol_mismatch() {
    let Some((mut cmd, dir, initdb_path)) = pg_cluster("pg") else {
        return;
    };
    let port = unused_port();
    cmd.args([
        "-p",
        &port.to_string(),
        "-c",
        "listen_addresses=127.0.0.1",
        "-k",
    ])
    .arg(&dir);
    let _srv = start(cmd, dir, port);
    let v = why(&format!("127.0.0.1:{port}"));
    assert_eq!(v["service"]["name"], "postgresql", "{v}");
    assert_eq!(v["service"]["product"], "PostgreSQL", "{v}");
    // The major release, from the error fields of its answer to protocol 4.0.
    let major: u32 = initdb_path
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .and_then(|n| n.to_str()?.parse().ok())
        .expect("/usr/lib/postgresql/MAJOR/bin/initdb");
    let expected = match major {
        ..=13 => "<=13",
        14..=16 => "14-16",
        17 => "17",
        _ => ">=18",
    };
    assert_eq!(v["service"]["version"], expected, "PostgreSQL {major}: {v}");
    assert!(
        v["service"]["detail"]["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("ProcessStartupPacket")),
        "{v}"
    );
    let v = why(&format!("http://127.0.0.1:{port}/"));
    assert!(v["causes"].to_string().contains("protocol-mismatch"), "{v}");
    assert_eq!(v["verdict"], "problem");
}

#[test]
fn openssh_is_identified_from_its_banner() {
    if skip_unless(
        is_root() && Path::new("/usr/sbin/sshd").exists() && have("ssh-keygen"),
        "needs root and openssh-server",
    ) {
        return;
    }
    let dir = tempdir("sshd");
    let key = dir.join("host_ed25519");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(ok.success());
    let _ = std::fs::create_dir_all("/run/sshd");
    let port = unused_port();
    let cfg = dir.join("sshd_config");
    std::fs::write(
        &cfg,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\nUsePAM no\n",
            key.display()
        ),
    )
    .expect("config");
    let mut cmd = Command::new("/usr/sbin/sshd");
    cmd.args(["-D", "-e", "-f"]).arg(&cfg);
    let _srv = start(cmd, dir, port);
    let v = why(&format!("127.0.0.1:{port}"));
    assert_eq!(v["service"]["name"], "ssh", "{v}");
    assert_eq!(v["service"]["product"], "OpenSSH", "{v}");
}

#[test]
fn dnsmasq_answers_dns_over_tcp() {
    if skip_unless(
        is_root() && have("dnsmasq"),
        "needs root and dnsmasq (apt-get install dnsmasq-base)",
    ) {
        return;
    }
    let dir = tempdir("dnsmasq");
    let port = unused_port();
    let mut cmd = Command::new("dnsmasq");
    cmd.args([
        "--keep-in-foreground",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--conf-file=/dev/null",
        "--user=root",
        "--pid-file=",
    ])
    .arg(format!("--port={port}"));
    let _srv = start(cmd, dir, port);
    let v = why(&format!("127.0.0.1:{port}"));
    assert_eq!(v["service"]["name"], "dns", "{v}");
    assert_eq!(v["service"]["product"], "dnsmasq", "{v}");
    // And over UDP, the way DNS is mostly asked.
    let v = why(&format!("udp/127.0.0.1:{port}"));
    assert_eq!(v["verdict"], "ok", "{v}");
    assert_eq!(v["attempts"][0]["outcome"], "connected", "{v}");
    assert_eq!(
        (
            v["service"]["name"].as_str(),
            v["service"]["product"].as_str()
        ),
        (Some("dns"), Some("dnsmasq")),
        "{v}"
    );
}

/// Stand-ins, in Python, for servers that cannot run on these machines (MongoDB and Kafka
/// are not in Debian, a Docker engine cannot start here, RabbitMQ and Jupyter would need an
/// Erlang or pip install): each answers the way the real server does, byte for byte where
/// the protocol is binary (replies as captured in causes-and-probes.md).
const STANDIN: &str = r#"
import socket, sys, threading
kind, port = sys.argv[1], int(sys.argv[2])
def http(status, headers, body):
    h = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"HTTP/1.1 {status}\r\n{h}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}".encode()
def handle(c):
    try:
        data = c.recv(4096)
        if kind == "mongodb":
            if data[12:16] == b"\xdd\x07\x00\x00":
                c.sendall(b"\x40\x00\x00\x00\x09\x00\x00\x00\x01\x00\x00\x00\xdd\x07\x00\x00" + b"\x00" * 48)
            elif data.startswith(b"GET"):
                c.sendall(http("200 OK", {}, "It looks like you are trying to access MongoDB over HTTP on the native driver port."))
        elif kind == "kafka":
            if data[:4] == b"\x00\x00\x00\x0a" and data[4:6] == b"\x00\x12":
                c.sendall(b"\x00\x00\x00\x0a\x00\x00\x00\x01\x00\x23\x00\x00\x00\x00")
        elif kind == "amqp":
            if data == b"AMQP\x00\x00\x09\x01":
                c.sendall(b"\x01\x00\x00\x00\x00\x00\x20\x00\x0a\x00\x0a\x00\x09\x00\x00\x00\x12\x07productS\x00\x00\x00\x08RabbitMQ\xce")
            else:
                c.sendall(b"AMQP\x00\x00\x09\x01")
        elif kind == "docker":
            path = data.split(b" ")[1] if b" " in data else b"/"
            if path == b"/_ping":
                c.sendall(http("200 OK", {"Api-Version": "1.47", "Server": "Docker/27.5.1 (linux)"}, "OK"))
            else:
                c.sendall(http("404 Not Found", {"Server": "Docker/27.5.1 (linux)"}, "page not found"))
        elif kind == "jupyter":
            c.sendall(http("200 OK", {"Server": "TornadoServer/6.4"}, '{"version": "2.14.0"}'))
        elif kind == "elasticsearch":
            c.sendall(http("200 OK", {"Content-Type": "application/json"}, '{"name":"n1","version":{"number":"8.15.0"},"tagline":"You Know, for Search"}'))
        elif kind == "websocket":
            c.sendall(http("426 Upgrade Required", {"Upgrade": "websocket"}, ""))
    finally:
        c.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(64)
print("up", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
"#;

#[test]
fn services_without_a_debian_server_are_identified_from_their_replies() {
    for (kind, name, risky) in [
        ("mongodb", "mongodb", false),
        ("kafka", "kafka", false),
        ("amqp", "amqp", false),
        ("docker", "docker", true),
        ("jupyter", "jupyter", true),
        ("elasticsearch", "elasticsearch", false),
        ("websocket", "websocket", false),
    ] {
        let dir = tempdir(kind);
        let port = unused_port();
        let mut cmd = Command::new(crate::support::python());
        cmd.args(["-c", STANDIN, kind, &port.to_string()]);
        let _srv = start(cmd, dir, port);
        let v = why(&format!("127.0.0.1:{port}"));
        assert_eq!(v["service"]["name"], name, "{kind}: {v}");
        assert_eq!(
            v["causes"].to_string().contains("unauthenticated-risky"),
            risky,
            "{kind}: {v}"
        );
    }
}

#[test]
fn a_grpc_server_is_identified() {
    let has_grpc = Command::new(crate::support::python())
        .args(["-c", "import grpc"])
        .status()
        .is_ok_and(|s| s.success());
    if skip_unless(
        has_grpc,
        "needs Python's grpcio (apt-get install python3-grpcio)",
    ) {
        return;
    }
    let dir = tempdir("grpc");
    let port = unused_port();
    let code = format!(
        "import grpc, time\nfrom concurrent import futures\ns = grpc.server(futures.ThreadPoolExecutor(max_workers=2))\ns.add_insecure_port('127.0.0.1:{port}')\ns.start()\ntime.sleep(60)\n"
    );
    let mut cmd = Command::new(crate::support::python());
    cmd.args(["-c", &code]);
    let _srv = start(cmd, dir, port);
    let v = why(&format!("127.0.0.1:{port}"));
    assert_eq!(v["service"]["name"], "grpc", "{v}");
}

/// A fresh MariaDB data directory. Once more after a failure (it failed once in a full run
/// on a loaded machine, with nothing said): the first attempt's words are kept.
fn install_mariadb(data: &Path) {
    let install = || {
        let _ = std::fs::remove_dir_all(data);
        Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=root",
                "--skip-test-db",
                "--auth-root-authentication-method=normal",
            ])
            .arg(format!("--datadir={}", data.display()))
            .output()
            .expect("mariadb-install-db")
    };
    let first = install();
    if !first.status.success() {
        let again = install();
        assert!(
            again.status.success(),
            "mariadb-install-db, twice: {}{}",
            String::from_utf8_lossy(&first.stdout),
            String::from_utf8_lossy(&first.stderr)
        );
    }
}

/// MariaDB in a fresh data directory on a free port, with `extra` options.
fn start_mariadb(tag: &str, extra: &[&str]) -> (Server, u16) {
    let dir = tempdir(tag);
    let data = dir.join("data");
    install_mariadb(&data);
    let port = unused_port();
    let mut cmd = Command::new("mariadbd");
    cmd.args([
        "--no-defaults",
        "--user=root",
        "--bind-address=127.0.0.1",
        "--skip-networking=0",
    ])
    .args(extra)
    .arg(format!("--datadir={}", data.display()))
    .arg(format!("--socket={}", dir.join("sock").display()))
    .arg(format!("--pid-file={}", dir.join("pid").display()))
    .arg(format!("--log-error={}", dir.join("err").display()))
    .arg(format!("--port={port}"));
    (start(cmd, dir, port), port)
}

#[test]
fn mariadb_is_identified_from_its_greeting() {
    if skip_unless(
        is_root() && have("mariadbd") && have("mariadb-install-db"),
        "needs root and mariadb-server",
    ) {
        return;
    }
    let (_srv, port) = start_mariadb("mariadb", &[]);
    let v = why(&format!("127.0.0.1:{port}"));
    assert_eq!(v["service"]["name"], "mysql", "{v}");
    assert_eq!(v["service"]["product"], "MariaDB", "{v}");
    assert!(
        v["service"]["version"]
            .as_str()
            .is_some_and(|x| x.contains("MariaDB")),
        "{v}"
    );
}

/// MariaDB over `max_connections`: clients that connect and never log in hold its places
/// (until `connect_timeout`), and the next connection gets error 1040 instead of the
/// greeting.
#[test]
fn a_full_mariadb_is_server_full() {
    if skip_unless(
        is_root() && have("mariadbd") && have("mariadb-install-db"),
        "needs root and mariadb-server",
    ) {
        return;
    }
    let (_srv, port) = start_mariadb(
        "mariadb-full",
        &["--max-connections=1", "--connect-timeout=60"],
    );
    let mut held = Vec::new();
    let mut full = false;
    for _ in 0..16 {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 256];
        let n = std::io::Read::read(&mut c, &mut buf).unwrap_or(0);
        // A packet header (3 bytes of length, 1 of sequence), then 0xff and 1040 (LE).
        if n > 7 && buf[4] == 0xff && buf[5..7] == [0x10, 0x04] {
            full = true;
            break;
        }
        assert_eq!(buf.get(4), Some(&10), "a greeting (protocol 10)");
        held.push(c);
    }
    assert!(full, "MariaDB never refused a client");
    let v = why(&format!("127.0.0.1:{port}"));
    assert_eq!(v["verdict"], "problem", "{v}");
    assert_eq!(v["service"]["name"], "mysql", "{v}");
    let c = cause(&v, "server-full").unwrap_or_else(|| panic!("server-full: {v}"));
    assert!(
        c["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("Too many connections"),
        "{c}"
    );
    assert!(c["fix"].to_string().contains("max_connections"), "{c}");
    drop(held);
}

#[test]
fn tls_with_an_unknown_protocol_inside() {
    if skip_unless(have("openssl"), "needs openssl") {
        return;
    }
    let dir = tempdir("tls-raw");
    let (cert, key) = crate::support::self_signed(&dir);
    let port = unused_port();
    let mut cmd = Command::new("openssl");
    cmd.args(["s_server", "-quiet", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::piped());
    let _srv = start(cmd, dir, port);
    let v = why(&format!("127.0.0.1:{port}"));
    assert_eq!(v["service"]["name"], "tls", "{v}");
    assert_eq!(v["service"]["tls"]["subject"], "CN=localhost", "{v}");
}

#[test]
fn a_full_redis_is_server_full() {
    if skip_unless(
        have("redis-server"),
        "needs redis-server (apt-get install redis-server)",
    ) {
        return;
    }
    let dir = tempdir("redis-full");
    let port = unused_port();
    let mut cmd = Command::new("redis-server");
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxclients",
        "1",
    ])
    .arg("--dir")
    .arg(&dir);
    let _srv = start(cmd, dir, port);
    // Clients take the places Redis has (it counts some of its own), until it refuses one.
    let mut held = Vec::new();
    for _ in 0..16 {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        std::io::Write::write_all(&mut c, b"PING\r\n").expect("ping");
        let mut buf = [0u8; 64];
        let n = std::io::Read::read(&mut c, &mut buf).unwrap_or(0);
        if buf[..n].starts_with(b"-ERR max number of clients") {
            break;
        }
        assert_eq!(&buf[..n], b"+PONG\r\n");
        held.push(c);
    }
    let v = why(&format!("127.0.0.1:{port}"));
    assert_eq!(v["verdict"], "problem", "{v}");
    let c = cause(&v, "server-full").unwrap_or_else(|| panic!("server-full: {v}"));
    assert!(
        c["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("max number of clients"),
        "{c}"
    );
    drop(held);
}

#[test]
fn nginx_without_its_upstream_is_a_bad_gateway() {
    if skip_unless(have("nginx"), "needs nginx (apt-get install nginx)") {
        return;
    }
    let dir = tempdir("nginx-proxy");
    let (port, dead) = (unused_port(), unused_port());
    let d = dir.display();
    let conf = format!(
        "daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log; events {{}}\n\
         http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n\
         server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://127.0.0.1:{dead}; }} }} }}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
    let mut cmd = Command::new("nginx");
    cmd.arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"));
    let _srv = start(cmd, dir.clone(), port);
    let v = why(&format!("http://127.0.0.1:{port}/"));
    assert_eq!(v["verdict"], "problem", "{v}");
    let c = cause(&v, "bad-gateway").unwrap_or_else(|| panic!("bad-gateway: {v}"));
    let summary = c["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("nginx") && summary.contains("HTTP 502"),
        "{c}"
    );
}

/// vsftpd on a free port: its banner names it and its version; with a broken setup it
/// answers every connection with `500 OOPS: ...`, and is still identified, with the error.
#[test]
fn vsftpd_and_its_error_banner() {
    if skip_unless(
        is_root() && have("vsftpd"),
        "needs root and vsftpd (apt-get install vsftpd): it runs standalone as root",
    ) {
        return;
    }
    let dir = tempdir("vsftpd");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    std::fs::set_permissions(&empty, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let conf = |port: u16, chroot: &Path| {
        format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
             anonymous_enable=YES\nanon_root={}\nno_anon_password=YES\nlocal_enable=NO\n\
             write_enable=NO\nsecure_chroot_dir={}\nseccomp_sandbox=NO\n",
            empty.display(),
            chroot.display()
        )
    };
    let (good, bad) = (unused_port(), unused_port());
    std::fs::write(dir.join("good.conf"), conf(good, &empty)).expect("conf");
    std::fs::write(dir.join("bad.conf"), conf(bad, &dir.join("missing"))).expect("conf");
    let mut cmd = Command::new("vsftpd");
    cmd.arg(dir.join("good.conf"));
    let _good = start(cmd, tempdir("vsftpd-run-good"), good);
    let mut cmd = Command::new("vsftpd");
    cmd.arg(dir.join("bad.conf"));
    let _bad = start(cmd, tempdir("vsftpd-run-bad"), bad);
    let v = why(&format!("127.0.0.1:{good}"));
    let s = &v["service"];
    assert_eq!(
        (s["name"].as_str(), s["product"].as_str()),
        (Some("ftp"), Some("vsFTPd")),
        "{v}"
    );
    assert!(
        s["version"].as_str().is_some_and(|x| x.starts_with('3')),
        "{v}"
    );
    let v = why(&format!("127.0.0.1:{bad}"));
    let s = &v["service"];
    assert_eq!(
        (s["name"].as_str(), s["product"].as_str()),
        (Some("ftp"), Some("vsftpd")),
        "{v}"
    );
    assert!(
        s["detail"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("secure_chroot_dir")),
        "{v}"
    );
    let text = String::from_utf8_lossy(
        &Command::new(bin())
            .args(["why", &format!("127.0.0.1:{bad}")])
            .output()
            .expect("why")
            .stdout,
    )
    .into_owned();
    assert!(text.contains("500 OOPS"), "the error is shown: {text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Certificates for the TLS test: an expired self-signed one for localhost, and one for
/// localhost and 127.0.0.1 signed by a CA made here (valid, not self-signed; the CA is in
/// ca.crt, and in no trust store of the machine).
const MAKE_CERTS: &str = r#"
import datetime, ipaddress, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
d = sys.argv[1]
def key():
    return ec.generate_private_key(ec.SECP256R1())
def save(name, cert, k):
    open(f"{d}/{name}.crt", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
    open(f"{d}/{name}.key", "wb").write(k.private_bytes(serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
def cert(subject, issuer, pub, sign, start, end, sans, ca=False):
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(pub)
         .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(sign, hashes.SHA256())
name = lambda cn: x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
now = datetime.datetime.now(datetime.timezone.utc)
sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
k = key()
save("expired", cert(name("localhost"), name("localhost"), k.public_key(), k,
     datetime.datetime(2020, 1, 1), datetime.datetime(2021, 1, 1), sans), k)
# Expired before 1970: its dates are negative Unix times.
save("ancient", cert(name("localhost"), name("localhost"), k.public_key(), k,
     datetime.datetime(1950, 1, 1), datetime.datetime(1960, 1, 1), sans), k)
ca = key()
save("ca", cert(name("lport test CA"), name("lport test CA"), ca.public_key(), ca,
     now - datetime.timedelta(days=1), now + datetime.timedelta(days=30), [], ca=True), ca)
leaf = key()
save("valid", cert(name("localhost"), name("lport test CA"), leaf.public_key(), ca,
     now - datetime.timedelta(days=1), now + datetime.timedelta(days=30), sans), leaf)
"#;

/// Expired in 1960: a date before 1970 is still a date (it was `null`, and not expired).
fn expired_before_1970(port: u16) {
    let v = why(&format!("https://localhost:{port}/"));
    assert_eq!(
        v["service"]["tls"]["not_after"], "1960-01-01T00:00:00Z",
        "{v}"
    );
    let c = cause(&v, "tls-certificate").unwrap_or_else(|| panic!("tls-certificate, 1960: {v}"));
    assert!(
        c["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("expired"),
        "{c}"
    );
}

#[test]
fn tls_certificates_a_browser_refuses_and_one_it_takes() {
    if skip_unless(
        have("nginx")
            && Command::new(crate::support::python())
                .args(["-c", "import cryptography"])
                .status()
                .is_ok_and(|s| s.success()),
        "needs nginx and python3-cryptography (apt-get install nginx python3-cryptography)",
    ) {
        return;
    }
    let dir = tempdir("nginx-certs");
    let st = Command::new(crate::support::python())
        .args(["-c", MAKE_CERTS])
        .arg(&dir)
        .status()
        .expect("python");
    assert!(st.success());
    let (bad, good, ancient) = (unused_port(), unused_port(), unused_port());
    let d = dir.display();
    let conf = format!(
        "daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log; events {{}}\n\
         http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n\
         server {{ listen 127.0.0.1:{bad} ssl; ssl_certificate {d}/expired.crt; ssl_certificate_key {d}/expired.key; root {d}; }}\n\
         server {{ listen 127.0.0.1:{ancient} ssl; ssl_certificate {d}/ancient.crt; ssl_certificate_key {d}/ancient.key; root {d}; }}\n\
         server {{ listen 127.0.0.1:{good} ssl; listen [::1]:{good} ssl; ssl_certificate {d}/valid.crt; ssl_certificate_key {d}/valid.key; root {d}; }} }}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
    let mut cmd = Command::new("nginx");
    cmd.arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"));
    let _srv = start(cmd, dir.clone(), bad);
    crate::support::wait_for_port(good, 20);
    let cause_of = |v: &Value| cause(v, "tls-certificate");
    let v = why(&format!("https://localhost:{bad}/"));
    assert_eq!(
        v["verdict"], "ok",
        "it connects: a warning, not a failure: {v}"
    );
    let c = cause_of(&v).unwrap_or_else(|| panic!("tls-certificate: {v}"));
    let summary = c["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("expired") && summary.contains("self-signed"),
        "{c}"
    );
    assert_eq!(c["severity"], "warning");
    expired_before_1970(ancient);
    // The CA-signed certificate, with its CA trusted (SSL_CERT_FILE, as OpenSSL reads it):
    // nothing to say.
    let ca = dir.join("ca.crt");
    let trusting = [("SSL_CERT_FILE", ca.as_path())];
    for target in [
        format!("https://localhost:{good}/"),
        format!("https://127.0.0.1:{good}/"),
    ] {
        let v = why_env(&target, &trusting);
        assert_eq!(v["verdict"], "ok", "{v}");
        assert_eq!(v["service"]["tls"]["trusted"], true, "{v}");
        assert!(cause_of(&v).is_none(), "no false alarm for {target}: {v}");
    }
    // The same with the machine's own CA bundle, which does not have that CA: unknown
    // issuer, what curl and browsers refuse.
    let v = why(&format!("https://localhost:{good}/"));
    assert_eq!(v["verdict"], "ok", "it connects: {v}");
    assert_eq!(v["service"]["tls"]["trusted"], false, "{v}");
    assert_eq!(v["service"]["tls"]["issuer"], "CN=lport test CA", "{v}");
    let c = cause_of(&v).unwrap_or_else(|| panic!("tls-certificate, unknown issuer: {v}"));
    assert!(
        c["summary"]
            .as_str()
            .unwrap_or_default()
            .ends_with("its issuer is not trusted here"),
        "only the issuer: {c}"
    );
    let evidence = c["evidence"][0].as_str().unwrap_or_default();
    assert!(
        evidence.contains("CN=lport test CA") && evidence.contains(" CAs)"),
        "names the issuer and the store: {c}"
    );
    // The CA's directory in SSL_CERT_DIR trusts it too.
    let v = why_env(
        &format!("https://localhost:{good}/"),
        &[("SSL_CERT_DIR", dir.as_path())],
    );
    assert!(cause_of(&v).is_none(), "SSL_CERT_DIR: {v}");
    // An address the certificate does not name: ::1 (it has localhost and 127.0.0.1).
    let v = why_env(&format!("https://[::1]:{good}/"), &trusting);
    let c = cause_of(&v).unwrap_or_else(|| panic!("tls-certificate for ::1: {v}"));
    assert!(
        c["summary"]
            .as_str()
            .unwrap_or_default()
            .ends_with("it is not for ::1"),
        "{c}"
    );
}

/// Starts `cmd` (a server that listens on the unix socket `sock` only) and waits for it.
fn start_unix(mut cmd: Command, dir: PathBuf, sock: &Path) -> Server {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start server");
    let server = Server { child, dir };
    let out = Command::new(bin())
        .args(["wait", "-q", "--timeout", "30s"])
        .arg(format!("unix:{}", sock.display()))
        .output()
        .expect("lport wait");
    assert!(out.status.success(), "{} never listened", sock.display());
    server
}

/// The `unix-socket-only` cause and its fix, or a panic with the report.
fn unix_only(v: &Value) -> Value {
    cause(v, "unix-socket-only").unwrap_or_else(|| panic!("unix-socket-only: {v}"))
}

/// PostgreSQL with `listen_addresses = ''` serves its socket `.s.PGSQL.<port>` only; the
/// same server listening normally raises nothing of the kind (the test above).
#[test]
fn postgresql_on_its_unix_socket_only() {
    let Some((mut cmd, dir, _)) = pg_cluster("pg-unix") else {
        return;
    };
    let port = unused_port();
    cmd.args(["-p", &port.to_string(), "-c", "listen_addresses=", "-k"])
        .arg(&dir);
    let sock = dir.join(format!(".s.PGSQL.{port}"));
    let _srv = start_unix(cmd, dir.clone(), &sock);
    let v = why(&format!("127.0.0.1:{port}"));
    let c = unix_only(&v);
    assert!(
        c["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("PostgreSQL"),
        "{c}"
    );
    let fix = c["fix"].as_str().unwrap_or_default();
    assert!(fix.contains("listen_addresses = 'localhost'"), "{c}");
    assert!(
        fix.contains(&format!("psql -h {} -p {port}", dir.display())),
        "{c}"
    );
    assert!(c["evidence"].to_string().contains("postgres (pid"), "{c}");
    assert!(cause(&v, "nothing-listening").is_none(), "said once: {v}");
}

/// MariaDB with `--skip-networking` listens on its socket only: the cause names the socket,
/// `skip-networking` and `mysql -S`.
#[test]
fn mariadb_with_skip_networking() {
    if skip_unless(
        is_root() && have("mariadbd") && have("mariadb-install-db"),
        "needs root and mariadb-server",
    ) {
        return;
    }
    let dir = tempdir("mariadb-unix");
    let data = dir.join("data");
    install_mariadb(&data);
    let port = unused_port();
    let sock = dir.join("sock");
    let mut cmd = Command::new("mariadbd");
    cmd.args(["--no-defaults", "--user=root", "--skip-networking"])
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", sock.display()))
        .arg(format!("--pid-file={}", dir.join("pid").display()))
        .arg(format!("--log-error={}", dir.join("err").display()))
        .arg(format!("--port={port}"));
    let _srv = start_unix(cmd, dir.clone(), &sock);
    let v = why(&format!("127.0.0.1:{port}"));
    let c = unix_only(&v);
    let fix = c["fix"].as_str().unwrap_or_default();
    assert!(fix.contains("skip-networking"), "{c}");
    assert!(fix.contains(&format!("mysql -S {}", sock.display())), "{c}");
}

/// Redis with `port 0` and a `unixsocket`, asked about its usual port 6379.
#[test]
fn redis_on_a_unix_socket_only() {
    if skip_unless(have("redis-server"), "needs redis-server") {
        return;
    }
    if crate::support::ports_in_use().any(|p| p == 6379) {
        // Redis's usual port is what this cause is about; something else holds it here.
        assert!(
            std::env::var_os("LPORT_REQUIRE_ALL").is_none(),
            "port 6379 is taken on this machine"
        );
        eprintln!("SKIPPED: port 6379 is taken on this machine");
        return;
    }
    let dir = tempdir("redis-unix");
    let sock = dir.join("redis.sock");
    let mut cmd = Command::new("redis-server");
    cmd.args([
        "--port",
        "0",
        "--save",
        "",
        "--appendonly",
        "no",
        "--unixsocket",
    ])
    .arg(&sock)
    .arg("--dir")
    .arg(&dir);
    let _srv = start_unix(cmd, dir.clone(), &sock);
    let v = why("127.0.0.1:6379");
    let c = unix_only(&v);
    let fix = c["fix"].as_str().unwrap_or_default();
    assert!(fix.contains("port 6379"), "{c}");
    assert!(
        fix.contains(&format!("redis-cli -s {}", sock.display())),
        "{c}"
    );
}

/// MariaDB with `--skip-name-resolve` and its accounts for `localhost` only: a TCP client
/// from 127.0.0.1 gets error 1130 instead of the greeting, and `host-not-allowed` says
/// what to create or use; the same server without it greets normally.
#[test]
fn mariadb_refuses_a_host_it_has_no_account_for() {
    if skip_unless(
        is_root() && have("mariadbd") && have("mariadb-install-db"),
        "needs root and mariadb-server",
    ) {
        return;
    }
    if skip_unless(have("mariadb"), "needs the mariadb client (mariadb-client)") {
        return;
    }
    let (srv, port) = start_mariadb("mariadb-snr", &["--skip-name-resolve"]);
    // Accounts for localhost only (the install also makes root@127.0.0.1 and root@::1).
    let ok = Command::new("mariadb")
        .arg(format!("--socket={}", srv.dir.join("sock").display()))
        .args(["-u", "root", "-e"])
        .arg("DELETE FROM mysql.global_priv WHERE Host <> 'localhost'; FLUSH PRIVILEGES;")
        .status()
        .expect("mariadb");
    assert!(ok.success(), "dropping the non-localhost accounts");
    let v = why(&format!("127.0.0.1:{port}"));
    let c = cause(&v, "host-not-allowed").unwrap_or_else(|| panic!("host-not-allowed: {v}"));
    assert!(c["evidence"].to_string().contains("error 1130"), "{c}");
    assert!(
        c["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("'app'@'127.0.0.1'"),
        "{c}"
    );
    assert_eq!(v["verdict"], "problem", "{v}");
    drop(srv);
    let (_srv, port) = start_mariadb("mariadb-resolve", &[]);
    let v = why(&format!("127.0.0.1:{port}"));
    assert!(cause(&v, "host-not-allowed").is_none(), "{v}");
}

/// nginx with `ssl_verify_client on` asks for a client certificate and answers HTTP 400
/// without one: `tls-client-certificate` names the CA it asks for. With `optional`, and
/// without client verification, nothing of the kind.
#[test]
fn nginx_that_requires_a_client_certificate() {
    if skip_unless(
        have("nginx") && have("openssl"),
        "needs nginx and openssl (apt-get install nginx)",
    ) {
        return;
    }
    let dir = tempdir("nginx-mtls");
    std::fs::create_dir_all(dir.join("www")).expect("mkdir");
    std::fs::write(dir.join("www/index.html"), "<title>mtls</title>").expect("write");
    let (cert, key) = crate::support::self_signed(&dir);
    let (on, optional, off) = (unused_port(), unused_port(), unused_port());
    let d = dir.display();
    let tls = format!(
        "ssl_certificate {}; ssl_certificate_key {}; root {d}/www;",
        cert.display(),
        key.display()
    );
    // The server's own certificate stands in for the client CA it names.
    let ca = format!("ssl_client_certificate {};", cert.display());
    let conf = format!(
        "daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log; events {{}}\n\
         http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n\
         server {{ listen 127.0.0.1:{on} ssl; {tls} {ca} ssl_verify_client on; }}\n\
         server {{ listen 127.0.0.1:{optional} ssl; {tls} {ca} ssl_verify_client optional; }}\n\
         server {{ listen 127.0.0.1:{off} ssl; {tls} }} }}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
    let mut cmd = Command::new("nginx");
    cmd.arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"));
    let _srv = start(cmd, dir.clone(), on);
    crate::support::wait_for_port(off, 10);
    let v = why(&format!("https://localhost:{on}/"));
    let c = cause(&v, "tls-client-certificate").unwrap_or_else(|| panic!("{v}"));
    assert!(
        c["evidence"][0]
            .as_str()
            .unwrap_or_default()
            .contains("CN=localhost"),
        "{c}"
    );
    assert_eq!(v["verdict"], "problem", "{v}");
    for port in [optional, off] {
        let v = why(&format!("https://localhost:{port}/"));
        assert!(cause(&v, "tls-client-certificate").is_none(), "{v}");
    }
    // A server that ends the handshake without a certificate (OpenSSL's -Verify).
    let strict = unused_port();
    let mut cmd = Command::new("openssl");
    cmd.args(["s_server", "-quiet", "-www", "-Verify", "1", "-accept"])
        .arg(format!("127.0.0.1:{strict}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .arg("-CAfile")
        .arg(&cert);
    let _strict = start(cmd, tempdir("openssl-mtls"), strict);
    let v = why(&format!("127.0.0.1:{strict}"));
    let c = cause(&v, "tls-client-certificate").unwrap_or_else(|| panic!("{v}"));
    assert!(
        c["evidence"][1]
            .as_str()
            .unwrap_or_default()
            .contains("the handshake ended"),
        "{c}"
    );
}

/// nginx with TLS 1.0 only, and with TLS 1.2 and an old suite only: a modern handshake
/// fails, a second ClientHello that offers the old ones learns what it speaks, and
/// `tls-version` says so; nginx with its defaults raises nothing of the kind.
#[test]
fn nginx_with_old_tls_only() {
    if skip_unless(
        have("nginx") && have("openssl"),
        "needs nginx and openssl (apt-get install nginx)",
    ) {
        return;
    }
    let dir = tempdir("nginx-oldtls");
    std::fs::create_dir_all(dir.join("www")).expect("mkdir");
    std::fs::write(dir.join("www/index.html"), "<title>old</title>").expect("write");
    let (cert, key) = crate::support::self_signed(&dir);
    let (v10, old_suite, modern) = (unused_port(), unused_port(), unused_port());
    let d = dir.display();
    let tls = format!(
        "ssl_certificate {}; ssl_certificate_key {}; root {d}/www;",
        cert.display(),
        key.display()
    );
    let conf = format!(
        "daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log; events {{}}\n\
         http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n\
         server {{ listen 127.0.0.1:{v10} ssl; {tls} ssl_protocols TLSv1; ssl_ciphers DEFAULT:@SECLEVEL=0; }}\n\
         server {{ listen 127.0.0.1:{old_suite} ssl; {tls} ssl_protocols TLSv1.2; ssl_ciphers AES128-SHA; }}\n\
         server {{ listen 127.0.0.1:{modern} ssl; {tls} }} }}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
    let mut cmd = Command::new("nginx");
    cmd.arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"));
    let _srv = start(cmd, dir.clone(), v10);
    crate::support::wait_for_port(modern, 10);
    for (port, expect) in [
        (v10, "only TLSv1.0 with"),
        (old_suite, "only TLSv1.2 with TLS_RSA_WITH_AES_128_CBC_SHA"),
    ] {
        let v = why(&format!("127.0.0.1:{port}"));
        let c = cause(&v, "tls-version").unwrap_or_else(|| panic!("{v}"));
        assert!(
            c["summary"].as_str().unwrap_or_default().contains(expect),
            "{c}"
        );
        assert!(cause(&v, "no-response").is_none(), "said once: {v}");
        assert_eq!(v["verdict"], "problem", "{v}");
    }
    let v = why(&format!("127.0.0.1:{modern}"));
    assert!(cause(&v, "tls-version").is_none(), "{v}");
    assert!(v["service"]["tls"]["version"].is_string(), "{v}");
}
