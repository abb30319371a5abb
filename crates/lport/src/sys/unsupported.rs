//! Stand-in for operating systems lport does not support yet: every call reports
//! `Error::Unsupported`, so the crate compiles (and fails clearly) everywhere.

use super::Raw;
use crate::error::{Error, Result};
use crate::inventory::Query;
use crate::model::Process;
use crate::ports::PortPolicy;

pub(crate) fn listener_at(_addr: std::net::IpAddr, _port: u16) -> Option<bool> {
    None
}

pub(crate) fn current_uid() -> u32 {
    0
}

pub(crate) fn is_privileged() -> bool {
    false
}

pub(crate) fn port_policy() -> Option<PortPolicy> {
    None
}

pub(crate) fn collect(_query: &Query) -> Result<Raw> {
    Err(Error::Unsupported)
}

pub(crate) fn processes(_pids: &[u32]) -> Vec<Process> {
    Vec::new()
}

pub(crate) fn resolve_cgroup(_id: u64) -> Option<String> {
    None
}
