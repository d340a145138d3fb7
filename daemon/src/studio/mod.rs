//! ByteMeet Studio: a page the daemon serves to this machine only, where a
//! user sees the output live and picks a look by its picture.
//!
//! - `guard`: the token, `Host` and `Origin` checks and the headers of every
//!   answer (pure, unit-tested).
//! - `thumbs`: the galleries' pictures, rendered from the current camera
//!   picture by an effect chain of their own while a page is open.
//! - here: `Studio`, started on first use (`OpenStudio` over D-Bus) or at
//!   start, serving on 127.0.0.1 and ::1 from a thread and runtime of its
//!   own; the page and its API, with the page's state pushed to it as
//!   server-sent events (`api/events`) on every change. Every change goes through the D-Bus
//!   service's own `apply_*` methods, so the page, the CLI and D-Bus follow
//!   one set of rules and one state (the `Hub`). The live preview is
//!   `room::preview` (the rooms' encoder and peers), with a JPEG picture
//!   polled as the page's fallback when WebRTC cannot connect.

pub mod guard;
pub mod thumbs;

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::control::dbus::CameraService;
use crate::room::preview::Preview;
use crate::settings::background::{self, SCENES};
use crate::settings::filter::FILTERS;
pub use crate::settings::studio::StudioSettings;
use guard::Guard;
use thumbs::{ChainSettings, Thumbs, Tile};

/// The studio service: nothing runs until it is opened.
#[derive(Debug)]
pub struct Studio {
    service: CameraService,
    settings: StudioSettings,
    chain: ChainSettings,
    fps: f64,
    /// The page's address once the server runs.
    running: Mutex<Option<String>>,
}

impl Studio {
    pub fn new(
        service: CameraService,
        settings: StudioSettings,
        chain: ChainSettings,
        fps: f64,
    ) -> Arc<Self> {
        Arc::new(Studio {
            service,
            settings,
            chain,
            fps,
            running: Mutex::new(None),
        })
    }

    /// Starts the server on first use; the page's address (with its token).
    pub fn open(&self) -> Result<String, String> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(url) = &*running {
            return Ok(url.clone());
        }
        let url = self.start()?;
        tracing::info!("studio page at {}", url.split("/s/").next().unwrap_or(&url));
        *running = Some(url.clone());
        Ok(url)
    }

    fn start(&self) -> Result<String, String> {
        let v4 = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, self.settings.port)).map_err(
            |e| {
                format!(
                    "the studio cannot listen on 127.0.0.1:{}: {e}{}",
                    self.settings.port,
                    if self.settings.port != 0 {
                        " (set another [studio] port in the config, or 0 for any free one)"
                    } else {
                        ""
                    }
                )
            },
        )?;
        let port = v4.local_addr().map_err(|e| e.to_string())?.port();
        // The same port on ::1 where this machine has IPv6 loopback.
        let v6 = std::net::TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port)))
            .map_err(|e| tracing::debug!("studio: no [::1]:{port} ({e})"))
            .ok();
        let guard = Guard::new(guard::new_token()?, port);
        let url = guard.url("127.0.0.1");
        let hub = self.service.hub().clone();
        let thumbs = Arc::new(Thumbs::default());
        thumbs::start(hub.clone(), thumbs.clone(), self.chain.clone(), tiles)
            .map_err(|e| format!("cannot start the studio's thumbnails: {e}"))?;
        let service = self.service.clone();
        let fps = self.fps;
        std::thread::Builder::new()
            .name("studio".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("studio-io")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!("the studio cannot start its runtime: {e}");
                        return;
                    }
                };
                rt.block_on(async move {
                    let app = Arc::new(App {
                        preview: Preview::new(hub.room_tap().clone(), hub.stats().clone(), fps),
                        service,
                        thumbs,
                        guard,
                        tiles: Mutex::new(None),
                    });
                    let router = router(app);
                    let mut tasks = Vec::new();
                    for l in std::iter::once(v4).chain(v6) {
                        let serve = l
                            .set_nonblocking(true)
                            .and_then(|()| tokio::net::TcpListener::from_std(l));
                        match serve {
                            Ok(l) => {
                                let r = router.clone();
                                tasks.push(tokio::spawn(async move {
                                    if let Err(e) = axum::serve(l, r).await {
                                        tracing::error!("studio server stopped: {e}");
                                    }
                                }));
                            }
                            Err(e) => tracing::error!("studio listener: {e}"),
                        }
                    }
                    for t in tasks {
                        let _ = t.await;
                    }
                });
            })
            .map_err(|e| format!("cannot start the studio's thread: {e}"))?;
        Ok(url)
    }
}

impl crate::control::dbus::StudioPage for Studio {
    fn open(&self) -> Result<String, String> {
        Studio::open(self)
    }
}

