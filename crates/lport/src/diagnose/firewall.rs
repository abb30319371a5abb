//! Firewall rules that can drop or reject a connection to a port: nftables on Linux, from
//! `nft -j list ruleset` (iptables-nft rules appear there too), and pf on macOS, from
//! `pfctl -vsr` (with each rule's packet counter). The parsers are pure; the platform layer
//! runs the program (as root; skipped quietly without it) and hands over its output.

use serde_json::Value;

/// Which firewall a rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FwTool {
    /// Linux nftables (and iptables-nft).
    Nft,
    /// The BSD packet filter, on macOS.
    Pf,
}

impl FwTool {
    /// Its name, as users know it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            FwTool::Nft => "nft",
            FwTool::Pf => "pf",
        }
    }
}

/// What the platform layer read of the firewall, for the parsers here.
#[derive(Debug, Clone, PartialEq)]
pub enum Dump {
    /// `nft -j list ruleset`.
    Nft(Value),
    /// `pfctl -vsr` (all anchors), when pf is enabled.
    Pf(String),
}

/// The rules of a dump that apply to `port`.
#[must_use]
pub fn rules_in(dump: &Dump, port: u16) -> Vec<FwRule> {
    match dump {
        Dump::Nft(v) => rules_for_port(v, port),
        Dump::Pf(text) => pf_rules_for_port(text, port),
    }
}

/// A rule that drops or rejects traffic to the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwRule {
    /// The firewall it belongs to.
    pub tool: FwTool,
    /// `inet t input handle 2`.
    pub place: String,
    /// `drop` or `reject` (with its type).
    pub verdict: String,
    /// What the rule matches, as nft would print it, roughly.
    pub matches: Vec<String>,
    /// Packets counted by the rule's counter, if it has one.
    pub packets: Option<u64>,
    /// The chain's hook (`input`, `output`, ...).
    pub hook: Option<String>,
}

impl FwRule {
    /// True for drop rules (a drop makes clients time out; a reject refuses them).
    #[must_use]
    pub fn is_drop(&self) -> bool {
        self.verdict == "drop"
    }
}

/// Whether an nft JSON value (a number, a set, a range) contains `port`.
fn covers(v: &Value, port: u16) -> bool {
    match v {
        Value::Number(n) => n.as_u64() == Some(u64::from(port)),
        Value::Object(o) => {
            if let Some(set) = o.get("set").and_then(Value::as_array) {
                return set.iter().any(|e| covers(e, port));
            }
            if let Some([lo, hi]) = o.get("range").and_then(Value::as_array).map(Vec::as_slice) {
                let p = u64::from(port);
                return lo.as_u64().is_some_and(|l| l <= p) && hi.as_u64().is_some_and(|h| p <= h);
            }
            false
        }
        Value::Array(a) => a.iter().any(|e| covers(e, port)),
        _ => false,
    }
}

/// Finds the drop/reject rules in input/output chains that apply to TCP `port` on
/// loopback: rules matching that destination port (or source port, for output), or rules
/// that match only the loopback interface.
#[must_use]
pub fn rules_for_port(ruleset: &Value, port: u16) -> Vec<FwRule> {
    let items = ruleset["nftables"].as_array().cloned().unwrap_or_default();
    let hook_of = |family: &str, table: &str, chain: &str| {
        items.iter().find_map(|i| {
            let c = i.get("chain")?;
            (c["family"] == family && c["table"] == table && c["name"] == chain)
                .then(|| c["hook"].as_str().map(str::to_owned))
                .flatten()
        })
    };
    let mut out = Vec::new();
    for item in &items {
        let Some(rule) = item.get("rule") else {
            continue;
        };
        let exprs = rule["expr"].as_array().cloned().unwrap_or_default();
        let verdict = exprs.iter().find_map(|e| {
            if e.get("drop").is_some() {
                Some("drop".to_owned())
            } else {
                e.get("reject")
                    .map(|r| match r.get("type").and_then(Value::as_str) {
                        Some(t) => format!("reject with {t}"),
                        None => "reject".to_owned(),
                    })
            }
        });
        let Some(verdict) = verdict else { continue };
        let mut matches = Vec::new();
        let mut port_match = None;
        let mut other_field = false;
        for e in &exprs {
            let Some(m) = e.get("match") else { continue };
            let left = &m["left"];
            let right = &m["right"];
            if let Some(p) = left.get("payload") {
                let field = p["field"].as_str().unwrap_or("");
                let proto = p["protocol"].as_str().unwrap_or("");
                if proto == "tcp" && (field == "dport" || field == "sport") {
                    let hit = covers(right, port) == (m["op"] != "!=");
                    port_match = Some(port_match.unwrap_or(true) && hit);
                    matches.push(format!("tcp {field} {right}"));
                } else {
                    other_field = true;
                    matches.push(format!("{proto} {field} {right}"));
                }
            } else if let Some(meta) = left.get("meta") {
                let key = meta["key"].as_str().unwrap_or("");
                if matches!(key, "iif" | "iifname" | "oif" | "oifname") {
                    let lo = right.as_str() == Some("lo");
                    if !lo {
                        other_field = true;
                    }
                    matches.push(format!("{key} {}", right.as_str().unwrap_or("?")));
                } else {
                    matches.push(format!("meta {key} {right}"));
                }
            } else {
                other_field = true;
            }
        }
        // A rule that names the port, or one that drops everything on loopback.
        let applies = match port_match {
            Some(hit) => hit,
            None => !other_field && matches.iter().any(|m| m.ends_with(" lo")),
        };
        if !applies {
            continue;
        }
        let family = rule["family"].as_str().unwrap_or("");
        let table = rule["table"].as_str().unwrap_or("");
        let chain = rule["chain"].as_str().unwrap_or("");
        let hook = hook_of(family, table, chain);
        if !matches!(hook.as_deref(), Some("input" | "output") | None) {
            continue;
        }
        out.push(FwRule {
            tool: FwTool::Nft,
            place: format!("{family} {table} {chain} handle {}", rule["handle"]),
            verdict,
            matches,
            packets: exprs
                .iter()
                .find_map(|e| e.get("counter")?.get("packets")?.as_u64()),
            hook,
        });
    }
    out
}

