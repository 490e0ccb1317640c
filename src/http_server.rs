//! The HTTP server: our own accept loop around hyper's HTTP/1.1 connection, in place of `warp::serve`, which
//! exposes none of the limits a server facing a network needs. Whatever answers requests (the API's warp filter,
//! as a tower service) is handed in; this module decides only what a client may do to a connection.
//!
//! - **Request heads** are capped at `max_header_bytes` (request line and headers) and [`MAX_HEADERS`] fields;
//!   hyper answers a larger head `431 Request Header Fields Too Large` and closes the connection.
//! - **Timeouts** come from a watchdog per connection, which follows where the connection is: a new one, or one
//!   that has received the first bytes of its next request, must complete the request's headers within the
//!   header-read timeout (slowloris: one byte a second, or nothing at all); a kept-alive one with nothing
//!   received may wait for its next request for the idle timeout; while a request is being answered — a response
//!   still streaming, such as `/events`, or a request body still arriving, such as a slow boot asset upload —
//!   neither applies. hyper's own `header_read_timeout` is left off: it starts when the previous response ends,
//!   so one number would be both the idle and the header timeout. The watchdog runs on its own timer, not woken
//!   per request, so a timeout is kept to within a quarter of the shorter one.
//! - **Connections per client address** are capped; one more is answered `503` with the API's JSON error and
//!   `Connection: close` (a bare close would look like a crash to the client), after waiting briefly for its
//!   request, so that HTTP clients read it as the answer to the request they sent.
//! - **A response that comes before its request's body was read** (a 413 on a large body, a 401 on an upload)
//!   says `Connection: close`: otherwise a pooled client sends its next request on a connection that hyper closes
//!   for the unread body, and it fails (`IncompleteMessage`).
//! - **Closing** is lingering: the write side is shut (the response and a FIN go out) and what the client still
//!   sends is read and dropped for up to [`LINGER`], as nginx does; closing with unread data would send a reset,
//!   which makes the client's kernel drop the response it has not read yet (the 413, the 431).
//! - **Boot files** (memory-mapped, [`mapped_file`](crate::mapped_file)) go out with `sendfile` from the page
//!   cache instead of being copied into the socket; `TCP_NODELAY` is set, so no response's last segment waits
//!   for the client's delayed ACK.
//! - **Security headers** go on every response the service gives ([`SECURITY_HEADERS`]); the ones hyper writes
//!   itself (400, 431) have no body for a browser to render.
//!
//! Only HTTP/1.1: `warp::serve` also took HTTP/2 with prior knowledge (h2c), which none of our clients speak
//! (browsers use HTTP/2 only over TLS), and the limits above are HTTP/1's. Graceful shutdown is hyper-util's: no
//! new connections, idle ones closed, in-flight requests finish.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustix::io::Errno;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use warp::http::header::{CONNECTION, HeaderName};
use warp::http::{HeaderValue, Request, Response};

use crate::config::HttpLimits;
use crate::mapped_file::file_behind;

/// Header fields in one request head: hyper's default, the most it parses on the stack; no client of ours sends
/// more than about twenty.
const MAX_HEADERS: usize = 100;

/// How long a closing connection keeps reading (and dropping) what the client still sends, so the client reads
/// our last response before the connection is gone; a client still sending after that is reset.
const LINGER: Duration = Duration::from_secs(2);

/// How long a refused connection waits for its request before it is answered 503 anyway.
const REFUSAL_WAIT: Duration = Duration::from_secs(1);

/// Headers on every response. The policy fits the embedded UI (`web/`): ES modules and style sheets from our own
/// origin, no inline script or style (the UI sets styles through the DOM), `fetch` to our own origin (the API and
/// `/events`), images from our own origin (the logo); nothing else, no framing by other sites (clickjacking), no
/// `<base>` rewriting, forms only to us. JSON and boot files are not rendered by browsers, so the same policy is
/// harmless there. `nosniff` keeps a browser from running an uploaded asset as script; `no-referrer` keeps URLs
/// (node ids, asset names) from leaking to other sites.
const SECURITY_HEADERS: [(&str, &str); 3] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