/// What the handlers share.
struct App {
    service: CameraService,
    thumbs: Arc<Thumbs>,
    preview: Arc<Preview>,
    guard: Guard,
    /// The galleries, listed again every few seconds (new packs show).
    tiles: Mutex<Option<(Instant, Arc<Vec<Tile>>)>>,
}

impl App {
    fn tiles(&self) -> Arc<Vec<Tile>> {
        let mut t = self.tiles.lock().unwrap_or_else(|p| p.into_inner());
        match &*t {
            Some((at, tiles)) if at.elapsed() < Duration::from_secs(5) => tiles.clone(),
            _ => {
                let fresh = Arc::new(tiles());
                *t = Some((Instant::now(), fresh.clone()));
                fresh
            }
        }
    }
}

/// Every gallery tile: the filters (but `lut`, which needs a file), the
/// backgrounds (none, blur, the scenes, the user's own pictures) and the
/// installed avatar packs.
pub fn tiles() -> Vec<Tile> {
    let mut out: Vec<Tile> = FILTERS
        .iter()
        .filter(|f| f.name != "lut")
        .map(|f| Tile {
            kind: "filter",
            spec: f.name.to_string(),
            label: f.name.to_string(),
            description: f.description.to_string(),
        })
        .collect();
    out.push(Tile {
        kind: "background",
        spec: "none".into(),
        label: "none".into(),
        description: "the camera's own picture".into(),
    });
    out.push(Tile {
        kind: "background",
        spec: "blur".into(),
        label: "blur".into(),
        description: "the room behind you blurred".into(),
    });
    out.extend(SCENES.iter().map(|s| Tile {
        kind: "background",
        spec: format!("scene:{}", s.name),
        label: s.name.to_string(),
        description: s.description.to_string(),
    }));
    out.extend(user_backgrounds().into_iter().map(|p| {
        Tile {
            kind: "background",
            spec: format!("image:{}", p.display()),
            label: p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            description: format!("your picture {}", p.display()),
        }
    }));
    let cat = crate::avatar::pack::Catalogue::installed();
    out.extend(cat.packs.iter().map(|p| Tile {
        kind: "avatar",
        spec: p.manifest.name.clone(),
        label: p.manifest.name.clone(),
        description: p.manifest.description.clone(),
    }));
    out
}

/// Pictures in the user's backgrounds directory (PNG and JPEG, at most 50,
/// by name).
fn user_backgrounds() -> Vec<std::path::PathBuf> {
    let Some(dir) = bytemeet_proto::backgrounds_dir() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<_> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension().is_some_and(|x| {
                    ["png", "jpg", "jpeg"].contains(&x.to_string_lossy().to_lowercase().as_str())
                })
        })
        .collect();
    found.sort();
    found.truncate(50);
    found
}

const INDEX_HTML: &str = include_str!("../../web/studio/index.html");
const STUDIO_JS: &str = include_str!("../../web/studio/studio.js");
const STUDIO_CSS: &str = include_str!("../../web/studio/studio.css");

fn router(app: Arc<App>) -> Router {
    let p = app.guard.prefix();
    Router::new()
        .route(
            &p,
            get(|| async { typed("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            &format!("{p}studio.js"),
            get(|| async { typed("text/javascript; charset=utf-8", STUDIO_JS) }),
        )
        .route(
            &format!("{p}studio.css"),
            get(|| async { typed("text/css; charset=utf-8", STUDIO_CSS) }),
        )
        .route(&format!("{p}api/state"), get(state))
        .route(&format!("{p}api/events"), get(events))
        .route(&format!("{p}api/tiles"), get(tile_list))
        .route(&format!("{p}api/thumb"), get(thumb))
        .route(&format!("{p}api/set"), post(set))
        .route(&format!("{p}api/room"), post(room))
        .route(&format!("{p}api/snapshot.png"), get(snapshot))
        .route(&format!("{p}api/frame.jpg"), get(frame_jpeg))
        .route(&format!("{p}api/preview"), post(preview_offer))
        .route(&format!("{p}api/preview/close"), post(preview_close))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such page in the studio") })
        .layer(axum::middleware::from_fn_with_state(app.clone(), checked))
        .with_state(app)
}

fn typed(content_type: &'static str, body: impl Into<Body>) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body.into()).into_response()
}

fn json(value: &serde_json::Value) -> Response {
    typed("application/json", value.to_string())
}

fn refused(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "error": msg.to_string() }).to_string(),
    )
        .into_response()
}