/// Whether a pf port clause (`port = 3000`, `port 3000`, `port { 80 3000 }`,
/// `port 3000:3010`, `port 1000 >< 2000`, `port != 22`, `port > 1023`) covers `port`; `None`
/// for a clause not understood.
fn pf_port_covers(clause: &[&str], port: u16) -> Option<bool> {
    let num = |s: &str| s.trim_matches(',').parse::<u32>().ok();
    let p = u32::from(port);
    match clause {
        ["{", rest @ ..] => {
            let items: Vec<&str> = rest.iter().take_while(|t| **t != "}").copied().collect();
            Some(
                items
                    .iter()
                    .any(|t| pf_port_covers(&[t], port) == Some(true)),
            )
        }
        [op @ ("=" | "!=" | "<" | "<=" | ">" | ">="), n, ..] => {
            let n = num(n)?;
            Some(match *op {
                "=" => p == n,
                "!=" => p != n,
                "<" => p < n,
                "<=" => p <= n,
                ">" => p > n,
                _ => p >= n,
            })
        }
        [a, op @ ("><" | "<>"), b, ..] => {
            let (a, b) = (num(a)?, num(b)?);
            Some(if *op == "><" {
                a < p && p < b
            } else {
                p < a || p > b
            })
        }
        [range, ..] if range.contains(':') => {
            let (a, b) = range.split_once(':')?;
            Some(num(a)? <= p && p <= num(b)?)
        }
        [n, ..] => Some(num(n)? == p),
        [] => None,
    }
}

