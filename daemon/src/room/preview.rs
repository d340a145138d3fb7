//! The studio page's live preview: the rooms' own encoder thread and peer
//! connections, signalled over the studio's HTTP channel instead of the
//! rooms' Socket.io. The page offers (its candidates inside the SDP); the
//! daemon answers, and gives its own candidates with the answer, so one
//! request and its reply make the whole negotiation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytemeet_proto::signal::Candidate;
use tokio::sync::{broadcast, mpsc, watch, Mutex};

use super::encoder::{encode_loop, EncoderCtx, Viewers};
use super::peer::{Peer, PeerEvent};
use super::tap::FrameTap;
use super::{EncodedFrame, RoomSettings};
use crate::stats::Stats;

/// The most pages previewing at once; one more is refused with the reason.
pub const MAX_VIEWERS: usize = 4;

/// How long the answer waits for our candidates: gathering on loopback
/// takes milliseconds, the rest is a bound.
const GATHER_MAX: Duration = Duration::from_secs(2);
const GATHER_QUIET: Duration = Duration::from_millis(150);

/// Every page's preview. The encoder runs while a page is connected.
pub struct Preview {
    tap: Arc<FrameTap>,
    stats: Arc<Stats>,
    fps: u32,
    next_id: AtomicU64,
    state: Mutex<State>,
    /// Candidates of a peer whose answer is being made, routed to it.
    gathering: Arc<std::sync::Mutex<HashMap<String, mpsc::UnboundedSender<Candidate>>>>,
}

impl std::fmt::Debug for Preview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preview").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    peers: HashMap<String, Peer>,
    encoder: Option<Encoder>,
    events: Option<mpsc::UnboundedSender<PeerEvent>>,
}

struct Encoder {
    frames: broadcast::Sender<Arc<EncodedFrame>>,
    keyframe: Arc<AtomicBool>,
    viewers: Viewers,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Encoder {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        // The thread ends within its 200 ms wait for a picture; it is not
        // joined here, which may run on an async task.
        drop(self.thread.take());
    }
}

impl Preview {
    pub fn new(tap: Arc<FrameTap>, stats: Arc<Stats>, fps: f64) -> Arc<Self> {
        Arc::new(Preview {
            tap,
            stats,
            fps: (fps.round() as u32).clamp(1, 60),
            next_id: AtomicU64::new(1),
            state: Mutex::new(State::default()),
            gathering: Arc::default(),
        })
    }

    /// Pages connected or connecting.
    pub async fn viewers(&self) -> usize {
        self.state.lock().await.peers.len()
    }

