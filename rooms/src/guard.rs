//! The room server's defences at the socket and HTTP level, for a server on
//! the open internet: connections per address (IPv6 by /64) and new
//! connections per address and second are bounded, a client must send its
//! first request head within `head_time` and may not stay silent longer than
//! `idle_time` (a slowloris or an idle flood holds a socket for seconds, not
//! for ever), and the Socket.io endpoint refuses browsers from another
//! origin (cross-site WebSocket hijacking).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// Limits on connections, by the client's address.
#[derive(Debug, Clone)]
pub struct NetLimits {
    /// Open connections from one address at once.
    pub per_addr: usize,
    /// Open connections in all.
    pub total: usize,
    /// New connections one address may open per second, on average...
    pub new_per_sec: f64,
    /// ...and at once after a quiet spell.
    pub new_burst: f64,
    /// The first request head must be complete within this time.
    pub head_time: Duration,
    /// A connection with nothing read for this long is closed (Socket.io
    /// clients answer a ping every 5 s, so live ones never are).
    pub idle_time: Duration,
    /// Origins besides the server's own that browsers may connect from
    /// (`https://meet.example.org`), for a page served elsewhere.
    pub allowed_origins: Vec<String>,
}

impl Default for NetLimits {
    fn default() -> Self {
        NetLimits {
            per_addr: 64,
            total: 8192,
            new_per_sec: 20.0,
            new_burst: 60.0,
            head_time: Duration::from_secs(10),
            idle_time: Duration::from_secs(30),
            allowed_origins: Vec::new(),
        }
    }
}

/// The key connections are counted under: the address, or its /64 for
/// IPv6 (one machine usually holds a whole /64). IPv4 mapped into IPv6 is
/// taken as IPv4.
pub fn addr_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

#[derive(Debug, Default)]
struct Counts {
    open: HashMap<IpAddr, usize>,
    total: usize,
    /// Token buckets for new connections: tokens and when last filled.
    buckets: HashMap<IpAddr, (f64, Instant)>,
    admitted: u64,
    refused: u64,
}

impl Counts {
    /// Whether a new connection from `key` may be taken now; counts it if so.
    fn admit(&mut self, key: IpAddr, limits: &NetLimits, now: Instant) -> Result<(), &'static str> {
        if self.total >= limits.total {
            return Err("the server is full");
        }
        if self.open.get(&key).copied().unwrap_or(0) >= limits.per_addr {
            return Err("too many connections from this address");
        }
        let (tokens, at) = self.buckets.entry(key).or_insert((limits.new_burst, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * limits.new_per_sec)
            .min(limits.new_burst);
        *at = now;
        if *tokens < 1.0 {
            return Err("too many new connections from this address");
        }
        *tokens -= 1.0;
        *self.open.entry(key).or_insert(0) += 1;
        self.total += 1;
        self.admitted += 1;
        // Full buckets carry no memory of anything: drop them now and then
        // so a scan of many addresses does not grow the map without bound.
        if self.buckets.len() > 4 * limits.total.max(1024) {
            let (rate, burst) = (limits.new_per_sec, limits.new_burst);
            self.buckets.retain(|_, (t, at)| {
                *t + now.saturating_duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        Ok(())
    }

    fn release(&mut self, key: IpAddr) {
        if let Some(n) = self.open.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.open.remove(&key);
            }
        }
        self.total = self.total.saturating_sub(1);
    }
}

/// A TCP listener that applies `NetLimits`: refused connections are closed
/// at once, before any byte is read.
#[derive(Debug)]
pub struct GuardedListener {
    inner: TcpListener,
    limits: Arc<NetLimits>,
    counts: Arc<Mutex<Counts>>,
}

/// What the guard has seen, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardCounts {
    /// Open now, and from how many addresses.
    pub open: usize,
    pub addresses: usize,
    /// Taken and refused since the start.
    pub admitted: u64,
    pub refused: u64,
}

/// A handle on a listener's counters that outlives it.
#[derive(Debug, Clone)]
pub struct GuardHandle(Arc<Mutex<Counts>>);

impl GuardHandle {
    pub fn counts(&self) -> GuardCounts {
        let c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        GuardCounts {
            open: c.total,
            addresses: c.open.len(),
            admitted: c.admitted,
            refused: c.refused,
        }
    }
}

impl GuardedListener {
    pub fn new(inner: TcpListener, limits: NetLimits) -> Self {
        GuardedListener {
            inner,
            limits: Arc::new(limits),
            counts: Arc::default(),
        }
    }

    pub fn handle(&self) -> GuardHandle {
        GuardHandle(self.counts.clone())
    }
}

