//! The room server's I/O layer: axum serves the room page and its assets,
//! socketioxide carries the signalling. Every Socket.io event goes through
//! the pure `room::Rooms` state machine; this module only numbers
//! connections, stamps the time and delivers what comes out.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use bytemeet_proto::signal::{valid_room, ErrorCode, ServerMsg, MAX_EVENT_BYTES};
use socketioxide::extract::{Event, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::SocketIo;

use crate::guard::{origin_allowed, GuardCounts, GuardHandle, GuardedListener, NetLimits};
use crate::room::{ConnId, Limits, Out, Rooms};

/// The seed app's port, kept as the default.
pub const DEFAULT_PORT: u16 = 3030;

/// How often the server pings a client, and how long it waits for the pong:
/// a peer that vanishes without closing its connection is removed after at
/// most their sum.
pub const PING_INTERVAL: Duration = Duration::from_secs(5);
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Events up to this size reach the room logic, which refuses those over
/// `MAX_EVENT_BYTES` with a `too-large` error; beyond it the transport
/// closes the connection.
const TRANSPORT_MAX_PAYLOAD: u64 = 16 * MAX_EVENT_BYTES as u64;

/// The web page and its assets, built into the binary.
const INDEX_HTML: &str = include_str!("../web/index.html");
const ROOM_JS: &str = include_str!("../web/room.js");
const ROOM_CSS: &str = include_str!("../web/room.css");
const SOCKET_IO_JS: &str = include_str!("../web/vendor/socket.io.min.js");

#[derive(Debug, Default)]
struct ServerState {
    rooms: Rooms,
    sockets: HashMap<ConnId, SocketRef>,
    next_conn: ConnId,
}

impl ServerState {
    fn deliver(&self, out: Vec<Out>) {
        for (conn, msg) in out {
            if let Some(socket) = self.sockets.get(&conn) {
                let (name, data) = msg.to_event();
                // A socket closing as we send is removed by its disconnect
                // handler; nothing else to do here.
                let _ = socket.emit(name, &data);
            }
        }
    }
}

/// A shared handle on the server's state (for counters in tests and logs).
#[derive(Debug, Clone)]
pub struct Server {
    hub: Arc<Mutex<ServerState>>,
    net: Arc<NetLimits>,
    guard: Arc<Mutex<Option<GuardHandle>>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Server {
    pub fn new(limits: Limits) -> Self {
        Self::with_net(limits, NetLimits::default())
    }

    /// A server with its own limits on connections (see `guard`).
    pub fn with_net(limits: Limits, net: NetLimits) -> Self {
        Server {
            hub: Arc::new(Mutex::new(ServerState {
                rooms: Rooms::new(limits),
                ..Default::default()
            })),
            net: Arc::new(net),
            guard: Arc::default(),
        }
    }

    /// The connection guard's counters, once serving.
    pub fn guard_counts(&self) -> Option<GuardCounts> {
        self.guard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(GuardHandle::counts)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ServerState> {
        self.hub.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rooms with someone in them, and connected sockets.
    pub fn counts(&self) -> (usize, usize) {
        let hub = self.lock();
        (hub.rooms.room_count(), hub.sockets.len())
    }

    /// The HTTP service: page, assets and Socket.io.
    pub fn router(&self) -> Router {
        let (layer, io) = SocketIo::builder()
            .ping_interval(PING_INTERVAL)
            .ping_timeout(PING_TIMEOUT)
            .max_payload(TRANSPORT_MAX_PAYLOAD)
            .ws_max_message_size(TRANSPORT_MAX_PAYLOAD as usize)
            .ws_max_frame_size(TRANSPORT_MAX_PAYLOAD as usize)
            .build_layer();
        let server = self.clone();
        // The handlers are set in a connect middleware: it runs before the
        // client is told it is connected, so no early event finds the
        // socket without them (the connect handler runs after).
        let register = move |socket: SocketRef| {
            let server = server.clone();
            async move {
                server.connected(socket);
                Ok::<(), std::convert::Infallible>(())
            }
        };
        io.ns("/", { async || () }.with(register));
        Router::new()
            .route("/", get(new_room))
            .route("/assets/room.js", get(|| asset(ROOM_JS, "text/javascript")))
            .route("/assets/room.css", get(|| asset(ROOM_CSS, "text/css")))
            .route(
                "/assets/socket.io.min.js",
                get(|| asset(SOCKET_IO_JS, "text/javascript")),
            )
            .route("/{room}", get(room_page))
            .layer(layer)
            // Outermost: runs before Socket.io sees the request.
            .layer(axum::middleware::from_fn_with_state(
                self.net.clone(),
                same_origin_only,
            ))
    }

    fn connected(&self, socket: SocketRef) {
        let conn = {
            let mut hub = self.lock();
            hub.next_conn += 1;
            let conn = hub.next_conn;
            hub.sockets.insert(conn, socket.clone());
            conn
        };
        tracing::debug!(conn, "connected");
        let server = self.clone();
        // The work is done in the closure itself, which socketioxide calls in
        // the order events arrive; only the (empty) future it returns is
        // spawned. Doing it inside the future would let a client's events
        // overtake each other (an ICE candidate before its offer).
        socket.on_fallback(
            move |Event(event): Event, TryData(data): TryData<serde_json::Value>| {
                server.event(conn, &event, data);
                std::future::ready(())
            },
        );
        let server = self.clone();
        socket.on_disconnect(move || {
            let server = server.clone();
            async move {
                let mut hub = server.lock();
                hub.sockets.remove(&conn);
                let out = hub.rooms.disconnect(conn);
                hub.deliver(out);
                tracing::debug!(conn, "disconnected");
            }
        });
    }

    fn event<E: std::fmt::Display>(
        &self,
        conn: ConnId,
        event: &str,
        data: Result<serde_json::Value, E>,
    ) {
        let mut hub = self.lock();
        let out = match data {
            Ok(value) => {
                let raw = value.to_string();
                hub.rooms.event(conn, event, &raw, Instant::now(), now_ms())
            }
            Err(e) => vec![(
                conn,
                ServerMsg::Error {
                    code: ErrorCode::Malformed,
                    message: format!("{event}: unreadable payload: {e}"),
                },
            )],
        };
        hub.deliver(out);
    }

    /// Serves until `stop` resolves. Open connections are dropped then, not
    /// waited for: clients reconnect to the next server on their own.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let listener = GuardedListener::new(listener, (*self.net).clone());
        *self.guard.lock().unwrap_or_else(|p| p.into_inner()) = Some(listener.handle());
        tokio::select! {
            r = axum::serve(listener, self.router()) => r,
            () = stop => Ok(()),
        }
    }
}

/// Binds `addr`, saying how to fix the usual failures.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                " (another server is on that port: stop it, or pick another with --port)"
            }
            std::io::ErrorKind::PermissionDenied => " (ports below 1024 need privileges)",
            _ => "",
        };
        format!("cannot listen on {addr}: {e}{hint}")
    })
}