/// What the server runs: the routes as a tower service (`warp::service(filter)`), answering with body `B`.
pub trait Routes<B>:
    tower_service::Service<Request<RequestBody>, Response = Response<B>, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<S, B> Routes<B> for S where
    S: tower_service::Service<Request<RequestBody>, Response = Response<B>, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + 'static
{
}

/// Serves `service` on `listener` until `shutdown` completes, then lets in-flight requests finish (the caller
/// bounds how long it waits).
pub async fn serve<S, B>(listener: TcpListener, service: S, limits: HttpLimits, shutdown: impl Future<Output = ()>)
where
    S: Routes<B>,
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_header_size(limits.max_header_bytes)
        .max_headers(MAX_HEADERS)
        .header_read_timeout(None)
        .keep_alive(true);
    let refusal = refusal_response(limits.max_connections_per_ip);
    let sources = Sources::default();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = sources.take(peer.ip().to_canonical(), limits.max_connections_per_ip) else {
            tokio::spawn(refuse(stream, refusal.clone()));
            continue;
        };
        // Each response is written whole (or its head corked before its file, see `EdgeIo`), so Nagle has nothing
        // to merge; it would only hold a response's last segment for the client's delayed ACK (40 ms).
        let _ = stream.set_nodelay(true);
        let state = Arc::new(ConnState::new());
        let io = TokioIo::new(EdgeIo {
            stream: Some(stream),
            state: state.clone(),
            slot: Some(slot),
        });
        let service = EdgeService {
            inner: service.clone(),
            state: state.clone(),
            peer: Peer(peer),
        };
        let conn = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            tokio::select! {
                ended = conn => if let Err(err) = ended {
                    tracing::debug!(%peer, "HTTP connection ended: {err}");
                },
                reason = state.watchdog(limits.header_read_timeout, limits.idle_timeout) => {
                    tracing::debug!(%peer, "closing the HTTP connection: {reason}");
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// As hyper 0.14's server did: errors of one connection that died in the backlog are nothing; anything else
/// (out of file descriptors) is logged, and accepting pauses for a second so the loop does not spin.
async fn accept_failed(err: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(err.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!("cannot accept HTTP connections: {err}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Where a connection is, for its watchdog.
enum Phase {
    /// Waiting for a request's headers, since this instant (when the connection was made, or the first byte of a
    /// next request came in).
    Head(Instant),
    /// Answering this many requests whose responses have not ended (one, unless hyper starts reading the next
    /// request before it drops the last response's body).
    Answering(usize),
    /// Kept alive with nothing received, since this instant.
    Idle(Instant),
}

/// What the connection's reader, its service and its responses tell its watchdog. The watchdog is not woken by
/// these changes (that would cost a task wake-up per request); it reads the phase when its own timer fires.
struct ConnState {
    phase: Mutex<Phase>,
}

impl ConnState {
    fn new() -> ConnState {
        ConnState {
            phase: Mutex::new(Phase::Head(Instant::now())),
        }
    }

    fn update(&self, change: impl FnOnce(&mut Phase)) {
        change(&mut self.phase.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn bytes_received(&self) {
        self.update(|phase| {
            if matches!(*phase, Phase::Idle(_)) {
                *phase = Phase::Head(Instant::now());
            }
        });
    }

    fn request_started(&self) {
        self.update(|phase| {
            *phase = match *phase {
                Phase::Answering(requests) => Phase::Answering(requests + 1),
                Phase::Head(_) | Phase::Idle(_) => Phase::Answering(1),
            }
        });
    }

    fn response_ended(&self) {
        self.update(|phase| {
            *phase = match *phase {
                Phase::Answering(requests) if requests > 1 => Phase::Answering(requests - 1),
                _ => Phase::Idle(Instant::now()),
            }
        });
    }

    /// Completes (with the reason) when the connection has waited too long for a request's headers or, kept
    /// alive, for a next request. It looks at the phase at the deadline it knows of, and at least every quarter
    /// of the shorter timeout (a phase that began since may have an earlier deadline), so a timeout is kept to
    /// within a quarter of itself.
    async fn watchdog(&self, header_read_timeout: Duration, idle_timeout: Duration) -> &'static str {
        let look_every = header_read_timeout.min(idle_timeout) / 4;
        loop {
            let deadline = match *self.phase.lock().unwrap_or_else(PoisonError::into_inner) {
                Phase::Head(since) => Some((since + header_read_timeout, "request headers not received in time")),
                Phase::Idle(since) => Some((since + idle_timeout, "idle")),
                Phase::Answering(_) => None,
            };
            let now = Instant::now();
            match deadline {
                Some((at, reason)) if at <= now => return reason,
                Some((at, _)) => tokio::time::sleep_until(at.min(now + look_every)).await,
                None => tokio::time::sleep(look_every).await,
            }
        }
    }
}

/// The client's socket as hyper uses it: reads tell the watchdog that a request is coming; dropping it (hyper is
/// done, or the watchdog closed the connection) lingers in a task of its own, holding the address's slot until
/// the socket is closed.
struct EdgeIo {
    /// Always `Some` until dropped.
    stream: Option<TcpStream>,
    state: Arc<ConnState>,
    slot: Option<Slot>,
}

impl EdgeIo {
    fn stream(&mut self) -> std::io::Result<Pin<&mut TcpStream>> {
        self.stream
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| std::io::ErrorKind::NotConnected.into())
    }
}

impl AsyncRead for EdgeIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = this.stream()?.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.state.bytes_received();
        }
        polled
    }
}

impl AsyncWrite for EdgeIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.get_mut().stream()?.poll_write(cx, buf)
    }

    /// A write of bytes that are a mapped file ([`mapped_file`]: a boot asset) is a `sendfile` of that part of
    /// the file, after what comes before it in `bufs` (the response head) is sent with `MSG_MORE`, so head and
    /// file still leave in the same packets.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let stream = self.get_mut().stream()?;
        let Some((at, (file, offset))) = bufs
            .iter()
            .enumerate()
            .find_map(|(at, buf)| Some((at, file_behind(buf)?)))
        else {
            return stream.poll_write_vectored(cx, bufs);
        };
        let (head, body) = (&bufs[..at], &bufs[at]);
        loop {
            std::task::ready!(stream.poll_write_ready(cx))?;
            let sent = stream.try_io(tokio::io::Interest::WRITABLE, || {
                send_head_and_file(&stream, head, &file, offset, body)
            });
            match sent {
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
                sent => return Poll::Ready(sent),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|stream| stream.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().stream()?.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().stream()?.poll_shutdown(cx)
    }
}

/// One non-blocking try at `head` (with `MSG_MORE`) and then `body`, the bytes at `offset` of `file`, sent from
/// the page cache: how many bytes of the two went out.
fn send_head_and_file(
    socket: &TcpStream,
    head: &[std::io::IoSlice<'_>],
    file: &std::fs::File,
    offset: u64,
    body: &[u8],
) -> std::io::Result<usize> {
    let head_len: usize = head.iter().map(|buf| buf.len()).sum();
    let mut sent = 0;
    if head_len > 0 {
        let no_ancillary = &mut rustix::net::SendAncillaryBuffer::default();
        sent = rustix::net::sendmsg(socket, head, no_ancillary, rustix::net::SendFlags::MORE)?;
        if sent < head_len {
            return Ok(sent);
        }
    }
    let file_sent = match rustix::fs::sendfile(socket, file, Some(&mut offset.clone()), body.len()) {
        // A file system that cannot hand its pages to a socket: the mapped bytes, copied as usual.
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
            rustix::net::send(socket, body, rustix::net::SendFlags::empty())
        }
        file_sent => file_sent,
    };
    match file_sent {
        Ok(count) => Ok(sent + count),
        // The head went out: that is this write's progress; the file waits for the next.
        Err(Errno::AGAIN) if sent > 0 => Ok(sent),
        Err(err) => Err(err.into()),
    }
}

impl Drop for EdgeIo {
    fn drop(&mut self) {
        if let (Some(stream), Ok(runtime)) = (self.stream.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(linger(stream, self.slot.take()));
        }
    }
}

/// Shuts the write side (what was written goes out, then a FIN) and reads and drops whatever the client still
/// sends, until it closes or [`LINGER`] has passed; then the socket closes and `slot` is given back.
async fn linger(mut stream: TcpStream, slot: Option<Slot>) {
    let _ = stream.shutdown().await;
    let until = Instant::now() + LINGER;
    let mut sink = [0; 4096];
    while let Ok(Ok(read)) = tokio::time::timeout_at(until, stream.read(&mut sink)).await
        && read > 0
    {}
    drop(slot);
}

/// The 503 for a connection over the cap, whole, as it goes on the wire.
fn refusal_response(limit: u32) -> Bytes {
    let body = serde_json::json!({
        "code": "too_many_connections",
        "message": format!("this address already has {limit} open connections to the server; close some and retry"),
    })
    .to_string();
    let mut response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\nretry-after: 1\r\n",
        body.len()
    );
    for (name, value) in SECURITY_HEADERS {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&body);
    Bytes::from(response)
}

