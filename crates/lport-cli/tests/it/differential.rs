//! Differential test against `ss` on the benchmark workload (`scripts/sockload.py`):
//! the same (proto, local address, port, state, pids) for every socket its processes hold.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command};

use serde_json::Value;

use crate::support::{have, lport_json, python, skip_unless};

/// (proto, local address, local port, state, remote, pids).
type Row = (String, String, u16, String, String, Vec<u32>);

struct Workload {
    child: Child,
    dir: PathBuf,
    pids: HashSet<u32>,
    listeners: usize,
}

impl Drop for Workload {
    fn drop(&mut self) {
        // SIGTERM lets sockload stop its children; SIGKILL after that if it is still there.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..50 {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for p in &self.pids {
            let _ = Command::new("kill")
                .args(["-9", &p.to_string()])
                .stderr(std::process::Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn sockload_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/sockload.py")
}

fn start_workload() -> Workload {
    let dir = std::env::temp_dir().join(format!("lport-sockload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let ready = dir.join("ready");
    let manifest = dir.join("manifest.jsonl");
    let child = Command::new(python())
        .arg(sockload_path())
        .args([
            "--procs", "20", "--listen", "10", "--conns", "20", "--udp", "3", "--files", "5",
        ])
        .arg("--ready")
        .arg(&ready)
        .arg("--manifest")
        .arg(&manifest)
        .spawn()
        .expect("start sockload.py");
    let mut w = Workload {
        child,
        dir,
        pids: HashSet::new(),
        listeners: 0,
    };
    for _ in 0..600 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ready.exists(), "sockload did not become ready");
    for line in std::fs::read_to_string(&manifest)
        .expect("manifest")
        .lines()
    {
        let v: Value = serde_json::from_str(line).expect("manifest line");
        w.pids.insert(v["pid"].as_u64().expect("pid") as u32);
        w.listeners += v["listeners"].as_array().expect("listeners").len();
    }
    w
}

/// Normalises an address: no brackets, no `%iface`, and every wildcard spelled `*`.
fn norm_addr(a: &str) -> String {
    let a = a.trim_start_matches('[').trim_end_matches(']');
    let a = a.split('%').next().unwrap_or(a);
    if matches!(a, "*" | "0.0.0.0" | "::") {
        "*".to_owned()
    } else {
        a.to_owned()
    }
}

fn lport_rows(doc: &Value, pids: &HashSet<u32>) -> BTreeSet<Row> {
    doc["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .filter_map(|s| {
            let mut owners: Vec<u32> = s["owners"]
                .as_array()?
                .iter()
                .filter_map(|o| o["pid"].as_u64().map(|p| p as u32))
                .collect();
            owners.sort_unstable();
            owners.dedup();
            if owners.is_empty() || !owners.iter().all(|p| pids.contains(p)) {
                return None;
            }
            Some((
                s["proto"].as_str()?.to_owned(),
                norm_addr(s["local"]["addr"].as_str()?),
                s["local"]["port"].as_u64()? as u16,
                s["state"].as_str()?.to_owned(),
                match &s["remote"] {
                    Value::Null => "*".to_owned(),
                    r => format!("{}:{}", norm_addr(r["addr"].as_str()?), r["port"]),
                },
                owners,
            ))
        })
        .collect()
}

/// Parses `ss -H -n -p` lines: `[netid] state recv-q send-q local peer users:((...))`.
fn ss_rows(text: &str, with_netid: bool, pids: &HashSet<u32>) -> BTreeSet<Row> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (proto, rest) = if with_netid {
                (f.first()?.to_string(), &f[1..])
            } else {
                ("tcp".to_owned(), &f[..])
            };
            let state = match *rest.first()? {
                "LISTEN" => "listen",
                "UNCONN" => "unconn",
                "ESTAB" => "established",
                "TIME-WAIT" => "time-wait",
                "SYN-SENT" => "syn-sent",
                "SYN-RECV" => "syn-recv",
                "FIN-WAIT-1" => "fin-wait1",
                "FIN-WAIT-2" => "fin-wait2",
                "CLOSE-WAIT" => "close-wait",
                "LAST-ACK" => "last-ack",
                "CLOSING" => "closing",
                other => other,
            };
            let local = rest.get(3)?;
            let (addr, port) = local.rsplit_once(':')?;
            let users = line.split("users:").nth(1).unwrap_or("");
            let mut owners: Vec<u32> = users
                .split("pid=")
                .skip(1)
                .filter_map(|p| p.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
                .collect();
            owners.sort_unstable();
            owners.dedup();
            if owners.is_empty() || !owners.iter().all(|p| pids.contains(p)) {
                return None;
            }
            let peer = rest.get(4)?;
            let remote = match peer.rsplit_once(':') {
                Some((_, "*")) | None => "*".to_owned(),
                Some((a, p)) => format!("{}:{p}", norm_addr(a)),
            };
            Some((
                proto,
                norm_addr(addr),
                port.parse().ok()?,
                state.to_owned(),
                remote,
                owners,
            ))
        })
        .collect()
}

fn ss(args: &[&str]) -> String {
    let out = Command::new("ss").args(args).output().expect("run ss");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn lport_and_ss_agree_on_the_benchmark_workload() {
    if skip_unless(have("ss"), "needs ss (iproute2) to compare against") {
        return;
    }
    if skip_unless(sockload_path().exists(), "needs scripts/sockload.py") {
        return;
    }
    let w = start_workload();

    let ours = lport_rows(&lport_json(&[]), &w.pids);
    let theirs = ss_rows(&ss(&["-ltnupH"]), true, &w.pids);
    assert_eq!(
        ours.len(),
        w.listeners,
        "every listener in the manifest is found"
    );
    assert_eq!(
        ours.difference(&theirs).collect::<Vec<_>>(),
        Vec::<&Row>::new(),
        "lport ls has sockets ss -ltnupH lacks"
    );
    assert_eq!(
        theirs.difference(&ours).collect::<Vec<_>>(),
        Vec::<&Row>::new(),
        "ss -ltnupH has sockets lport ls lacks"
    );

    let ours = lport_rows(&lport_json(&["-a", "-t"]), &w.pids);
    let theirs = ss_rows(&ss(&["-tanpH"]), false, &w.pids);
    assert!(
        ours.len() > 20 * 20 * 2,
        "established pairs are there: {}",
        ours.len()
    );
    assert_eq!(
        ours.difference(&theirs).collect::<Vec<_>>(),
        Vec::<&Row>::new()
    );
    assert_eq!(
        theirs.difference(&ours).collect::<Vec<_>>(),
        Vec::<&Row>::new()
    );
}
