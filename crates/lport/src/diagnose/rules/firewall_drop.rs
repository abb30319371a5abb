//! `firewall-drop` and `firewall-reject`: a listener is there, yet the connection times out
//! (drop) or is refused / unreachable (reject), and an nftables rule for the port counted
//! lport's own packets.

use super::cause;
use crate::diagnose::firewall::FwTool;
use crate::diagnose::{Cause, Facts, Mode, Outcome, Severity};

fn finding(f: &Facts, drop: bool) -> Option<Cause> {
    if f.target.mode != Mode::Connect {
        return None;
    }
    let attempt = f.attempts.iter().find(|a| {
        if drop {
            a.outcome == Outcome::Timeout
        } else {
            matches!(a.outcome, Outcome::Refused | Outcome::Unreachable)
        }
    })?;
    let listening = f.host_listeners().find(|s| s.accepts_addr(attempt.addr));
    // A moving counter is proof; without one, a matching rule plus a present listener is
    // still the best explanation.
    let (rule, delta) = f
        .firewall
        .iter()
        .filter(|(r, _)| r.is_drop() == drop)
        .max_by_key(|(_, d)| d.unwrap_or(0))?;
    if listening.is_none() && delta.unwrap_or(0) == 0 {
        return None;
    }
    let mut evidence = vec![format!(
        "{} rule {} ({}): {}",
        rule.tool.name(),
        rule.place,
        rule.matches.join(" "),
        rule.verdict
    )];
    if let Some(d) = delta {
        evidence.push(format!(
            "its counter rose by {d} packet(s) during lport's connection attempts"
        ));
    }
    evidence.extend(f.firewall_notes.iter().cloned());
    if let Some(s) = listening {
        evidence.push(format!(
            "{} listens on {} all the same",
            f.owner_text(s),
            s.local
        ));
    }
    evidence.push(attempt.evidence());
    let (id, what) = if drop {
        ("firewall-drop", "drops")
    } else {
        ("firewall-reject", "rejects")
    };
    cause(
        id,
        Severity::Error,
        format!(
            "a firewall rule {what} connections to port {}",
            f.target.port
        ),
        evidence,
        match rule.tool {
            FwTool::Nft => format!(
                "delete the rule (nft delete rule {}) or accept loopback first (nft insert rule ... iif lo accept)",
                rule.place
            ),
            FwTool::Pf => format!(
                "remove the rule ({}) from /etc/pf.conf or its anchor and reload it (sudo pfctl -f /etc/pf.conf), or let loopback through first (set skip on lo0)",
                rule.place
            ),
        },
    )
}

pub(super) fn check_drop(f: &Facts) -> Option<Cause> {
    finding(f, true)
}

pub(super) fn check_reject(f: &Facts) -> Option<Cause> {
    finding(f, false)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts, listener};
    use super::*;
    use crate::diagnose::firewall::FwRule;

    fn rule(verdict: &str) -> FwRule {
        FwRule {
            tool: FwTool::Nft,
            place: "inet t input handle 2".into(),
            verdict: verdict.into(),
            matches: vec!["tcp dport 9000".into()],
            packets: Some(3),
            hook: Some("input".into()),
        }
    }

    #[test]
    fn drop_and_reject() {
        let mut f = facts("127.0.0.1", 9000, Mode::Connect);
        attempt(&mut f, "127.0.0.1", Outcome::Timeout);
        listener(&mut f, "127.0.0.1", 9000, 5, true);
        assert!(check_drop(&f).is_none());
        f.firewall.push((rule("drop"), Some(2)));
        let c = check_drop(&f).expect("cause");
        assert!(c.evidence[1].contains("rose by 2"), "{:?}", c.evidence);
        assert!(check_reject(&f).is_none());
        let mut f = facts("127.0.0.1", 9000, Mode::Connect);
        attempt(&mut f, "127.0.0.1", Outcome::Refused);
        listener(&mut f, "127.0.0.1", 9000, 5, true);
        f.firewall.push((rule("reject with tcp reset"), Some(1)));
        assert_eq!(check_reject(&f).map(|c| c.id), Some("firewall-reject"));
    }
}