    /// Takes a page's offer: a new peer sending the output picture. Returns
    /// the peer's id, our answer and our candidates.
    pub async fn answer(
        self: &Arc<Self>,
        offer: String,
    ) -> Result<(String, String, Vec<Candidate>), String> {
        let mut state = self.state.lock().await;
        if state.peers.len() >= MAX_VIEWERS {
            return Err(format!(
                "{MAX_VIEWERS} pages already show the preview; close one and reload"
            ));
        }
        let events = match &state.events {
            Some(tx) => tx.clone(),
            None => {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(self.clone().route(rx));
                state.events = Some(tx.clone());
                tx
            }
        };
        if state.encoder.is_none() {
            state.encoder = Some(self.start_encoder()?);
        }
        let enc = state.encoder.as_ref().ok_or("no encoder")?;
        let id = format!("studio-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let (cand_tx, mut cand_rx) = mpsc::unbounded_channel();
        self.gathering_lock().insert(id.clone(), cand_tx);
        let made = async {
            let mut peer = Peer::new(
                &id,
                std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                &enc.frames,
                enc.keyframe.clone(),
                events,
            )
            .await
            .map_err(|e| e.to_string())?;
            let answer = peer.answer(offer).await.map_err(|e| e.to_string());
            Ok::<_, String>((peer, answer))
        }
        .await;
        let (peer, answer) = match made {
            Ok(x) => x,
            Err(e) => {
                self.gathering_lock().remove(&id);
                return Err(e);
            }
        };
        state.peers.insert(id.clone(), peer);
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                self.gathering_lock().remove(&id);
                if let Some(p) = state.peers.remove(&id) {
                    p.close().await;
                }
                self.stop_if_idle(&mut state);
                return Err(e);
            }
        };
        drop(state);
        let mut candidates = Vec::new();
        let deadline = tokio::time::Instant::now() + GATHER_MAX;
        loop {
            let wait = if candidates.is_empty() {
                deadline
            } else {
                (tokio::time::Instant::now() + GATHER_QUIET).min(deadline)
            };
            match tokio::time::timeout_at(wait, cand_rx.recv()).await {
                Ok(Some(c)) => candidates.push(c),
                _ => break,
            }
        }
        self.gathering_lock().remove(&id);
        tracing::info!(peer = %id, candidates = candidates.len(), "studio preview answered");
        Ok((id, answer, candidates))
    }

    /// A page closing its preview (or leaving).
    pub async fn close(&self, id: &str) {
        let mut state = self.state.lock().await;
        self.forget(&mut state, id).await;
    }

    async fn forget(&self, state: &mut State, id: &str) {
        if let Some(enc) = &state.encoder {
            enc.viewers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(id);
        }
        if let Some(p) = state.peers.remove(id) {
            p.close().await;
        }
        self.stop_if_idle(state);
    }

    /// No page left: the encoder stops, and with it the claim on pictures.
    fn stop_if_idle(&self, state: &mut State) {
        if state.peers.is_empty() && state.encoder.take().is_some() {
            tracing::info!("studio preview stopped: no page watches");
        }
    }

    fn gathering_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<Candidate>>> {
        self.gathering.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn start_encoder(&self) -> Result<Encoder, String> {
        let (frames, _) = broadcast::channel::<Arc<EncodedFrame>>(8);
        let keyframe = Arc::new(AtomicBool::new(true));
        let viewers: Viewers = Arc::default();
        let (stop, stop_rx) = watch::channel(false);
        let mut ctx = EncoderCtx {
            reader: self.tap.reader(),
            frames: frames.clone(),
            keyframe: keyframe.clone(),
            viewers: viewers.clone(),
            stop: stop_rx,
            // The page shows the preview at most 640 wide: half of a 720p
            // picture is all it can show, at a quarter of the encoding.
            settings: RoomSettings {
                half_size: true,
                ..RoomSettings::default()
            },
            fps: self.fps,
            stats: self.stats.clone(),
            room: "studio".into(),
            stamp: std::env::var_os(super::stamp::ENV).is_some_and(|v| v == "1"),
        };
        let thread = crate::supervise::spawn("studio-encode", move || encode_loop(&mut ctx))
            .map_err(|e| format!("cannot start the preview's encoder: {e}"))?;
        Ok(Encoder {
            frames,
            keyframe,
            viewers,
            stop,
            thread: Some(thread),
        })
    }

    /// What the peers report: candidates to the answer being made, a page
    /// connected (it gets pictures from then on), a page gone.
    async fn route(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<PeerEvent>) {
        while let Some(ev) = rx.recv().await {
            match ev {
                PeerEvent::Candidate { peer, candidate } => {
                    if let Some(tx) = self.gathering_lock().get(&peer) {
                        let _ = tx.send(candidate);
                    }
                }
                PeerEvent::Connected { peer } => {
                    let state = self.state.lock().await;
                    if let (Some(enc), Some(p)) = (&state.encoder, state.peers.get(&peer)) {
                        tracing::info!(%peer, "studio preview connected");
                        enc.viewers
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(peer, p.feedback.clone());
                    }
                }
                PeerEvent::Failed { peer } => {
                    tracing::info!(%peer, "studio preview gone");
                    let mut state = self.state.lock().await;
                    self.forget(&mut state, &peer).await;
                }
            }
        }
    }
}