/// Every request passes the guard first; every answer gets the headers.
async fn checked(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD)
        || headers.contains_key(header::UPGRADE);
    let verdict = app.guard.check(
        req.uri().path(),
        text(header::HOST),
        text(header::ORIGIN),
        changes,
    );
    let mut resp = match verdict {
        Ok(()) => next.run(req).await,
        Err(why) => {
            tracing::debug!(
                path_len = req.uri().path().len(),
                "studio refused a request: {why:?}"
            );
            (StatusCode::FORBIDDEN, why.to_string()).into_response()
        }
    };
    for (k, v) in guard::HEADERS {
        resp.headers_mut().insert(*k, HeaderValue::from_static(v));
    }
    resp
}

/// Everything the page shows that changes: effects, camera, outputs,
/// rooms, figures; and the round of thumbnails to load.
async fn state(State(app): State<Arc<App>>, Query(q): Query<HashMap<String, String>>) -> Response {
    json(&state_of(&app, &q).await)
}

/// The page's state, as `api/state` answers it and `api/events` pushes it.
/// `thumbs=off`: a page that shows no galleries (the benchmark's
/// preview-only phase) does not keep the thumbnails going.
async fn state_of(app: &App, q: &HashMap<String, String>) -> serde_json::Value {
    if q.get("thumbs").map(String::as_str) != Some("off") {
        app.thumbs.page_seen();
    }
    let hub = app.service.hub();
    let e = hub.effects();
    let rooms: Vec<_> = app
        .service
        .room_service()
        .list()
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id, "url": r.url, "name": r.name, "state": r.state.to_string()
            })
        })
        .collect();
    serde_json::json!({
        "effects": {
            "filter": e.filter.as_ref().map(|f| f.to_string()).unwrap_or_default(),
            "filter_name": e.filter.as_ref().map(|f| f.name.clone()).unwrap_or_default(),
            "filter_params": e.filter.as_ref().map(|f| f.params.clone()).unwrap_or_default(),
            "background": e.background.to_string(),
            "avatar": e.avatar.clone().unwrap_or_default(),
            "segmenter": e.segmenter.to_string(),
        },
        "camera_active": hub.camera_active(),
        "source": hub.source().to_string(),
        "outputs": hub.outputs(),
        "rooms": rooms,
        "stats": hub.stats().snapshot(),
        "thumbs": app.thumbs.generation(),
        "preview_viewers": app.preview.viewers().await,
    })
}

/// How often the pushed state is sent when nothing changed: the figures,
/// the rooms' states and the thumbnails' round move on their own.
const EVENTS_TICK: Duration = Duration::from_secs(1);

/// The page's state pushed as server-sent events: at once, on every change
/// (a filter set with `bytemeetctl` shows at once), and every second for
/// the figures. It ends when the page goes.
async fn events(State(app): State<Arc<App>>, Query(q): Query<HashMap<String, String>>) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let changes = app.service.hub().subscribe();
    let stream = futures_util::stream::unfold(
        (app, q, changes, true),
        |(app, q, mut changes, first)| async move {
            if !first {
                tokio::select! {
                    r = changes.changed() => {
                        // The hub is gone: the daemon is stopping.
                        r.ok()?;
                    }
                    _ = tokio::time::sleep(EVENTS_TICK) => {}
                }
            }
            changes.borrow_and_update();
            let data = state_of(&app, &q).await.to_string();
            let event = Event::default().event("state").data(data);
            Some((
                Ok::<_, std::convert::Infallible>(event),
                (app, q, changes, false),
            ))
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The galleries and each filter's parameters.
async fn tile_list(State(app): State<Arc<App>>) -> Response {
    let tiles = tokio::task::spawn_blocking({
        let app = app.clone();
        move || app.tiles()
    })
    .await
    .unwrap_or_default();
    let params: HashMap<&str, Vec<serde_json::Value>> = FILTERS
        .iter()
        .map(|f| {
            (
                f.name,
                f.params
                    .iter()
                    .map(|p| {
                        serde_json::json!({
                            "name": p.name, "default": p.default, "min": p.min, "max": p.max
                        })
                    })
                    .collect(),
            )
        })
        .collect();
    json(&serde_json::json!({
        "tiles": *tiles,
        "filter_params": params,
        "blur": {
            "default": background::DEFAULT_BLUR,
            "min": background::BLUR_RANGE.start(),
            "max": background::BLUR_RANGE.end(),
        },
    }))
}

#[derive(Deserialize)]
struct ThumbQuery {
    tile: String,
}

async fn thumb(State(app): State<Arc<App>>, Query(q): Query<ThumbQuery>) -> Response {
    match app.thumbs.image(&q.tile) {
        Some(jpeg) => typed("image/jpeg", jpeg.as_ref().clone()),
        None => refused(StatusCode::NOT_FOUND, "this tile is not drawn yet"),
    }
}

/// A request's JSON body as `T`, or why it is not one (answered with 400).
fn body_of<T: serde::de::DeserializeOwned>(body: &str, what: &str) -> Result<T, String> {
    serde_json::from_str(body).map_err(|e| format!("bad {what}: {e}"))
}

/// A change, as the D-Bus methods take it.
#[derive(Deserialize)]
struct Change {
    /// `filter`, `background`, `avatar`, `segmenter` or `clear`.
    what: String,
    #[serde(default)]
    spec: String,
}

async fn set(State(app): State<Arc<App>>, body: String) -> Response {
    let change: Change = match body_of(&body, "change") {
        Ok(v) => v,
        Err(e) => return refused(StatusCode::BAD_REQUEST, e),
    };
    let s = &app.service;
    let done = match change.what.as_str() {
        "filter" => s.apply_filter(&change.spec).await,
        "background" => s.apply_background(&change.spec).await,
        "avatar" => s.apply_avatar(&change.spec).await,
        "segmenter" => s.apply_segmenter(&change.spec).await,
        "clear" => {
            s.clear();
            Ok(())
        }
        other => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!("cannot change {other:?}: filter, background, avatar, segmenter or clear"),
            )
        }
    };
    match done {
        Ok(()) => json(&serde_json::json!({ "ok": true })),
        Err(e) => refused(StatusCode::BAD_REQUEST, e),
    }
}

