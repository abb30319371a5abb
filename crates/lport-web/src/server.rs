//! The one accept loop behind every lport server (`serve`, `ui`, `exporter`, and the raw
//! TCP echo), so each gets the same defences:
//!
//! - a connection cap: at the cap, new connections wait in the kernel's backlog until one
//!   closes, and the server says so once on stderr;
//! - a header-read timeout: a client must send a whole request head within
//!   [`Limits::header_timeout`] (also while idle between keep-alive requests), so slowloris
//!   clients that drip headers are cut off;
//! - an idle timeout on every connection: one that moves no byte either way for
//!   [`Limits::idle_timeout`] is closed (a client that stops reading a response, or sends
//!   a body a byte a minute);
//! - back-off on accept errors: when the process is out of file descriptors (`EMFILE`),
//!   accepting again at once would spin a core, so the loop sleeps, longer each time.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower_service::Service as _;

/// Bounds every server applies to its clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Time for a client to send a whole request head, and to start the next one on a
    /// kept-alive connection.
    pub header_timeout: Duration,
    /// A connection that moves no byte either way for this long is closed.
    pub idle_timeout: Duration,
}

/// The default connection cap.
pub const MAX_CONNECTIONS: usize = 512;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: MAX_CONNECTIONS,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Ctrl-C and SIGTERM (Ctrl-C, Ctrl-Break and closing the console on Windows), registered
/// up front so a signal that follows the server's announcement at once still stops it
/// cleanly.
pub(crate) struct Shutdown {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(windows)]
    int: tokio::signal::windows::CtrlC,
    #[cfg(windows)]
    brk: tokio::signal::windows::CtrlBreak,
    #[cfg(windows)]
    close: tokio::signal::windows::CtrlClose,
}

impl Shutdown {
    #[cfg(unix)]
    pub(crate) fn install() -> io::Result<Shutdown> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Shutdown {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(windows)]
    pub(crate) fn install() -> io::Result<Shutdown> {
        use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close};
        Ok(Shutdown {
            int: ctrl_c()?,
            brk: ctrl_break()?,
            close: ctrl_close()?,
        })
    }

    #[cfg(unix)]
    pub(crate) async fn wait(mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }

    #[cfg(windows)]
    pub(crate) async fn wait(mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.brk.recv() => {}
            _ = self.close.recv() => {}
        }
    }
}

/// Whether an accept error concerns only the connection being accepted (the client gave
/// up): those are retried at once. Everything else (`EMFILE`, `ENFILE`, `ENOBUFS`,
/// `ENOMEM`) is the server's own trouble and is retried after a pause.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// How many "invalid argument" accept errors in a row are taken for reset connections
/// before they count as the server's own trouble.
const RESET_AS_INVALID: u32 = 64;

/// The pause after the `n`th accept error in a row: 10 ms, doubling, at most one second.
#[must_use]
pub fn accept_backoff(n: u32) -> Duration {
    Duration::from_millis(10u64.saturating_mul(1 << n.min(7))).min(Duration::from_secs(1))
}

