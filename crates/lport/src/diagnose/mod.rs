//! `why`: diagnose a connection (or a bind, with `--listen`) to a local address and port.
//!
//! Facts are gathered once (`facts.rs`: resolution like the client, a real connect to every
//! address, the socket table for the port in every namespace, process states, sysctls,
//! proxy variables, the service that answers). Each cause is one pure rule under `rules/`
//! that reads the facts and returns a finding with evidence and the fix, so every rule is
//! tested on hand-made facts. `report.rs` turns findings into a verdict.

pub mod facts;
pub mod firewall;
pub mod hosts;
pub mod report;
pub mod rules;

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

pub use facts::Facts;
pub use report::{Report, Verdict};

use crate::error::Result;
use crate::model::Proto;
use crate::target::{Host, Target};

/// Diagnose connecting (the default) or binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Why can't I connect?
    Connect,
    /// Why can't I bind / listen?
    Listen,
}

/// How one connection attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Connected.
    Connected,
    /// Refused (RST, or an ICMP port-unreachable).
    Refused,
    /// No answer within the timeout.
    Timeout,
    /// Host or network unreachable.
    Unreachable,
    /// The local address is not available (or no ephemeral port was).
    AddrUnavailable,
    /// Denied by policy (EACCES/EPERM).
    Denied,
    /// Reset.
    Reset,
    /// Anything else.
    Error,
}

impl Outcome {
    /// Classifies a connect error.
    #[must_use]
    pub fn of(e: &std::io::Error) -> Outcome {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => Outcome::Refused,
            K::TimedOut | K::WouldBlock => Outcome::Timeout,
            K::HostUnreachable | K::NetworkUnreachable => Outcome::Unreachable,
            K::AddrNotAvailable => Outcome::AddrUnavailable,
            K::PermissionDenied => Outcome::Denied,
            K::ConnectionReset => Outcome::Reset,
            _ => Outcome::Error,
        }
    }
}

/// One connection attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    /// Address tried.
    pub addr: IpAddr,
    /// Port tried.
    pub port: u16,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took, in milliseconds.
    pub ms: f64,
}

impl Attempt {
    /// `connect to 127.0.0.1:3000 -> refused`: the attempt as evidence.
    pub(crate) fn evidence(&self) -> String {
        format!(
            "connect to {} -> {:?}",
            std::net::SocketAddr::new(self.addr, self.port),
            self.outcome
        )
        .to_lowercase()
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// It explains a failure.
    Error,
    /// It works, but something is risky or fragile.
    Warning,
    /// Worth knowing.
    Info,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// Stable id, listed in docs/json.md.
    pub id: &'static str,
    /// How bad.
    pub severity: Severity,
    /// One sentence.
    pub summary: String,
    /// What lport saw.
    pub evidence: Vec<String>,
    /// What to do.
    pub fix: String,
}

/// The target as `why` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetInfo {
    /// As typed.
    pub input: String,
    /// Protocol.
    pub proto: Proto,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// URL scheme, if any.
    pub scheme: Option<String>,
    /// Connect or listen.
    pub mode: Mode,
}

/// Settings for a diagnosis.
#[derive(Debug, Clone)]
pub struct Options {
    /// Connect or bind.
    pub mode: Mode,
    /// Per connection attempt.
    pub timeout: Duration,
    /// Identify the service that answers.
    pub identify: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::Connect,
            timeout: Duration::from_secs(1),
            identify: true,
        }
    }
}

/// What lport cannot test from where it runs, for the person whose client still fails
/// although lport connected: clients the OS keeps from loopback (Windows: Microsoft Store
/// apps in an AppContainer). Shown by the CLI; not part of the JSON report.
#[must_use]
pub fn client_notes(report: &Report) -> Vec<String> {
    let loopback_ok = report.verdict == Verdict::Ok
        && report.target.mode == Mode::Connect
        && !report.attempts.is_empty()
        && report
            .attempts
            .iter()
            .all(|a| a.addr.is_loopback() && a.outcome == Outcome::Connected);
    if loopback_ok {
        crate::sys::loopback_client_notes(report.target.port)
    } else {
        Vec::new()
    }
}

/// Diagnoses a target: gathers facts, runs every rule, and reports.
pub fn diagnose(target: &Target, opts: &Options) -> Result<Report> {
    let facts = facts::gather(target, opts)?;
    Ok(report::build(&facts))
}

/// The host a client would use for a target without one.
#[must_use]
pub fn default_host(target: &Target, mode: Mode) -> Host {
    target.host.clone().unwrap_or(match mode {
        Mode::Connect => Host::Name("localhost".into()),
        Mode::Listen => Host::Ip(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
    })
}