/// Answers a connection over the cap with `response` once its request is there (or after [`REFUSAL_WAIT`]),
/// having read the request first, so the close is a clean FIN and not a reset that would destroy the answer.
/// Bounded (no lingering), since these are the connections of a client that already holds too many.
async fn refuse(mut stream: TcpStream, response: Bytes) {
    let mut request = [0; 8192];
    let _ = tokio::time::timeout(REFUSAL_WAIT, stream.readable()).await;
    let _ = stream.try_read(&mut request);
    if stream.write_all(&response).await.is_ok() {
        let _ = stream.shutdown().await;
    }
}

/// Open connections per client address.
#[derive(Clone, Default)]
struct Sources(Arc<Mutex<HashMap<IpAddr, Source>>>);

struct Source {
    open: u32,
    /// A refusal was logged; reset when the address has no connection left, so a client that keeps hitting the
    /// cap is logged once per burst rather than once per connection.
    warned: bool,
}

impl Sources {
    /// A slot for one more connection from `ip`, or `None` when it already has `limit`.
    fn take(&self, ip: IpAddr, limit: u32) -> Option<Slot> {
        let mut sources = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let source = sources.entry(ip).or_insert(Source { open: 0, warned: false });
        if source.open >= limit {
            if !source.warned {
                source.warned = true;
                tracing::warn!(%ip, limit, "refusing HTTP connections: too many open from this address");
            }
            return None;
        }
        source.open += 1;
        Some(Slot {
            sources: self.clone(),
            ip,
        })
    }
}