/// A new room id: 16 characters from 62, about 95 bits, so room addresses
/// cannot be guessed.
pub fn new_room_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = String::with_capacity(16);
    while id.len() < 16 {
        let mut bytes = [0u8; 32];
        if getrandom::fill(&mut bytes).is_err() {
            // No system randomness is a broken system; refuse to make a
            // guessable id.
            panic!("the system's random number source is unavailable");
        }
        // 248 = 4 * 62: rejecting higher bytes keeps the draw uniform.
        for b in bytes.into_iter().filter(|&b| b < 248) {
            if id.len() == 16 {
                break;
            }
            id.push(ALPHABET[(b % 62) as usize] as char);
        }
    }
    id
}

async fn new_room() -> Redirect {
    Redirect::to(&format!("/{}", new_room_id()))
}

async fn room_page(Path(room): Path<String>) -> Response {
    if !valid_room(&room) {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "No such page. Room ids are 1-64 letters, digits, '-' or '_'; open / for a new room.\n",
        )
            .into_response();
    }
    let mut response = INDEX_HTML.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Scripts and styles from this server only; no inline script.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'",
        ),
    );
    response
}

/// Browsers send `Origin` on every WebSocket handshake and on cross-site
/// requests: the signalling takes only its own page's (or an allowed one),
/// so another site cannot join rooms in a visitor's name. Clients that are
/// not browsers (the daemon) send none and are let through.
async fn same_origin_only(
    axum::extract::State(net): axum::extract::State<Arc<NetLimits>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.uri().path().starts_with("/socket.io") {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok());
            let ok = origin
                .to_str()
                .is_ok_and(|o| origin_allowed(o, host, &net.allowed_origins));
            if !ok {
                tracing::debug!(?origin, ?host, "cross-origin signalling refused");
                return (
                    StatusCode::FORBIDDEN,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "Cross-origin connections are refused; open the room page on this server, or start it with --allow-origin.\n",
                )
                    .into_response();
            }
        }
    }
    next.run(req).await
}

async fn asset(body: &'static str, kind: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_are_long_valid_and_different() {
        let ids: std::collections::HashSet<String> = (0..200).map(|_| new_room_id()).collect();
        assert_eq!(ids.len(), 200);
        for id in &ids {
            assert_eq!(id.len(), 16);
            assert!(valid_room(id), "{id}");
        }
    }
}
