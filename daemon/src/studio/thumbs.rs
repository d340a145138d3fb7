//! The galleries' pictures: every filter, background and avatar applied to
//! the current camera picture, small, by the same effect chain the frame
//! path runs (its own instance, in lockstep so each tile gets its own mask
//! and face). Rendered every few seconds while a page is open, nothing
//! while none is; the chain and its GPU engine are let go when the last
//! page closes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::control::Hub;
use crate::effects::Effects;
use crate::frame::{Frame, PixelFormat, Size};
use crate::settings::background::BackgroundSpec;
use crate::settings::effects::EffectsState;
use crate::settings::gpu::GpuPreference;

/// The size tiles are rendered at (16:9; the page shows them smaller on
/// narrow screens). Large enough for the face tracker to find a face framed
/// as a webcam frames it.
pub const TILE: Size = Size {
    width: 384,
    height: 216,
};

/// How often the tiles are made again while a page is open.
pub const REFRESH: Duration = Duration::from_secs(5);

/// A page counts as open this long after its last request for the state.
const OPEN_FOR: Duration = Duration::from_secs(10);

/// One gallery tile: what it shows and the effects it stands for.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Tile {
    /// `filter`, `background` or `avatar`.
    pub kind: &'static str,
    /// What the D-Bus method and the CLI take for this choice.
    pub spec: String,
    pub label: String,
    pub description: String,
}

impl Tile {
    /// The key of its picture: `filter:sepia`, `background:scene:moon`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind, self.spec)
    }

    /// The effects shown on the tile: this choice alone.
    pub fn effects(&self) -> Option<EffectsState> {
        let mut e = EffectsState::default();
        match self.kind {
            "filter" => e.filter = Some(self.spec.parse().ok()?),
            "background" => {
                e.background = if self.spec == "none" {
                    BackgroundSpec::None
                } else if let Some(path) = self.spec.strip_prefix("image:") {
                    BackgroundSpec::Image { path: path.into() }
                } else {
                    self.spec.parse().ok()?
                }
            }
            "avatar" => e.avatar = Some(self.spec.clone()),
            _ => return None,
        }
        Some(e)
    }
}

/// The tiles' pictures and the page's activity.
#[derive(Debug)]
pub struct Thumbs {
    images: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    /// Rises with every round of tiles (the page reloads them then).
    generation: AtomicU64,
    /// Milliseconds after `epoch` of the page's last state request.
    seen_ms: AtomicU64,
    epoch: Instant,
}