/// One open connection of an address; given back when dropped.
struct Slot {
    sources: Sources,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut sources = self.sources.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(source) = sources.get_mut(&self.ip) {
            source.open -= 1;
            if source.open == 0 {
                sources.remove(&self.ip);
            }
        }
    }
}

/// The inner service, with what the edge adds to each exchange: the watchdog told when a request starts and its
/// response ends, the security headers, and `Connection: close` when the request's body was not read.
struct EdgeService<S> {
    inner: S,
    state: Arc<ConnState>,
    peer: Peer,
}

/// The address a request came from, in its extensions (read with `warp::ext::optional::<Peer>()`). warp's own
/// `addr::remote()` only knows what `warp::serve` tells it, and its extension type is private to warp.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub std::net::SocketAddr);

impl<S, B> hyper::service::Service<Request<Incoming>> for EdgeService<S>
where
    S: tower_service::Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body + Unpin,
{
    type Response = Response<ResponseBody<B>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.state.request_started();
        let answering = Answering(self.state.clone());
        let read = Arc::new(AtomicBool::new(request.body().is_end_stream()));
        let mut request = request.map(|body| RequestBody {
            inner: body,
            read: read.clone(),
        });
        request.extensions_mut().insert(self.peer);
        let mut inner = self.inner.clone();
        Box::pin(async move {
            let Ok(()) = std::future::poll_fn(|cx| inner.poll_ready(cx)).await;
            let Ok(mut response) = inner.call(request).await;
            let headers = response.headers_mut();
            for (name, value) in SECURITY_HEADERS {
                headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
            }
            if !read.load(Ordering::Relaxed) {
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response.map(|body| ResponseBody {
                inner: body,
                _answering: answering,
            }))
        })
    }
}

/// A request's body, noting whether it was read to its end.
pub struct RequestBody {
    inner: Incoming,
    read: Arc<AtomicBool>,
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Tells the watchdog that a response has ended when dropped: hyper drops a body once it has sent it (or the
/// connection is gone).
struct Answering(Arc<ConnState>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.response_ended();
    }
}

/// A response's body, holding its [`Answering`] until hyper is done with it.
pub struct ResponseBody<B> {
    inner: B,
    _answering: Answering,
}

impl<B: Body + Unpin> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