impl axum::serve::Listener for GuardedListener {
    type Io = GuardedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, not spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let key = addr_key(addr.ip());
            let admitted = {
                let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
                let r = c.admit(key, &self.limits, Instant::now());
                if r.is_err() {
                    c.refused += 1;
                }
                r
            };
            if let Err(why) = admitted {
                tracing::debug!(%addr, "connection refused: {why}");
                // Closed at once: no response is owed to a flood.
                drop(stream);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let io = GuardedStream {
                inner: stream,
                key,
                counts: self.counts.clone(),
                head: Some(HeadWatch::default()),
                head_deadline: Box::pin(tokio::time::sleep(self.limits.head_time)),
                idle: Box::pin(tokio::time::sleep(self.limits.idle_time)),
                idle_time: self.limits.idle_time,
            };
            return (io, addr);
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Finds the end of the first request head (`\r\n\r\n`) across reads.
#[derive(Debug, Default)]
struct HeadWatch {
    matched: usize,
}

impl HeadWatch {
    /// Feeds bytes; true once the head is complete.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        const END: &[u8] = b"\r\n\r\n";
        for &b in bytes {
            self.matched = if b == END[self.matched] {
                self.matched + 1
            } else if b == b'\r' {
                1
            } else {
                0
            };
            if self.matched == END.len() {
                return true;
            }
        }
        false
    }
}

/// An admitted connection: released from the counts when dropped; reads
/// fail with `TimedOut` once the head or idle deadline passes.
pub struct GuardedStream {
    inner: TcpStream,
    key: IpAddr,
    counts: Arc<Mutex<Counts>>,
    /// Watching for the first head's end; `None` once seen.
    head: Option<HeadWatch>,
    head_deadline: Pin<Box<Sleep>>,
    idle: Pin<Box<Sleep>>,
    idle_time: Duration,
}

impl std::fmt::Debug for GuardedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedStream")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Drop for GuardedStream {
    fn drop(&mut self) {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .release(self.key);
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let fresh = &buf.filled()[before..];
                if !fresh.is_empty() {
                    let deadline = tokio::time::Instant::now() + this.idle_time;
                    this.idle.as_mut().reset(deadline);
                    if this.head.as_mut().is_some_and(|h| h.feed(fresh)) {
                        this.head = None;
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let late_head =
                    this.head.is_some() && this.head_deadline.as_mut().poll(cx).is_ready();
                if late_head || this.idle.as_mut().poll(cx).is_ready() {
                    let why = if late_head {
                        "no complete request in time"
                    } else {
                        "silent for too long"
                    };
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why)));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Whether a browser's `Origin` may use the signalling: the server's own
/// (`Host` header), or one of `allowed`. Compared without case; `null`
/// (sandboxed frames, files) never matches.
pub fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let origin = origin.as_str();
    if allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    host.is_some_and(|h| h.trim().eq_ignore_ascii_case(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_end_is_found_across_reads() {
        let mut h = HeadWatch::default();
        assert!(!h.feed(b"GET / HTTP/1.1\r\nHost: x\r"));
        assert!(!h.feed(b"\n\r"));
        assert!(h.feed(b"\nbody"));
        let mut h = HeadWatch::default();
        assert!(!h.feed(b"\r\r\n\r"));
        assert!(h.feed(b"\n"));
    }

    #[test]
    fn addresses_are_counted_by_host_and_v6_by_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("valid");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("valid");
        assert_eq!(addr_key(a), addr_key(b));
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().expect("valid");
        assert_eq!(
            addr_key(mapped),
            "10.0.0.7".parse::<IpAddr>().expect("valid")
        );
    }

    #[test]
    fn admission_is_bounded_per_address_by_rate_and_in_all() {
        let limits = NetLimits {
            per_addr: 3,
            total: 5,
            new_per_sec: 2.0,
            new_burst: 4.0,
            ..NetLimits::default()
        };
        let mut c = Counts::default();
        let t0 = Instant::now();
        let one: IpAddr = "10.0.0.1".parse().expect("valid");
        let two: IpAddr = "10.0.0.2".parse().expect("valid");
        for _ in 0..3 {
            c.admit(one, &limits, t0).expect("within the limit");
        }
        assert_eq!(
            c.admit(one, &limits, t0),
            Err("too many connections from this address")
        );
        c.release(one);
        // One token left of the burst of 4.
        c.admit(one, &limits, t0).expect("a slot again");
        c.release(one);
        assert_eq!(
            c.admit(one, &limits, t0),
            Err("too many new connections from this address")
        );
        // Half a second later the bucket holds one more.
        c.admit(one, &limits, t0 + Duration::from_millis(500))
            .expect("refilled");
        c.admit(two, &limits, t0).expect("another address");
        c.admit(two, &limits, t0).expect("another address");
        assert_eq!(c.admit(two, &limits, t0), Err("the server is full"));
        for _ in 0..3 {
            c.release(one);
        }
        c.release(two);
        c.release(two);
        assert_eq!((c.total, c.open.len()), (0, 0));
    }

    #[test]
    fn only_the_own_and_allowed_origins_may_connect() {
        let allowed = vec!["https://meet.example.org".to_string()];
        assert!(origin_allowed(
            "http://127.0.0.1:3030",
            Some("127.0.0.1:3030"),
            &[]
        ));
        assert!(origin_allowed(
            "HTTPS://Rooms.Example:443",
            Some("rooms.example:443"),
            &[]
        ));
        assert!(!origin_allowed(
            "http://evil.example",
            Some("127.0.0.1:3030"),
            &[]
        ));
        assert!(!origin_allowed("null", Some("127.0.0.1:3030"), &[]));
        assert!(!origin_allowed("http://127.0.0.1:3030", None, &[]));
        assert!(origin_allowed(
            "https://meet.example.org/",
            Some("x"),
            &allowed
        ));
        assert!(!origin_allowed(
            "https://meet.example.org.evil",
            Some("x"),
            &allowed
        ));
    }
}
