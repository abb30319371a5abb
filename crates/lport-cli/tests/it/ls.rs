//! `lport ls`: states, families, exposure and owners of sockets this test opened.

use crate::support::{Sockets, at, lport, lport_json, owner_pids, stdout};

#[test]
fn listeners_of_every_kind_are_found_with_pid_state_and_exposure() {
    let s = Sockets::open(&[
        "listen@127.0.0.1",
        "listen@::1",
        "dual@::",
        "v6only@::",
        "udp@127.0.0.1",
        "bound@127.0.0.1",
        "listen@0.0.0.0",
    ]);
    let doc = lport_json(&[]);
    let expect = [
        // (socket, state, exposure, v6only)
        (0, "listen", "loopback", None),
        (1, "listen", "loopback", Some(true)),
        (2, "listen", "all-interfaces", Some(false)),
        (3, "listen", "all-interfaces", Some(true)),
        (4, "unconn", "loopback", None),
        (5, "bound", "loopback", None),
        (6, "listen", "all-interfaces", None),
    ];
    for (i, state, exposure, v6only) in expect {
        let o = &s.sockets[i];
        let found = at(&doc, &o.host, o.port);
        assert_eq!(found.len(), 1, "{}: {found:?}", o.kind);
        let sock = &found[0];
        assert_eq!(sock["state"], state, "{}", o.kind);
        assert_eq!(sock["exposure"], exposure, "{}", o.kind);
        assert_eq!(owner_pids(sock), vec![s.pid], "{}", o.kind);
        assert_eq!(sock["owners"][0]["fd"], o.fd, "{}", o.kind);
        assert_eq!(sock["owner_note"], serde_json::Value::Null);
        assert_eq!(sock["netns"]["host"], true);
        if i != 1 {
            assert_eq!(sock["v6only"].as_bool(), v6only, "{}", o.kind);
        }
    }
    // [::1] is IPv6-only by nature; whatever the flag says it must be an IPv6 socket.
    assert_eq!(at(&doc, "::1", s.port(1))[0]["proto"], "tcp");
    // Listener states only by default: a bound UDP socket counts, established ones do not.
    assert!(
        doc["sockets"].as_array().expect("sockets").iter().all(|x| {
            ["listen", "bound", "unconn"].contains(&x["state"].as_str().expect("state"))
        })
    );
    let p = doc["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["pid"] == s.pid)
        .expect("the helper's process is listed");
    assert_eq!(p["name"], "python3");
    assert!(p["cmdline"][0].as_str().expect("argv0").contains("python3"));
    assert_eq!(p["uid"], u64::from(rustix::process::geteuid().as_raw()));
    assert!(p["start_time"].as_str().expect("start").ends_with('Z'));
    for key in ["exe", "uid", "state", "ppid", "unit", "container"] {
        assert!(
            p.get(key).is_some(),
            "process field {key} present (null allowed)"
        );
    }
}

#[test]
fn all_states_include_both_ends_of_a_connection() {
    let s = Sockets::open(&["conn@127.0.0.1"]);
    let port = s.port(0);
    let client = s.sockets[0].client_port.expect("client port");
    let doc = lport_json(&["-a", "-t"]);
    let server_side = at(&doc, "127.0.0.1", port);
    let states: Vec<&str> = server_side
        .iter()
        .map(|x| x["state"].as_str().expect("state"))
        .collect();
    assert!(
        states.contains(&"listen") && states.contains(&"established"),
        "{states:?}"
    );
    // The kernel reuses a source port for connections to other peers, so the peer makes
    // the match exact.
    let client_side: Vec<_> = at(&doc, "127.0.0.1", client)
        .into_iter()
        .filter(|x| x["remote"]["port"] == u64::from(port))
        .collect();
    assert_eq!(client_side.len(), 1, "{client_side:?}");
    assert_eq!(client_side[0]["state"], "established");
    assert_eq!(client_side[0]["remote"]["addr"], "127.0.0.1");
    assert_eq!(owner_pids(&client_side[0]), vec![s.pid]);
}

#[test]
fn a_prefork_listener_lists_parent_and_child() {
    let s = Sockets::open(&["listen@127.0.0.1", "--fork"]);
    let child = s.fork_pid.expect("forked");
    let doc = lport_json(&[&s.port(0).to_string()]);
    let found = at(&doc, "127.0.0.1", s.port(0));
    assert_eq!(found.len(), 1);
    let mut want = vec![s.pid, child];
    want.sort_unstable();
    assert_eq!(owner_pids(&found[0]), want);
    let pids: Vec<u64> = doc["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .map(|p| p["pid"].as_u64().expect("pid"))
        .collect();
    assert!(pids.contains(&u64::from(s.pid)) && pids.contains(&u64::from(child)));
    // The table names both holders.
    let table = stdout(&lport(&[&s.port(0).to_string()]));
    assert!(
        table.contains(&s.pid.to_string()) && table.contains(&child.to_string()),
        "{table}"
    );
}

#[test]
fn filters_select_by_target_family_protocol_pid_name_user_state_exposure() {
    let s = Sockets::open(&[
        "listen@127.0.0.1",
        "listen@::1",
        "udp@127.0.0.1",
        "listen@0.0.0.0",
    ]);
    let other = Sockets::open(&["listen@127.0.0.1"]);
    let ports = |args: &[&str]| -> Vec<u16> {
        let doc = lport_json(args);
        let mut p: Vec<u16> = doc["sockets"]
            .as_array()
            .expect("sockets")
            .iter()
            .map(|x| x["local"]["port"].as_u64().expect("port") as u16)
            .collect();
        p.sort_unstable();
        p
    };
    let mine = s.pid.to_string();
    let sorted = |mut v: Vec<u16>| {
        v.sort_unstable();
        v
    };
    assert_eq!(
        ports(&["--pid", &mine]),
        sorted(s.sockets.iter().map(|o| o.port).collect())
    );
    assert_eq!(
        ports(&["--pid", &mine, "-4", "-t"]),
        sorted(vec![s.port(0), s.port(3)])
    );
    assert_eq!(ports(&["--pid", &mine, "-6"]), vec![s.port(1)]);
    assert_eq!(ports(&["--pid", &mine, "-u"]), vec![s.port(2)]);
    assert_eq!(ports(&["--pid", &mine, "--exposed"]), vec![s.port(3)]);
    assert_eq!(
        ports(&["--pid", &mine, "--state", "unconn"]),
        vec![s.port(2)]
    );
    // Other processes on this machine may hold the same port numbers on other addresses,
    // so target checks are limited to this test's two processes.
    let both = format!("{mine},{}", other.pid);
    let t = |target: String| ports(&["--pid", &both, &target]);
    assert_eq!(t(format!("127.0.0.1:{}", s.port(0))), vec![s.port(0)]);
    assert_eq!(t(format!("[::1]:{}", s.port(1))), vec![s.port(1)]);
    assert_eq!(t(format!(":{}", other.port(0))), vec![other.port(0)]);
    assert_eq!(t(format!("udp/{}", s.port(2))), vec![s.port(2)]);
    assert!(t(format!("tcp/{}", s.port(2))).is_empty());
    // 127.0.0.1 also reaches the 0.0.0.0 listener; 127.0.0.2 reaches only that one.
    assert_eq!(t(format!("127.0.0.2:{}", s.port(3))), vec![s.port(3)]);
    assert!(t(format!("127.0.0.2:{}", s.port(0))).is_empty());
    let by_name = ports(&[
        "--process",
        "python",
        "--user",
        "root",
        "--pid",
        &other.pid.to_string(),
    ]);
    assert_eq!(by_name, vec![other.port(0)]);
    assert!(ports(&["--process", "no-such-program", "--pid", &mine]).is_empty());
}

#[test]
fn nothing_matched_exits_1_and_says_so() {
    let port = crate::support::unused_port();
    let out = lport(&[&port.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(crate::support::stderr(&out).contains("nothing matched"));
}

#[test]
fn the_proc_net_fallback_still_finds_sockets_and_says_so() {
    let s = Sockets::open(&["listen@127.0.0.1", "udp@::1"]);
    let out = std::process::Command::new(crate::support::bin())
        .args(["--json", "--pid", &s.pid.to_string()])
        .env("LPORT_FORCE_PROC_NET", "1")
        .output()
        .expect("run");
    let doc = crate::support::json_of(&out);
    assert!(
        doc["notes"][0]
            .as_str()
            .expect("note")
            .contains("read /proc/net instead"),
        "{doc}"
    );
    for i in 0..2 {
        let found = at(&doc, &s.sockets[i].host, s.port(i));
        assert_eq!(found.len(), 1, "{i}");
        assert_eq!(owner_pids(&found[0]), vec![s.pid]);
    }
    assert_eq!(at(&doc, "::1", s.port(1))[0]["proto"], "udp");
}

#[test]
fn a_docker_proxy_owner_names_the_container_address_it_forwards_to() {
    // A stand-in with the real program's name and arguments: comm of a script is its file
    // name. (No Docker engine runs on these machines.)
    let dir = tempdir();
    let path = dir.join("docker-proxy");
    std::fs::write(
        &path,
        format!(
            "#!{}\nimport socket, sys\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\nprint(s.getsockname()[1], flush=True)\nsys.stdin.read()\n",
            crate::support::python()
        ),
    )
    .expect("write");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut child = std::process::Command::new(&path)
        .args([
            "-proto",
            "tcp",
            "-host-ip",
            "127.0.0.1",
            "-host-port",
            "0",
            "-container-ip",
            "172.17.0.2",
            "-container-port",
            "80",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("read");
    let port: u16 = line.trim().parse().expect("port");
    let doc = lport_json(&[&port.to_string()]);
    let pid = child.id();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(owner_pids(&at(&doc, "127.0.0.1", port)[0]), vec![pid]);
    let p = doc["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["pid"] == pid)
        .expect("the proxy is listed");
    assert_eq!(p["name"], "docker-proxy");
    assert_eq!(p["container"], "172.17.0.2:80");
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "lport-it-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

/// A server and, in another process, a client connected to it.
const PAIR: &str = r#"
import os, socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4)
parent = os.getpid()
if os.fork() == 0:
    c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    # Ends with its parent (killed by the test).
    while os.getppid() == parent:
        time.sleep(0.1)
    os._exit(0)
a, _ = s.accept()
print("ready", flush=True)
time.sleep(60)
"#;

/// `lport -a :P` showed only the server's side of a local connection; the README promises
/// every connection on the port: the client's socket, with its process, too (as
/// `ss '( sport = :P or dport = :P )'` shows both), in `ls -a` and `who`.
#[test]
fn both_ends_of_a_local_connection_are_listed() {
    use std::io::BufRead as _;
    let port = crate::support::unused_port();
    let mut pair = std::process::Command::new(crate::support::python())
        .args(["-c", PAIR, &port.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    let out = pair.stdout.take().expect("stdout");
    let pair = crate::support::Proc(pair);
    let mut line = String::new();
    std::io::BufReader::new(out)
        .read_line(&mut line)
        .expect("ready");
    assert_eq!(line.trim(), "ready");
    let server = pair.0.id();
    let doc = lport_json(&["-a", &format!(":{port}")]);
    let sockets = doc["sockets"].as_array().expect("sockets");
    let client: Vec<_> = sockets
        .iter()
        .filter(|s| s["remote"]["port"] == port && s["local"]["port"] != port)
        .collect();
    assert_eq!(client.len(), 1, "the client's end: {doc}");
    let client_pid = owner_pids(client[0]);
    assert!(
        client_pid.len() == 1 && client_pid[0] != server,
        "held by the client process: {doc}"
    );
    assert!(
        sockets
            .iter()
            .any(|s| s["local"]["port"] == port && s["state"] == "established")
    );
    // Listeners only: the server alone.
    let doc = lport_json(&[&format!(":{port}")]);
    assert_eq!(doc["sockets"].as_array().map(Vec::len), Some(1), "{doc}");
    // `who` shows both ends too.
    let doc = lport_json(&["who", &port.to_string()]);
    let who = doc["sockets"].as_array().expect("sockets");
    assert!(who.iter().any(|s| s["remote"]["port"] == port), "{doc}");
    // The same sockets as ss's "sport or dport".
    let ss = std::process::Command::new("ss")
        .args(["-tanH", &format!("( sport = :{port} or dport = :{port} )")])
        .output()
        .expect("ss");
    let ss_rows = String::from_utf8_lossy(&ss.stdout).lines().count();
    assert_eq!(
        sockets.len(),
        ss_rows,
        "ss: {}",
        String::from_utf8_lossy(&ss.stdout)
    );
}

/// Holds N listeners on 127.0.0.1 and prints "ready".
const MANY: &str = r#"
import socket, sys, time
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1); held.append(s)
print("ready", flush=True)
time.sleep(30)
"#;

/// A first `lport` on a busy machine printed 40,003 lines and no summary. On a terminal, a
/// process with many sockets shows three and a count, and a last line counts everything;
/// `--expand` and pipes get every row.
#[test]
fn a_terminal_folds_a_process_with_many_sockets() {
    use std::io::BufRead as _;
    let mut holder = std::process::Command::new(crate::support::python())
        .args(["-c", MANY, "20"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    let out = holder.stdout.take().expect("stdout");
    let holder = crate::support::Proc(holder);
    let mut line = String::new();
    std::io::BufReader::new(out)
        .read_line(&mut line)
        .expect("ready");
    let pid = holder.0.id().to_string();
    let text = crate::support::strip_sgr(&crate::support::on_terminal(&["--pid", &pid], 120, 2.0));
    let rows = text.lines().filter(|l| l.starts_with("tcp ")).count();
    assert_eq!(rows, 3, "{text}");
    assert!(
        text.contains(&format!(
            "… 17 more sockets of python3 ({pid}): lport ls --pid {pid} --expand"
        )),
        "{text}"
    );
    assert!(
        text.contains("20 sockets, 1 process (3 shown; --expand shows every row)"),
        "{text}"
    );
    let text = crate::support::strip_sgr(&crate::support::on_terminal(
        &["--pid", &pid, "--expand"],
        120,
        2.0,
    ));
    let rows = text.lines().filter(|l| l.starts_with("tcp ")).count();
    assert_eq!(rows, 20, "{text}");
    assert!(text.contains("20 sockets, 1 process"), "{text}");
    // A pipe: every row, nothing else.
    let piped = stdout(&lport(&["--pid", &pid]));
    assert_eq!(piped.lines().count(), 21, "{piped}");
}
