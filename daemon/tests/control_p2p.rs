//! The D-Bus interface as the daemon serves it, called through the proxy the
//! CLI uses, over a peer-to-peer socket pair: every method and property, the
//! named errors, and `PropertiesChanged`. Any drift between the two sides
//! (a renamed member, a changed signature) fails here.

use std::sync::Arc;
use std::time::Duration;

use bytemeet_proto::{CameraProxy, StatsSnapshot, OBJECT_PATH};
use bytemeetd::control::dbus::{announce_changes, CameraService};
use bytemeetd::control::Hub;
use bytemeetd::frame::{Frame, PixelFormat, Size};
use bytemeetd::settings::background::BackgroundSpec;
use bytemeetd::settings::effects::EffectsState;
use bytemeetd::settings::source::SourceSpec;
use bytemeetd::stats::Stats;
use futures_util::StreamExt;
use zbus::proxy::CacheProperties;

async fn pair(hub: Arc<Hub>) -> (zbus::Connection, CameraProxy<'static>) {
    let (a, b) = tokio::net::UnixStream::pair().expect("socket pair");
    let guid = zbus::Guid::generate();
    let server = zbus::connection::Builder::unix_stream(a)
        .server(guid)
        .expect("guid")
        .p2p()
        .serve_at(
            OBJECT_PATH,
            CameraService::new(hub.clone(), None, rooms_of(&hub)),
        )
        .expect("serve")
        .build();
    let client = zbus::connection::Builder::unix_stream(b).p2p().build();
    let (server, client) = tokio::try_join!(server, client).expect("handshake");
    let cam = CameraProxy::builder(&client)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .expect("proxy");
    (server, cam)
}

/// The D-Bus error name and message of a failed call.
fn error_of(r: zbus::Result<impl std::fmt::Debug>) -> (String, String) {
    match r {
        Err(zbus::Error::MethodError(name, msg, _)) => (name.to_string(), msg.unwrap_or_default()),
        other => panic!("expected a D-Bus error, got {other:?}"),
    }
}

/// The D-Bus error name of a failed call.
fn error_name(r: zbus::Result<impl std::fmt::Debug>) -> String {
    error_of(r).0
}

fn hub() -> Arc<Hub> {
    Arc::new(Hub::new(
        EffectsState::default(),
        SourceSpec::Demo,
        Arc::new(Stats::new()),
    ))
}

const E: &str = "org.bytemeet.Camera1.Error.";

