//! nftables rules that can drop or reject a connection to a port, from `nft -j list
//! ruleset` (iptables-nft rules appear there too). The parser is pure; reading the ruleset
//! needs root and the `nft` program, and is skipped quietly without them.

use serde_json::Value;

/// A rule that drops or rejects traffic to the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwRule {
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

/// Reads the ruleset of lport's namespace with `nft -j list ruleset`; `None` when nft is
/// missing or not permitted.
#[must_use]
pub fn read_ruleset() -> Option<Value> {
    let out = std::process::Command::new("nft")
        .args(["-j", "list", "ruleset"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
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
}