/// The `block` rules of `pfctl -vsr` output that apply to TCP `port` over loopback: rules
/// whose `to ... port` covers it, or that name `lo0` and no port. Each rule line is followed
/// by its counters (`[ Evaluations: 12  Packets: 4 ... ]`).
#[must_use]
pub fn pf_rules_for_port(text: &str, port: u16) -> Vec<FwRule> {
    let mut out = Vec::new();
    let mut anchor = String::new();
    let mut number = 0usize;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if let Some(a) = t
            .strip_prefix("anchor \"")
            .and_then(|r| r.split('"').next())
        {
            a.clone_into(&mut anchor);
            continue;
        }
        if t.is_empty() || t.starts_with('[') || t.starts_with('@') && !t.contains(' ') {
            continue;
        }
        // `pfctl -vsr` may number rules: `@3 block drop ...`.
        let t = match t.strip_prefix('@') {
            Some(r) => r.split_once(' ').map_or(r, |(_, rest)| rest),
            None => t,
        };
        let words: Vec<&str> = t.split_whitespace().collect();
        number += 1;
        let mut packets = None;
        while let Some(next) = lines.peek() {
            let n = next.trim();
            if !n.starts_with('[') {
                break;
            }
            if let Some(at) = n.find("Packets:") {
                packets = n[at + 8..]
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse().ok());
            }
            lines.next();
        }
        if words.first() != Some(&"block") {
            continue;
        }
        let verdict = match words.get(1) {
            Some(&("return" | "return-rst")) => "reject with tcp reset".to_owned(),
            Some(&("return-icmp" | "return-icmp6")) => "reject".to_owned(),
            _ => "drop".to_owned(),
        };
        let tcp_or_any =
            !words.contains(&"proto") || words.windows(2).any(|w| w == ["proto", "tcp"]);
        // The port after `to` (destination); a `port` before `to` is the source port.
        let to = words.iter().position(|w| *w == "to");
        let dport = to.and_then(|i| {
            words[i..]
                .iter()
                .position(|w| *w == "port")
                .map(|j| pf_port_covers(&words[i + j + 1..], port))
        });
        let on_lo = words
            .windows(2)
            .any(|w| w[0] == "on" && w[1].starts_with("lo"));
        let other_if = words
            .windows(2)
            .any(|w| w[0] == "on" && !w[1].starts_with("lo"));
        let applies = tcp_or_any
            && !other_if
            && match dport {
                Some(Some(hit)) => hit,
                Some(None) => false,
                None => on_lo,
            };
        if !applies {
            continue;
        }
        let place = if anchor.is_empty() {
            format!("rule {number}")
        } else {
            format!("anchor {anchor} rule {number}")
        };
        out.push(FwRule {
            tool: FwTool::Pf,
            place,
            verdict,
            matches: vec![t.to_owned()],
            packets,
            hook: Some(
                if words.contains(&"out") {
                    "output"
                } else {
                    "input"
                }
                .to_owned(),
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from `nft -j list ruleset` (nftables 1.0.6) in a test namespace.
    const RULESET: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
      {"table": {"family": "inet", "name": "t", "handle": 1}},
      {"chain": {"family": "inet", "table": "t", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
      {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 2, "expr": [
        {"match": {"op": "==", "left": {"meta": {"key": "iif"}}, "right": "lo"}},
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 9000}},
        {"counter": {"packets": 3, "bytes": 180}}, {"drop": null}]}},
      {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 4, "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [9001, {"range": [9100, 9200]}]}}},
        {"counter": {"packets": 0, "bytes": 0}}, {"reject": {"type": "tcp reset"}}]}},
      {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 5, "expr": [
        {"match": {"op": "==", "left": {"meta": {"key": "iif"}}, "right": "lo"}}, {"drop": null}]}},
      {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 6, "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"accept": null}]}}
    ]}"#;

    #[test]
    fn finds_rules_for_a_port() {
        let v: Value = serde_json::from_str(RULESET).expect("json");
        let r = rules_for_port(&v, 9000);
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(r[0].is_drop() && r[0].packets == Some(3));
        assert_eq!(r[0].place, "inet t input handle 2");
        assert_eq!(
            r[1].place, "inet t input handle 5",
            "a blanket drop on lo applies too"
        );
        let r = rules_for_port(&v, 9150);
        assert_eq!(r[0].verdict, "reject with tcp reset");
        assert!(
            rules_for_port(&v, 22)
                .iter()
                .all(|x| x.place.ends_with("handle 5"))
        );
        assert!(rules_for_port(&serde_json::json!({}), 1).is_empty());
    }

    #[test]
    fn pf_block_rules_for_a_port() {
        let text = "\
scrub-anchor \"com.apple/*\" all fragment reassemble
  [ Evaluations: 900       Packets: 0         Bytes: 0           States: 0     ]
pass out quick on lo0 all flags S/SA keep state
  [ Evaluations: 900       Packets: 120       Bytes: 9000        States: 2     ]
block drop in quick on lo0 proto tcp from any to any port = 3000
  [ Evaluations: 14        Packets: 4         Bytes: 240         States: 0     ]
  [ Inserted: uid 0 pid 711 State Creation Time: 0 ]
block return in proto tcp from any to any port { 22 5432 }
  [ Evaluations: 3         Packets: 1         Bytes: 60          States: 0     ]
block drop in on en0 proto tcp to any port 3000
  [ Evaluations: 0         Packets: 0         Bytes: 0           States: 0     ]
block drop in proto udp to any port 3000
  [ Evaluations: 0         Packets: 0         Bytes: 0           States: 0     ]
block drop in proto tcp from any port 3000 to any
  [ Evaluations: 0         Packets: 0         Bytes: 0           States: 0     ]
anchor \"lport-test\" all
block drop quick on lo0 all
  [ Evaluations: 5         Packets: 5         Bytes: 300         States: 0     ]
block drop in proto tcp to any port 6000:6010
  [ Evaluations: 0         Packets: 0         Bytes: 0           States: 0     ]
";
        let r = pf_rules_for_port(text, 3000);
        let places: Vec<&str> = r.iter().map(|x| x.place.as_str()).collect();
        assert_eq!(places, ["rule 3", "anchor lport-test rule 8"], "{r:?}");
        assert_eq!(
            (r[0].tool, r[0].packets, r[0].is_drop()),
            (FwTool::Pf, Some(4), true)
        );
        let r = pf_rules_for_port(text, 5432);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[0].verdict, "reject with tcp reset");
        assert_eq!(r[0].packets, Some(1));
        let r = pf_rules_for_port(text, 6005);
        assert_eq!(r.len(), 2, "a range, and the lo0 rule: {r:?}");
        assert!(pf_rules_for_port("", 80).is_empty());
    }

    #[test]
    fn pf_port_clauses() {
        for (clause, port, hit) in [
            (&["=", "80"][..], 80, true),
            (&["!=", "22"][..], 80, true),
            (&["!=", "80"][..], 80, false),
            (&[">", "1023"][..], 80, false),
            (&[">=", "80"][..], 80, true),
            (&["1000", "><", "2000"][..], 1500, true),
            (&["1000", "><", "2000"][..], 1000, false),
            (&["1000", "<>", "2000"][..], 2500, true),
            (&["79:81"][..], 80, true),
            (&["{", "22", "80", "}"][..], 80, true),
            (&["{", "22,", "443", "}"][..], 22, true),
            (&["http"][..], 80, false),
        ] {
            assert_eq!(
                pf_port_covers(clause, port).unwrap_or(false),
                hit,
                "{clause:?} {port}"
            );
        }
    }
}