#[derive(Deserialize)]
struct RoomChange {
    /// `join` or `leave`.
    action: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    id: String,
}

async fn room(State(app): State<Arc<App>>, body: String) -> Response {
    let change: RoomChange = match body_of(&body, "room change") {
        Ok(v) => v,
        Err(e) => return refused(StatusCode::BAD_REQUEST, e),
    };
    let s = &app.service;
    let done = match change.action.as_str() {
        "join" => s.apply_join(&change.url, &change.name, 0).await,
        "leave" => s.apply_leave(&change.id).await.map(|()| change.id.clone()),
        other => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!("cannot {other:?} a room: join or leave"),
            )
        }
    };
    match done {
        Ok(id) => json(&serde_json::json!({ "ok": true, "id": id })),
        Err(e) => refused(StatusCode::BAD_REQUEST, e),
    }
}

/// The next output picture as a PNG download.
async fn snapshot(State(app): State<Arc<App>>) -> Response {
    let rx = app.service.hub().request_snapshot();
    let frame = match tokio::time::timeout(crate::control::dbus::SNAPSHOT_TIMEOUT, rx).await {
        Ok(Ok(Ok(f))) => f,
        Ok(Ok(Err(why))) => return refused(StatusCode::SERVICE_UNAVAILABLE, why),
        _ => {
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "no picture came from the camera",
            )
        }
    };
    let png = tokio::task::spawn_blocking(move || {
        let rgba = crate::convert::convert(&frame, crate::frame::PixelFormat::Rgba)
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        crate::sink::png::encode_png(&rgba, &mut out).map_err(|e| e.to_string())?;
        Ok::<_, String>(out)
    })
    .await;
    match png {
        Ok(Ok(png)) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"bytemeet-snapshot.png\"",
                ),
            ],
            png,
        )
            .into_response(),
        Ok(Err(e)) => refused(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// The page's fallback preview: the newest output picture as a JPEG.
async fn frame_jpeg(State(app): State<Arc<App>>) -> Response {
    let tap = app.service.hub().room_tap().clone();
    let jpeg = tokio::task::spawn_blocking(move || {
        let mut reader = tap.reader();
        let frame = reader
            .next(Duration::from_secs(2))
            .ok_or("no picture within 2 s")?;
        thumbs::jpeg(&frame)
    })
    .await;
    match jpeg {
        Ok(Ok(j)) => typed("image/jpeg", j),
        Ok(Err(e)) => refused(StatusCode::SERVICE_UNAVAILABLE, e),
        Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[derive(Deserialize)]
struct Offer {
    sdp: String,
}

async fn preview_offer(State(app): State<Arc<App>>, body: String) -> Response {
    let offer: Offer = match body_of(&body, "offer") {
        Ok(v) => v,
        Err(e) => return refused(StatusCode::BAD_REQUEST, e),
    };
    match app.preview.answer(offer.sdp).await {
        Ok((id, sdp, candidates)) => json(&serde_json::json!({
            "id": id,
            "sdp": sdp,
            "candidates": candidates,
        })),
        Err(e) => refused(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

#[derive(Deserialize)]
struct Close {
    id: String,
}

async fn preview_close(State(app): State<Arc<App>>, body: String) -> Response {
    match body_of::<Close>(&body, "close") {
        Ok(c) => {
            app.preview.close(&c.id).await;
            json(&serde_json::json!({ "ok": true }))
        }
        Err(e) => refused(StatusCode::BAD_REQUEST, e),
    }
}
