//! Platforms without a kernel event source lport reads: the tracer says so, and the
//! recorder falls back to polling the listener table.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::history::KernelEvent;

/// Never constructed here.
pub(crate) struct Tracer;

// The same methods as the Linux tracer's, so callers need no cfg.
#[allow(clippy::unused_self)]
impl Tracer {
    pub(crate) fn open(_ports: &[u16]) -> Result<Tracer> {
        Err(Error::Unavailable(
            "kernel connection events are read on Linux only; here lport polls the listener table"
                .to_owned(),
        ))
    }

    pub(crate) fn wait(&mut self, timeout: Duration) -> bool {
        std::thread::sleep(timeout);
        false
    }

    pub(crate) fn drain(&mut self, _out: &mut Vec<KernelEvent>) {}
}