#[tokio::test]
async fn every_member_answers_through_the_shared_proxy() {
    let hub = hub();
    let (_server, cam) = pair(hub.clone()).await;

    let filters = cam.list_filters().await.expect("filters");
    assert!(filters.len() >= 11 && filters.iter().any(|(n, d)| n == "toon" && !d.is_empty()));
    let bgs = cam.list_backgrounds().await.expect("backgrounds");
    assert!(bgs.iter().any(|(n, _)| n == "scene:moon"));
    assert!(bgs.iter().any(|(n, _)| n == "blur"));
    let avatars = cam.list_avatars().await.expect("avatars");
    assert!(avatars.len() >= 8, "{avatars:?}");
    assert!(avatars
        .iter()
        .any(|(n, d)| n == "dragon" && d.contains("(full)")));

    // Filters.
    cam.set_filter("posterize:levels=4")
        .await
        .expect("posterize");
    assert_eq!(cam.filter().await.expect("prop"), "posterize:levels=4");
    assert_eq!(
        hub.effects().filter.map(|f| f.params["levels"]),
        Some(4.0),
        "the hub holds what the frame path reads"
    );
    assert_eq!(
        error_name(cam.set_filter("sparkles").await),
        format!("{E}UnknownFilter")
    );
    assert_eq!(
        error_name(cam.set_filter("posterize:levels=99").await),
        format!("{E}InvalidArgument")
    );
    assert_eq!(
        error_name(cam.set_filter("lut:relative.cube").await),
        format!("{E}InvalidArgument")
    );
    assert_eq!(
        cam.filter().await.expect("prop"),
        "posterize:levels=4",
        "a refused call changes nothing"
    );
    cam.set_filter("off").await.expect("off");
    assert_eq!(cam.filter().await.expect("prop"), "");

    // Backgrounds: a bare scene name, a spec, pictures checked before use.
    cam.set_background("moon").await.expect("scene by name");
    assert_eq!(cam.background().await.expect("prop"), "scene:moon");
    cam.set_background("blur:20").await.expect("blur");
    assert_eq!(
        hub.effects().background,
        BackgroundSpec::Blur { strength: 20.0 }
    );
    let dir = tempfile::tempdir().expect("tmp");
    let not_a_picture = dir.path().join("notes.png");
    std::fs::write(&not_a_picture, b"hello").expect("write");
    for bad in [
        "image:relative.png".to_string(),
        "/nonexistent/bg.png".to_string(),
        format!("image:{}", not_a_picture.display()),
        "blur:500".to_string(),
    ] {
        assert_eq!(
            error_name(cam.set_background(&bad).await),
            format!("{E}InvalidArgument"),
            "{bad}"
        );
    }
    assert_eq!(
        error_name(cam.set_background("scene:atlantis").await),
        format!("{E}UnknownBackground")
    );
    let picture = dir.path().join("bg.png");
    image::RgbaImage::from_pixel(64, 48, image::Rgba([10, 20, 200, 255]))
        .save(&picture)
        .expect("png");
    cam.set_background(picture.to_str().expect("utf8"))
        .await
        .expect("a real picture");
    assert_eq!(
        cam.background().await.expect("prop"),
        format!("image:{}", picture.display())
    );

    // Avatars and clearing.
    assert_eq!(
        error_name(cam.set_avatar("unicorn").await),
        format!("{E}UnknownAvatar")
    );
    cam.set_avatar("dragon").await.expect("dragon");
    assert_eq!(cam.avatar().await.expect("prop"), "dragon");
    assert_eq!(hub.effects().avatar.as_deref(), Some("dragon"));
    cam.set_avatar("").await.expect("off");
    assert_eq!(cam.avatar().await.expect("prop"), "");
    // The segmenter: checked, shown as it parses back, kept by clear.
    assert_eq!(cam.segmenter().await.expect("prop"), "model");
    for bad in ["magic", "chroma:mauve", "chroma:#12345"] {
        assert_eq!(
            error_name(cam.set_segmenter(bad).await),
            format!("{E}InvalidArgument"),
            "{bad}"
        );
    }
    assert_eq!(cam.segmenter().await.expect("prop"), "model");
    cam.set_segmenter("chroma:#ff00aa").await.expect("pink");
    assert_eq!(cam.segmenter().await.expect("prop"), "chroma:#FF00AA");
    cam.set_segmenter("Chroma:blue").await.expect("blue");
    assert_eq!(cam.segmenter().await.expect("prop"), "chroma:blue");
    cam.set_filter("toon").await.expect("toon");
    cam.clear_effects().await.expect("clear");
    assert_eq!(
        hub.effects(),
        EffectsState {
            segmenter: "chroma:blue".parse().expect("spec"),
            ..EffectsState::default()
        }
    );
    cam.set_segmenter("model").await.expect("model");
    assert_eq!(hub.effects(), EffectsState::default());

    // Sources.
    assert_eq!(
        error_name(cam.set_source("v4l2:/dev/video99").await),
        format!("{E}NoSuchDevice")
    );
    assert_eq!(
        error_name(cam.set_source("webcam please").await),
        format!("{E}InvalidArgument")
    );
    assert_eq!(
        error_name(cam.set_source("file:clip.y4m").await),
        format!("{E}InvalidArgument")
    );
    cam.set_source("auto").await.expect("auto");
    assert_eq!(cam.source().await.expect("prop"), "auto");
    assert_eq!(hub.source(), SourceSpec::Auto);

    // Rooms: bad addresses, names and ceilings are refused before anything
    // is joined (joining itself is tested against a real room server in
    // tests/rooms.rs).
    for (url, name, kbps) in [
        ("ftp://x/y", "me", 0),
        ("http://127.0.0.1:3030/", "me", 0),
        ("https://127.0.0.1:3030/abc", "me", 0),
        ("http://127.0.0.1:3030/a b", "me", 0),
        ("http://127.0.0.1:3030/abc", "bell\u{7}", 0),
        ("http://127.0.0.1:3030/abc", "me", 20),
        // A bare room id needs `[rooms] server`.
        ("abc", "me", 0),
    ] {
        assert_eq!(
            error_name(cam.join_room(url, name, kbps).await),
            format!("{E}InvalidArgument"),
            "{url} {name} {kbps}"
        );
    }
    assert_eq!(
        error_name(cam.leave_room("abc").await),
        format!("{E}InvalidArgument")
    );
    assert_eq!(cam.rooms().await.expect("prop"), vec![]);
    cam.reload().await.expect("nothing to reload");
    // A service made without the studio page says so (the daemon's own has
    // it: `studio.rs` opens it through the CLI).
    assert_eq!(error_name(cam.open_studio().await), format!("{E}Failed"));

    // What the pipeline reports.
    hub.set_outputs(vec!["virtual camera /dev/video10".into()]);
    hub.set_camera_active(true);
    hub.stats().frame_in(std::time::Instant::now());
    assert_eq!(
        cam.outputs().await.expect("prop"),
        vec!["virtual camera /dev/video10".to_string()]
    );
    assert!(cam.camera_active().await.expect("prop"));
    let stats = StatsSnapshot::from_dict(&cam.stats().await.expect("prop"));
    assert_eq!(stats.frames_in, 1);
}

