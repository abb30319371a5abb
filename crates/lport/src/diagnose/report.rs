//! The verdict: reachable (or bindable) with no error-severity finding is `ok`; any error
//! finding is a `problem`; a failure no rule explains is `unknown`.

use serde::Serialize;

use super::{Attempt, Cause, Facts, Mode, Severity, TargetInfo, rules};
use crate::probe::Service;

/// The overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Reachable (or bindable), no error found.
    Ok,
    /// Something is wrong; the causes say what.
    Problem,
    /// It fails and no rule explains why.
    Unknown,
}

/// A diagnosis, shaped as docs/json.md's `why` JSON (schema 1).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always 1.
    pub schema: u32,
    /// The target.
    pub target: TargetInfo,
    /// The answer.
    pub verdict: Verdict,
    /// Connection attempts.
    pub attempts: Vec<Attempt>,
    /// What answers, when something does.
    pub service: Option<Service>,
    /// Findings, errors first.
    pub causes: Vec<Cause>,
    /// With `--listen`: each address tried and whether it could be bound (the headline
    /// names the one that failed; not in the JSON, whose causes carry it as evidence).
    #[serde(skip)]
    pub binds: Vec<(std::net::SocketAddr, bool)>,
}

/// Runs the rules over the facts.
#[must_use]
pub fn build(f: &Facts) -> Report {
    let causes = rules::run(f);
    let has_error = causes.iter().any(|c| c.severity == Severity::Error);
    let works = match f.target.mode {
        Mode::Connect if f.unix.is_some() => {
            f.unix.as_ref().is_some_and(|u| u.connect_error.is_none())
        }
        Mode::Connect => {
            f.connected()
                || (f.target.proto == crate::model::Proto::Udp && f.listeners().next().is_some())
        }
        Mode::Listen => !f.binds.is_empty() && f.binds.iter().all(|b| b.error.is_none()),
    };
    let verdict = if has_error {
        Verdict::Problem
    } else if works {
        Verdict::Ok
    } else {
        Verdict::Unknown
    };
    Report {
        schema: 1,
        target: f.target.clone(),
        verdict,
        attempts: f.attempts.clone(),
        service: f.service.clone(),
        causes,
        binds: f
            .binds
            .iter()
            .map(|b| (b.addr, b.error.is_none()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::Outcome;
    use crate::diagnose::rules::fixture::{attempt, facts, listener};

    #[test]
    fn verdicts() {
        let mut f = facts("127.0.0.1", 3000, Mode::Connect);
        attempt(&mut f, "127.0.0.1", Outcome::Refused);
        f.resolved = Ok(vec!["127.0.0.1".parse().expect("ip")]);
        assert_eq!(
            build(&f).verdict,
            Verdict::Problem,
            "nothing listening is an error"
        );
        let mut ok = facts("127.0.0.1", 3000, Mode::Connect);
        ok.resolved = Ok(vec!["127.0.0.1".parse().expect("ip")]);
        attempt(&mut ok, "127.0.0.1", Outcome::Connected);
        listener(&mut ok, "127.0.0.1", 3000, 5, true);
        assert_eq!(build(&ok).verdict, Verdict::Ok);
        let mut odd = facts("127.0.0.1", 3000, Mode::Connect);
        odd.resolved = Ok(vec!["127.0.0.1".parse().expect("ip")]);
        attempt(&mut odd, "127.0.0.1", Outcome::Timeout);
        listener(&mut odd, "127.0.0.1", 3000, 5, true);
        assert_eq!(
            build(&odd).verdict,
            Verdict::Unknown,
            "a firewall drop has no rule yet"
        );
    }
}
