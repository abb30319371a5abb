//! Overall deadlines for network exchanges. A socket timeout bounds one read, not a whole
//! exchange: a server that drips one byte every 300 ms never trips a 400 ms read timeout
//! and can keep a TLS handshake going for minutes. [`Bounded`] sets the socket timeout
//! before every read and write to what is left of one deadline, and fails with `TimedOut`
//! once it has passed, so nothing built on it (TLS handshakes, HTTP exchanges, probes)
//! outlives its deadline whatever the peer does.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// What is left until `deadline`, or `TimedOut` when nothing is.
pub(crate) fn left(deadline: Instant) -> io::Result<Duration> {
    let d = deadline.saturating_duration_since(Instant::now());
    // Socket timeouts cannot be zero (zero means "block forever"), and a microsecond is
    // no time for a reply anyway.
    if d < Duration::from_micros(100) {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the deadline has passed",
        ));
    }
    Ok(d)
}

/// A TCP stream whose reads and writes all end by one deadline.
#[derive(Debug)]
pub(crate) struct Bounded {
    tcp: TcpStream,
    deadline: Instant,
}

impl Bounded {
    /// Connects within `timeout`, and no later than `deadline`; the stream then keeps
    /// `deadline`.
    pub(crate) fn connect(
        addr: SocketAddr,
        timeout: Duration,
        deadline: Instant,
    ) -> io::Result<Bounded> {
        let tcp = TcpStream::connect_timeout(&addr, timeout.min(left(deadline)?))?;
        let _ = tcp.set_nodelay(true);
        // A probe leaves no TIME_WAIT: `why --listen` would count it as holding the port.
        crate::sys::abortive_close(&tcp);
        Ok(Bounded { tcp, deadline })
    }

    /// Moves the deadline: closer, or (the NULL probe's short watches) on, in slices that
    /// never pass the budget's end.
    pub(crate) fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.set_read_timeout(Some(left(self.deadline)?))?;
        self.tcp.read(buf)
    }
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.set_write_timeout(Some(left(self.deadline)?))?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dripping_peer_cannot_outlast_the_deadline() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            // One byte every 50 ms for 2 s: each read succeeds long before any per-read
            // timeout would fire.
            for _ in 0..40 {
                if s.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let start = Instant::now();
        let mut b = Bounded::connect(
            addr,
            Duration::from_secs(1),
            start + Duration::from_millis(300),
        )
        .expect("connect");
        let mut got = Vec::new();
        let err = loop {
            let mut one = [0u8; 16];
            match b.read(&mut one) {
                Ok(0) => panic!("closed early"),
                Ok(n) => got.extend_from_slice(&one[..n]),
                Err(e) => break e,
            }
        };
        let took = start.elapsed();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            "{err}"
        );
        assert!(!got.is_empty(), "some bytes came before the deadline");
        assert!(took < Duration::from_secs(1), "took {took:?}");
        drop(b);
        server.join().expect("server");
    }

    #[test]
    fn nothing_is_left_after_the_deadline() {
        assert!(left(Instant::now()).is_err());
        assert!(left(Instant::now() + Duration::from_secs(1)).is_ok());
    }
}