impl Default for Thumbs {
    fn default() -> Self {
        Thumbs {
            images: Mutex::default(),
            generation: AtomicU64::new(0),
            seen_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl Thumbs {
    /// A page asked for the state: tiles are wanted for a while.
    pub fn page_seen(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64 + 1;
        self.seen_ms.store(ms, Ordering::Relaxed);
    }

    pub fn page_open(&self) -> bool {
        let seen = self.seen_ms.load(Ordering::Relaxed);
        seen > 0 && self.epoch.elapsed().as_millis() as u64 <= seen + OPEN_FOR.as_millis() as u64
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// A tile's picture (JPEG), once rendered.
    pub fn image(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        self.images
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }
}

/// What the thumbnail thread needs to make its own effect chain.
#[derive(Debug, Clone)]
pub struct ChainSettings {
    pub gpu: GpuPreference,
}

/// Starts the thread that renders the tiles `tiles()` lists while a page is
/// open.
pub fn start(
    hub: Arc<Hub>,
    thumbs: Arc<Thumbs>,
    chain: ChainSettings,
    tiles: impl Fn() -> Vec<Tile> + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("studio-thumbs".into())
        .spawn(move || {
            let mut effects: Option<Effects> = None;
            let mut resizer = fast_image_resize::Resizer::new();
            let mut seq = 0u64;
            loop {
                if !thumbs.page_open() {
                    if effects.take().is_some() {
                        tracing::debug!("studio closed: thumbnail chain let go");
                    }
                    std::thread::sleep(Duration::from_millis(300));
                    continue;
                }
                let started = Instant::now();
                // A claim on the source's pictures only while one is taken.
                let picture = hub.source_tap().reader().next(Duration::from_secs(2));
                let Some(picture) = picture else {
                    std::thread::sleep(Duration::from_millis(300));
                    continue;
                };
                let small = match small_rgba(&picture, &mut resizer) {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::warn!("studio thumbnails: {e}");
                        std::thread::sleep(REFRESH);
                        continue;
                    }
                };
                // Tiles find the person as the live chain does.
                let segmenter = hub.effects().segmenter;
                let chain = effects.get_or_insert_with(|| {
                    let mut e =
                        Effects::new(None, BackgroundSpec::None, segmenter.clone(), chain.gpu);
                    e.set_lockstep(true);
                    e.set_hold_perception(true);
                    e
                });
                let mut made = HashMap::new();
                // One picture for every tile of the round, under one `seq`:
                // its person mask and face are found once.
                seq += 1;
                for tile in tiles() {
                    let Some(mut state) = tile.effects() else {
                        continue;
                    };
                    state.segmenter = segmenter.clone();
                    match render(chain, &small, &state, seq) {
                        Ok(jpeg) => {
                            made.insert(tile.key(), Arc::new(jpeg));
                        }
                        Err(e) => tracing::debug!(tile = %tile.key(), "thumbnail: {e}"),
                    }
                }
                *thumbs.images.lock().unwrap_or_else(|p| p.into_inner()) = made;
                thumbs.generation.fetch_add(1, Ordering::Relaxed);
                hub.stats().stage("studio thumbnails", started.elapsed());
                let next = started + REFRESH;
                while Instant::now() < next && thumbs.page_open() {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
}

/// The source picture at tile size, RGBA.
fn small_rgba(picture: &Frame, resizer: &mut fast_image_resize::Resizer) -> Result<Frame, String> {
    let rgba = crate::convert::convert(picture, PixelFormat::Rgba).map_err(|e| e.to_string())?;
    let data = crate::convert::resize_rgba(
        &rgba.data,
        rgba.size,
        TILE,
        None,
        fast_image_resize::FilterType::Bilinear,
        resizer,
    )
    .map_err(|e| e.to_string())?;
    Ok(Frame::new(TILE, PixelFormat::Rgba, data, 0))
}

/// One tile: the picture through the chain with `state`, as JPEG.
fn render(
    chain: &mut Effects,
    small: &Frame,
    state: &EffectsState,
    seq: u64,
) -> Result<Vec<u8>, String> {
    chain.apply(state);
    let mut frame = small.clone();
    frame.seq = seq;
    frame.captured_at = Instant::now();
    let mut done = chain.push(Arc::new(frame), PixelFormat::Rgba);
    done.extend(chain.flush());
    let out = done
        .into_iter()
        .rfind(|f| f.seq == seq)
        .ok_or("the chain returned no picture")?;
    jpeg(&out)
}

/// An RGBA frame as a JPEG.
pub fn jpeg(frame: &Frame) -> Result<Vec<u8>, String> {
    let rgba = if frame.format == PixelFormat::Rgba {
        None
    } else {
        Some(crate::convert::convert(frame, PixelFormat::Rgba).map_err(|e| e.to_string())?)
    };
    let rgba = rgba.as_ref().unwrap_or(frame);
    let rgb: Vec<u8> = rgba
        .data
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode(
            &rgb,
            frame.size.width,
            frame.size.height,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(kind: &'static str, spec: &str) -> Tile {
        Tile {
            kind,
            spec: spec.into(),
            label: spec.into(),
            description: String::new(),
        }
    }

    #[test]
    fn each_tile_stands_for_its_choice_alone() {
        let f = tile("filter", "sepia").effects().expect("filter");
        assert_eq!(f.filter.map(|f| f.name), Some("sepia".into()));
        assert_eq!(f.background, BackgroundSpec::None);
        let b = tile("background", "scene:moon").effects().expect("scene");
        assert_eq!(
            b.background,
            BackgroundSpec::Scene {
                name: "moon".into()
            }
        );
        let n = tile("background", "none").effects().expect("none");
        assert!(n.background.is_none());
        let i = tile("background", "image:/x/y.png")
            .effects()
            .expect("image");
        assert_eq!(
            i.background,
            BackgroundSpec::Image {
                path: "/x/y.png".into()
            }
        );
        let a = tile("avatar", "robot").effects().expect("avatar");
        assert_eq!(a.avatar.as_deref(), Some("robot"));
        assert!(tile("filter", "no-such").effects().is_none());
        assert_eq!(tile("background", "blur").key(), "background:blur");
    }

    #[test]
    fn a_page_is_open_for_a_while_after_its_last_request() {
        let t = Thumbs::default();
        assert!(!t.page_open());
        t.page_seen();
        assert!(t.page_open());
    }

    #[test]
    fn jpeg_of_a_frame_decodes_to_its_size() {
        let f = Frame::black(TILE, PixelFormat::I420);
        let j = jpeg(&f).expect("jpeg");
        let img = image::load_from_memory(&j).expect("decodes");
        assert_eq!((img.width(), img.height()), (TILE.width, TILE.height));
    }
}
