//! `lport exporter` scraped by a real Prometheus started with a temporary configuration,
//! and its output checked by `promtool check metrics`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Sockets, bin, have, skip_unless, unused_port};

struct Killed(Child, Option<std::path::PathBuf>);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if let Some(d) = &self.1 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn start_exporter() -> (Killed, String) {
    let port = unused_port();
    let mut child = Command::new(bin())
        .args(["exporter", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn exporter");
    let mut url = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut url)
        .expect("url");
    (Killed(child, None), url.trim().to_owned())
}

fn curl(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", url])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn promtool_accepts_the_metrics() {
    if skip_unless(
        have("promtool") && have("curl"),
        "needs promtool (apt-get install prometheus) and curl",
    ) {
        return;
    }
    let s = Sockets::open(&["listen@127.0.0.1", "listen@0.0.0.0"]);
    let (_exp, url) = start_exporter();
    let text = curl(&url);
    assert!(text.contains(&format!("port=\"{}\"", s.port(0))), "{text}");
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    check
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = check.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let exposed = text
        .lines()
        .find_map(|l| l.strip_prefix("lport_exposed_listeners "))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("exposed gauge");
    assert!(exposed >= 1, "the 0.0.0.0 listener counts: {text}");
}

#[test]
fn prometheus_scrapes_a_listener_the_test_started() {
    if skip_unless(
        have("prometheus") && have("curl"),
        "needs prometheus (apt-get install prometheus) and curl",
    ) {
        return;
    }
    let s = Sockets::open(&["listen@127.0.0.1"]);
    let (_exp, url) = start_exporter();
    let target = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_owned();
    let dir = std::env::temp_dir().join(format!("lport-it-prom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("prometheus.yml"),
        format!("global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\nscrape_configs:\n  - job_name: lport\n    static_configs:\n      - targets: ['{target}']\n"),
    )
    .expect("config");
    // The web port is picked free and then handed over, so another test can take it in
    // between: a Prometheus that exits at once is started again on another port.
    let (web, prom) = (0..3)
        .find_map(|_| {
            let web = unused_port();
            let mut child = Command::new("prometheus")
                .arg(format!(
                    "--config.file={}",
                    dir.join("prometheus.yml").display()
                ))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{web}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn prometheus");
            std::thread::sleep(Duration::from_millis(500));
            match child.try_wait() {
                Ok(None) => Some((web, child)),
                _ => None,
            }
        })
        .expect("prometheus keeps running");
    let mut prom = Killed(prom, Some(dir.clone()));
    let query = format!(
        "http://127.0.0.1:{web}/api/v1/query?query=lport_listener_info%7Bport%3D%22{}%22%7D",
        s.port(0)
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        assert!(matches!(prom.0.try_wait(), Ok(None)), "prometheus exited");
        last = curl(&query);
        if let Ok(v) = serde_json::from_str::<Value>(&last)
            && let Some(r) = v["data"]["result"].as_array().and_then(|r| r.first())
        {
            assert_eq!(r["metric"]["process"], "python3", "{v}");
            assert_eq!(r["metric"]["exposure"], "loopback", "{v}");
            assert_eq!(r["metric"]["job"], "lport", "{v}");
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // Why: Prometheus's own view of the target (its last scrape's error, its duration).
    let targets = curl(&format!("http://127.0.0.1:{web}/api/v1/targets"));
    panic!("Prometheus never returned the listener: {last}\ntargets: {targets}");
}

#[test]
fn the_documented_alert_rules_are_valid() {
    if skip_unless(
        have("promtool"),
        "needs promtool (apt-get install prometheus)",
    ) {
        return;
    }
    let rules = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/prometheus/lport-alerts.yml");
    let out = Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
        .expect("promtool");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS: 2 rules found"));
}