/// Accepts connections under `limits` until `stop` completes, handing each one, with a
/// permit that frees its slot when dropped, to `handle`.
pub(crate) async fn accept_loop<F, Fut>(
    listener: TcpListener,
    limits: Limits,
    stop: impl Future<Output = ()>,
    mut handle: F,
) where
    F: FnMut(TcpStream, SocketAddr, tokio::sync::OwnedSemaphorePermit) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let full_said = AtomicBool::new(false);
    let mut errors = 0u32;
    // "Invalid argument" in a row: Wine's accept of a connection its client reset before it
    // was accepted (Windows itself says WSAECONNRESET; a listening socket never gives EINVAL
    // on Linux or macOS). Taken as that connection's trouble, unless it keeps on.
    let mut invalid = 0u32;
    tokio::pin!(stop);
    loop {
        let permit = if let Ok(p) = Arc::clone(&slots).try_acquire_owned() {
            p
        } else {
            if !full_said.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "lport: {} connections open, the most this server takes: new ones wait until one closes (idle clients are dropped after {}s)",
                    limits.max_connections,
                    limits.header_timeout.as_secs()
                );
            }
            tokio::select! {
                p = Arc::clone(&slots).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
                () = &mut stop => return,
            }
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = &mut stop => return,
        };
        match accepted {
            Ok((sock, peer)) => {
                errors = 0;
                invalid = 0;
                let _ = sock.set_nodelay(true);
                tokio::spawn(handle(sock, peer, permit));
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) if e.kind() == io::ErrorKind::InvalidInput && invalid < RESET_AS_INVALID => {
                invalid += 1;
            }
            Err(e) => {
                if errors == 0 {
                    eprintln!("lport: cannot accept connections: {e}; retrying with back-off");
                }
                let pause = accept_backoff(errors);
                errors = errors.saturating_add(1);
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = &mut stop => return,
                }
            }
        }
    }
}

/// Serves `router` on `listener` until `stop`, each request carrying the peer's address as
/// `ConnectInfo<SocketAddr>`.
pub(crate) async fn serve_router(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    accept_loop(listener, limits, stop, move |sock, peer, permit| {
        let router = router.clone();
        async move {
            let svc = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    let mut r = router.clone();
                    async move { r.call(req).await }
                },
            );
            let io = TokioIo::new(Idle::new(sock, limits.idle_timeout));
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(io, svc)
                .with_upgrades()
                .await;
            drop(permit);
        }
    })
    .await;
}

/// Runs a router on `addr` until Ctrl-C or SIGTERM: signal handlers first, then the bind,
/// then `app` is built for the bound address, `ready` announces it, and serving begins.
pub(crate) fn serve_app(
    addr: SocketAddr,
    limits: Limits,
    ready: impl FnOnce(SocketAddr),
    app: impl FnOnce(SocketAddr) -> Router,
) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let stop = Shutdown::install()?;
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let app = app(bound);
        ready(bound);
        serve_router(listener, app, limits, stop.wait()).await;
        Ok(())
    })
}

/// Threads for blocking work (reading the socket tables, `why`): enough for a few at
/// once, never one per concurrent request.
pub(crate) const BLOCKING_THREADS: usize = 8;

/// A stream that fails with `TimedOut` once no byte has moved either way for a while.
pub(crate) struct Idle<S> {
    inner: S,
    limit: Duration,
    timer: Pin<Box<Sleep>>,
}

impl<S> Idle<S> {
    pub(crate) fn new(inner: S, limit: Duration) -> Idle<S> {
        Idle {
            inner,
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
        }
    }

    fn moved(&mut self) {
        self.timer.as_mut().reset(Instant::now() + self.limit);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.timer.as_mut().poll(cx).is_ready()
    }
}

fn idle_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle too long")
}

impl<S: AsyncRead + Unpin> AsyncRead for Idle<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.moved();
                Poll::Ready(r)
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Idle<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.moved();
                Poll::Ready(r)
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Vectored, so hyper queues a body's chunks and writes them from where they are; over
    /// a plain `poll_write` it copies each chunk into a buffer of the connection's own (a
    /// 4 MB event-stream frame became a copy per stalled client).
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                this.moved();
                Poll::Ready(r)
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_grows_and_is_capped() {
        assert_eq!(accept_backoff(0), Duration::from_millis(10));
        assert_eq!(accept_backoff(1), Duration::from_millis(20));
        assert_eq!(accept_backoff(6), Duration::from_millis(640));
        assert_eq!(accept_backoff(7), Duration::from_secs(1));
        assert_eq!(accept_backoff(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn emfile_is_the_servers_trouble_not_the_clients() {
        assert!(!is_connection_error(&io::Error::from_raw_os_error(24)));
        assert!(is_connection_error(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
    }
}
