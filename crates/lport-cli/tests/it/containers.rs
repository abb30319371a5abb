//! Containers for real: a Docker engine of the test's own (`dockerd` on a socket in a temp
//! dir, published ports on loopback only, no iptables rules), an image made offline from
//! busybox-static, and the container named by lport through the engine's API.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{bin, have, is_root, skip_unless, unused_port};

/// A `dockerd` of the test's own; on drop its containers, image, daemon, bridge and
/// directory go (also when the test fails).
struct Engine {
    daemon: Child,
    dir: PathBuf,
    socket: PathBuf,
    bridge: String,
}

impl Engine {
    fn start() -> Engine {
        let dir = std::env::temp_dir().join(format!("lport-it-docker-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let socket = dir.join("docker.sock");
        let bridge = format!("lpd{}", std::process::id() % 100_000);
        let ok = Command::new("ip")
            .args(["link", "add", &bridge, "type", "bridge"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "a bridge for the engine");
        let _ = Command::new("ip")
            .args(["addr", "add", "10.213.77.1/24", "dev", &bridge])
            .status();
        let _ = Command::new("ip")
            .args(["link", "set", &bridge, "up"])
            .status();
        let daemon = Command::new("dockerd")
            .arg(format!("--host=unix://{}", socket.display()))
            .arg(format!("--data-root={}", dir.join("data").display()))
            .arg(format!("--exec-root={}", dir.join("exec").display()))
            .arg(format!("--pidfile={}", dir.join("docker.pid").display()))
            .arg(format!("--bridge={bridge}"))
            .args([
                "--ip=127.0.0.1",
                "--iptables=false",
                "--ip-forward=false",
                "--ip-masq=false",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("dockerd.log")).expect("log"),
            ))
            .spawn()
            .expect("dockerd");
        let engine = Engine {
            daemon,
            dir,
            socket,
            bridge,
        };
        let out = Command::new(bin())
            .args(["wait", "-q", "--timeout", "60s"])
            .arg(format!("unix:{}", engine.socket.display()))
            .output()
            .expect("lport wait");
        assert!(out.status.success(), "dockerd never listened");
        engine
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .output()
            .expect("docker")
    }

    /// An image holding busybox-static, made offline with `docker import`.
    fn import_busybox(&self, tag: &str) {
        let root = self.dir.join("rootfs");
        std::fs::create_dir_all(root.join("bin")).expect("mkdir");
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox");
        for applet in ["sh", "httpd", "sleep"] {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
        }
        let tar = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .args(["-c", "."])
            .output()
            .expect("tar");
        let mut import = Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(["import", "-", tag])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("docker import");
        import
            .stdin
            .take()
            .expect("stdin")
            .write_all(&tar.stdout)
            .expect("write the rootfs");
        assert!(import.wait().is_ok_and(|s| s.success()), "docker import");
    }

    /// `docker run -d` of busybox's httpd on 8080 inside, published on 127.0.0.1:`port`.
    fn run_httpd(&self, name: &str, image: &str, port: u16, extra: &[&str]) {
        let publish = format!("127.0.0.1:{port}:8080");
        let mut args = vec!["run", "-d", "--name", name, "-p", &publish];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[image, "/bin/httpd", "-f", "-p", "8080", "-h", "/"]);
        let run = self.docker(&args);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        crate::support::wait_for_port(port, 30);
    }

    fn lport(&self, args: &[&str]) -> std::process::Output {
        Command::new(bin())
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .output()
            .expect("lport")
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let _ = self.docker(&["image", "prune", "-af"]);
        let _ = Command::new("kill")
            .args(["-TERM", &self.daemon.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.daemon.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        // The containerd it started, if it outlived it.
        let _ = Command::new("pkill")
            .args(["-f", &self.dir.display().to_string()])
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
        let _ = Command::new("umount")
            .args(["-R", "-l"])
            .arg(self.dir.join("exec"))
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A published port is held by docker-proxy: `ls` names the container behind it (name,
/// image, engine) from the engine's API. Once the container is stopped, `why` says which
/// container publishes the port, how it ended and `docker start NAME`.
#[test]
fn a_published_container_is_named_and_its_stop_explained() {
    if skip_unless(
        is_root() && have("dockerd") && have("docker") && Path::new("/bin/busybox").exists(),
        "needs root, docker.io and busybox-static (apt-get install docker.io busybox-static)",
    ) {
        return;
    }
    let engine = Engine::start();
    let tag = format!("lport-it-busybox:{}", std::process::id());
    engine.import_busybox(&tag);
    let port = unused_port();
    let name = format!("lport-it-web-{}", std::process::id());
    engine.run_httpd(&name, &tag, port, &[]);
    let doc = json(&engine.lport(&["ls", "--json", &format!(":{port}")]));
    let proxy = doc["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["name"] == "docker-proxy")
        .unwrap_or_else(|| panic!("docker-proxy holds it: {doc}"));
    assert_eq!(proxy["container_info"]["name"], name.as_str(), "{doc}");
    assert_eq!(proxy["container_info"]["image"], tag.as_str(), "{doc}");
    assert_eq!(proxy["container_info"]["engine"], "docker", "{doc}");
    let table = String::from_utf8_lossy(&engine.lport(&[&format!(":{port}")]).stdout).into_owned();
    assert!(table.contains(&format!("-> {name} (")), "{table}");
    let stop = engine.docker(&["stop", "-t", "1", &name]);
    assert!(stop.status.success());
    let v = json(&engine.lport(&["why", "--json", &format!("127.0.0.1:{port}")]));
    let c = crate::support::cause(&v, "container-stopped").unwrap_or_else(|| panic!("{v}"));
    assert!(
        c["summary"].as_str().unwrap_or_default().contains(&name),
        "{c}"
    );
    assert!(
        c["evidence"].to_string().contains("exited with code"),
        "{c}"
    );
    assert!(
        c["fix"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("docker start {name}")),
        "{c}"
    );
    assert!(
        crate::support::cause(&v, "nothing-listening").is_none(),
        "{v}"
    );
    // `kill` on a published port stops the container through its engine, not the proxy
    // (which would leave the container running, unpublished).
    let port2 = unused_port();
    let name2 = format!("{name}-2");
    engine.run_httpd(&name2, &tag, port2, &["--stop-timeout", "1"]);
    let out = engine.lport(&["kill", "--yes", &format!(":{port2}")]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("stop container {name2} (docker stop {name2})")),
        "{text}"
    );
    let state = engine.docker(&["inspect", "-f", "{{.State.Status}}", &name2]);
    assert_eq!(String::from_utf8_lossy(&state.stdout).trim(), "exited");
    std::net::TcpListener::bind(("127.0.0.1", port2)).expect("the port is free again");
}