#[tokio::test]
async fn snapshot_writes_the_next_frame_or_says_why_not() {
    let hub = hub();
    let (_server, cam) = pair(hub.clone()).await;
    let dir = tempfile::tempdir().expect("tmp");
    assert_eq!(
        error_name(cam.snapshot("shot.png").await),
        format!("{E}InvalidArgument")
    );
    let txt = dir.path().join("shot.txt");
    assert_eq!(
        error_name(cam.snapshot(txt.to_str().expect("utf8")).await),
        format!("{E}InvalidArgument")
    );

    // The frame loop's part, played by a thread: answer once asked.
    let answer = |reply: Result<(), String>| {
        let hub = hub.clone();
        std::thread::spawn(move || {
            while !hub.snapshot_wanted() {
                std::thread::sleep(Duration::from_millis(2));
            }
            let size = Size::new(32, 16);
            let mut data = vec![0u8; PixelFormat::Rgba.frame_len(32, 16)];
            data.chunks_mut(4)
                .for_each(|p| p.copy_from_slice(&[200, 40, 10, 255]));
            let frame = Frame::new(size, PixelFormat::Rgba, data, 1);
            hub.answer_snapshots(reply.map(|()| Arc::new(frame)));
        })
    };
    let shot = dir.path().join("shot.png");
    let t = answer(Ok(()));
    cam.snapshot(shot.to_str().expect("utf8"))
        .await
        .expect("snapshot");
    t.join().expect("thread");
    let img = image::open(&shot).expect("a png").to_rgba8();
    assert_eq!(img.dimensions(), (32, 16));
    assert_eq!(img.get_pixel(3, 3).0, [200, 40, 10, 255]);

    let t = answer(Err("/dev/video0 was unplugged".into()));
    let r = cam.snapshot(shot.to_str().expect("utf8")).await;
    t.join().expect("thread");
    let (name, msg) = error_of(r);
    assert_eq!(name, format!("{E}CameraUnavailable"));
    assert!(msg.contains("unplugged"), "{msg}");
}

#[tokio::test]
async fn changes_are_announced_whoever_makes_them() {
    let hub = hub();
    let (server, cam) = pair(hub.clone()).await;
    tokio::spawn(announce_changes(server, hub.clone(), rooms_of(&hub)));
    // Change streams follow the property cache, so this proxy keeps one.
    let cam = CameraProxy::builder(cam.inner().connection())
        .build()
        .await
        .expect("caching proxy");
    let mut filter = cam.receive_filter_changed().await;
    let mut active = cam.receive_camera_active_changed().await;
    // A change through D-Bus...
    cam.set_filter("sepia").await.expect("sepia");
    // ...and one from elsewhere (the config file, the frame loop).
    hub.update_effects(|e| e.filter = Some("invert".parse().expect("filter")));
    hub.set_camera_active(true);
    let wait = Duration::from_secs(5);
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("invert") {
        let ch = tokio::time::timeout(wait, filter.next())
            .await
            .expect("announced in time")
            .expect("stream");
        seen.push(ch.get().await.expect("value"));
    }
    assert!(seen.len() <= 2, "{seen:?}");
    let ch = tokio::time::timeout(wait, active.next())
        .await
        .expect("announced in time")
        .expect("stream");
    assert!(ch.get().await.expect("value"));
}

/// A rooms service fed by the hub's tap, as `main` makes it.
fn rooms_of(hub: &Arc<Hub>) -> Arc<bytemeetd::room::Rooms> {
    Arc::new(bytemeetd::room::Rooms::new(
        hub.room_tap().clone(),
        hub.stats().clone(),
        30.0,
    ))
}
