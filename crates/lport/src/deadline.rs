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

/// How long closing a probe connection waits for the server to finish: a server that
/// greets and closes, or reads to EOF and closes, does so within microseconds on loopback.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_millis(50);

/// How long closing waits for a server that closes by itself before sending a FIN.
pub(crate) const CLOSE_FIRST: Duration = Duration::from_millis(10);

/// Ends a probe connection without hurting the server: a FIN first (a server still
/// writing its greeting can finish, one reading sees EOF, not a reset), then whatever it
/// sends is read until it closes or [`CLOSE_GRACE`] has passed. A server that closed is
/// then reset from its FIN_WAIT state, so neither side keeps a TIME_WAIT on the server's
/// port; one that has not (busy with another client: the connection waits in its accept
/// queue) gets a plain close, so whenever it accepts it reads EOF, not a reset. Returns
/// what the server sent (up to 4 KiB).
pub(crate) fn close_gently(tcp: &TcpStream) -> Vec<u8> {
    close_gently_after(tcp, CLOSE_FIRST)
}

/// [`close_gently`], waiting `first` for the server's own close before the FIN: nothing
/// when the caller has just watched the connection stay silent (a server that closes by
/// itself would have done so then).
pub(crate) fn close_gently_after(tcp: &TcpStream, first: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    let mut r = tcp;
    // Closed already, or about to (an HTTP/1.0 reply, a greeting and close): a FIN from
    // here would put the server's side in TIME_WAIT (a FIN crossing the server's own is a
    // simultaneous close: both sides keep one); the reset ends its FIN_WAIT instead. A
    // server that closes right after it writes does so within [`CLOSE_FIRST`].
    let until = Instant::now() + first;
    while let Ok(wait) = left(until) {
        if r.set_read_timeout(Some(wait)).is_err() {
            break;
        }
        match r.read(&mut chunk) {
            Ok(0) => return got,
            Ok(n) => keep(&mut got, &chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(_) => return got,
        }
    }
    if tcp.shutdown(std::net::Shutdown::Write).is_err() {
        return got;
    }
    let until = Instant::now() + CLOSE_GRACE;
    let closed = loop {
        let Ok(wait) = left(until) else { break false };
        if r.set_read_timeout(Some(wait)).is_err() {
            break false;
        }
        match r.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => keep(&mut got, &chunk[..n]),
            // Reset by the server: nothing is left to spare.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    if !closed {
        crate::sys::reset_on_close(tcp, false);
    }
    got
}

/// Keeps the first 4 KiB of what a closing server sent.
fn keep(got: &mut Vec<u8>, more: &[u8]) {
    let room = 4096usize.saturating_sub(got.len());
    got.extend_from_slice(&more[..more.len().min(room)]);
}

/// A TCP stream whose reads and writes all end by one deadline, closed gently
/// ([`close_gently`]) when dropped.
#[derive(Debug)]
pub(crate) struct Bounded {
    tcp: TcpStream,
    deadline: Instant,
    /// The peer was just watched in silence: closing need not wait for its own close.
    quiet: bool,
}

impl Drop for Bounded {
    fn drop(&mut self) {
        let first = if self.quiet {
            Duration::ZERO
        } else {
            CLOSE_FIRST
        };
        close_gently_after(&self.tcp, first);
    }
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
        // A probe leaves no TIME_WAIT on the server's port (`why --listen` would count it
        // as holding the port): the close after [`close_gently`] resets what is left.
        crate::sys::reset_on_close(&tcp, true);
        Ok(Bounded {
            tcp,
            deadline,
            quiet: false,
        })
    }

    /// Says the peer stayed silent through a watch just ended, so the close sends its FIN
    /// at once (see [`close_gently_after`]).
    pub(crate) fn quiet(&mut self) {
        self.quiet = true;
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
