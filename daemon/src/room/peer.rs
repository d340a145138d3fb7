//! One viewer in a room: a WebRTC peer connection (the `webrtc` crate) that
//! sends the room's VP8 stream. It owns a congestion-control estimate (GCC
//! over transport-wide feedback), passes keyframe requests (PLI, FIR) up to
//! the room's encoder, and starts sending only once connected, with a
//! keyframe.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytemeet_proto::signal::Candidate;
use rtc::interceptor::{
    Attribute, BandwidthEstimator, EstimatorStats, Gcc, Interceptor, Packet, PacketReport,
    Registry, StreamInfo, TaggedPacket,
};
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_congestion_control, register_default_interceptors, CongestionFeedback,
};
use rtc::peer_connection::configuration::media_engine::{MediaEngine, MIME_TYPE_VP8};
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use rtc::sansio::Protocol;
use std::collections::VecDeque;
use tokio::sync::{broadcast, mpsc};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState,
};

use super::EncodedFrame;

/// Where congestion control starts, and its bounds (bits per second). The
/// room's own ceiling (its `max_kbps`) caps what the encoder is asked for.
const INITIAL_BPS: f64 = 1_000_000.0;
const MIN_BPS: f64 = 100_000.0;
const MAX_BPS: f64 = 8_000_000.0;

const VP8_PAYLOAD: u8 = 96;

/// What a peer tells its room.
#[derive(Debug)]
pub enum PeerEvent {
    /// A local ICE candidate to signal to `peer`.
    Candidate {
        peer: String,
        candidate: Candidate,
    },
    /// The connection came up, or went down for good.
    Connected {
        peer: String,
    },
    Failed {
        peer: String,
    },
}

/// What the encoder needs from every peer: its bandwidth estimate and its
/// keyframe requests.
#[derive(Debug, Default)]
pub struct Feedback {
    /// The estimate in bits per second (f64 bits); 0 until connected.
    pub target_bps: AtomicU64,
    pub connected: AtomicBool,
}

impl Feedback {
    pub fn target_bps(&self) -> f64 {
        f64::from_bits(self.target_bps.load(Ordering::Relaxed))
    }
}

/// The estimator, wrapped so the estimate it arrives at reaches the
/// encoder: it lives inside the interceptor chain, out of the app's reach.
struct Publishing {
    inner: Gcc,
    feedback: Arc<Feedback>,
}

impl Publishing {
    fn publish(&self) {
        self.feedback
            .target_bps
            .store(self.inner.target_bitrate().to_bits(), Ordering::Relaxed);
    }
}

impl BandwidthEstimator for Publishing {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.inner.on_reports(now, reports);
        self.publish();
    }
    fn target_bitrate(&self) -> f64 {
        self.inner.target_bitrate()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
        self.publish();
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
    fn stats(&self) -> EstimatorStats {
        self.inner.stats()
    }
}

/// Marks inbound keyframe requests (PLI, FIR) for the application: the
/// default chain consumes all inbound RTCP, and only the encoder can answer
/// these. Everything else stops here as before.
#[derive(Default)]
struct KeyframeRequests {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

fn is_keyframe_request(p: &dyn rtc::rtcp::Packet) -> bool {
    let any = p.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let wanted: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| is_keyframe_request(p.as_ref()))
                .cloned()
                .collect();
            if wanted.is_empty() {
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(wanted);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read.push_back(msg);
        Ok(())
    }
    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }
    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }
    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

struct Events {
    peer: String,
    tx: mpsc::UnboundedSender<PeerEvent>,
    feedback: Arc<Feedback>,
    connected: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.tx.send(PeerEvent::Candidate {
                peer: self.peer.clone(),
                candidate: Candidate {
                    candidate: init.candidate,
                    sdp_mid: init.sdp_mid,
                    sdp_m_line_index: init.sdp_mline_index,
                },
            });
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(peer = %self.peer, %state, "peer connection");
        match state {
            RTCPeerConnectionState::Connected => {
                self.feedback.connected.store(true, Ordering::Relaxed);
                self.connected.notify_one();
                let _ = self.tx.send(PeerEvent::Connected {
                    peer: self.peer.clone(),
                });
            }
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                self.feedback.connected.store(false, Ordering::Relaxed);
                let _ = self.tx.send(PeerEvent::Failed {
                    peer: self.peer.clone(),
                });
            }
            RTCPeerConnectionState::Disconnected => {
                self.feedback.connected.store(false, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// One viewer.
pub struct Peer {
    pub id: String,
    pc: Arc<dyn PeerConnection>,
    pub feedback: Arc<Feedback>,
    /// Remote candidates that came before the remote description.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer").field("id", &self.id).finish()
    }
}

/// Why a peer could not be set up or negotiated.
#[derive(Debug, thiserror::Error)]
#[error("peer {peer}: {what}: {reason}")]
pub struct PeerError {
    peer: String,
    what: &'static str,
    reason: String,
}

/// Maps a library error to a `PeerError` saying which step failed.
fn failed(
    peer: &str,
) -> impl Fn(&'static str) -> Box<dyn FnOnce(rtc::shared::error::Error) -> PeerError + Send> {
    let peer = peer.to_string();
    move |what| {
        let peer = peer.clone();
        Box::new(move |e| PeerError {
            peer,
            what,
            reason: e.to_string(),
        })
    }
}

fn vp8_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

impl Peer {
    /// A new peer connection to `id`, its UDP socket on `bind_ip`, sending
    /// what `frames` carries once connected.
    pub async fn new(
        id: &str,
        bind_ip: std::net::IpAddr,
        frames: &broadcast::Sender<Arc<EncodedFrame>>,
        keyframe: Arc<AtomicBool>,
        events: mpsc::UnboundedSender<PeerEvent>,
    ) -> Result<Peer, PeerError> {
        let err = failed(id);
        let mut media = MediaEngine::default();
        media
            .register_codec(
                RTCRtpCodecParameters {
                    rtp_codec: vp8_codec(),
                    payload_type: VP8_PAYLOAD,
                },
                RtpCodecKind::Video,
            )
            .map_err(err("codec"))?;
        media.register_feedback(
            rtc::rtp_transceiver::rtp_sender::RTCPFeedback {
                typ: "ccm".into(),
                parameter: "fir".into(),
            },
            RtpCodecKind::Video,
        );
        let feedback = Arc::new(Feedback::default());
        let registry = configure_congestion_control(
            Registry::new(),
            Publishing {
                inner: Gcc::new(INITIAL_BPS, MIN_BPS, MAX_BPS),
                feedback: feedback.clone(),
            },
            CongestionFeedback::Twcc,
            &mut media,
        )
        .map_err(err("congestion control"))?;
        let registry =
            register_default_interceptors(registry, &mut media).map_err(err("interceptors"))?;
        let registry = registry.with(
            rtc::interceptor::Slot::from(14_000),
            KeyframeRequests::default(),
        );
        let handler = Arc::new(Events {
            peer: id.to_string(),
            tx: events,
            feedback: feedback.clone(),
            connected: tokio::sync::Notify::new(),
        });
        let runtime = webrtc::runtime::default_runtime().ok_or_else(|| PeerError {
            peer: id.to_string(),
            what: "runtime",
            reason: "no async runtime".into(),
        })?;
        let pc = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .with_handler(handler.clone())
            .with_runtime(runtime)
            .with_udp_addrs(vec![SocketAddr::new(bind_ip, 0)])
            .build()
            .await
            .map_err(err("create"))?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let track = Arc::new(
            TrackLocalStaticSample::new(
                Instant::now(),
                MediaStreamTrack::new(
                    "bytemeet".into(),
                    "bytemeet-camera".into(),
                    "ByteMeet camera".into(),
                    RtpCodecKind::Video,
                    vec![RTCRtpEncodingParameters {
                        rtp_coding_parameters: RTCRtpCodingParameters {
                            ssrc: Some(ssrc_for(id)),
                            ..Default::default()
                        },
                        codec: vp8_codec(),
                        ..Default::default()
                    }],
                ),
            )
            .map_err(err("track"))?,
        );
        pc.add_track(track.clone() as Arc<dyn TrackLocal>)
            .await
            .map_err(err("add track"))?;

        let mut tasks = Vec::new();
        // Keyframe requests from this viewer reach the room's encoder.
        {
            let track = track.clone();
            let keyframe = keyframe.clone();
            let peer = id.to_string();
            tasks.push(tokio::spawn(async move {
                while let Some(ev) = track.poll().await {
                    let TrackLocalEvent::OnRtcpPacket(packets) = ev else {
                        continue;
                    };
                    if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
                        tracing::debug!(%peer, "keyframe requested");
                        keyframe.store(true, Ordering::Relaxed);
                    }
                }
            }));
        }
        // Sending starts once connected, with a keyframe.
        {
            let mut rx = frames.subscribe();
            let peer = id.to_string();
            let handler = handler.clone();
            tasks.push(tokio::spawn(async move {
                handler.connected.notified().await;
                keyframe.store(true, Ordering::Relaxed);
                let ssrc = ssrc_for(&peer);
                let mut waiting_for_key = true;
                loop {
                    let frame = match rx.recv().await {
                        Ok(f) => f,
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::debug!(%peer, n, "viewer fell behind; asking for a keyframe");
                            keyframe.store(true, Ordering::Relaxed);
                            waiting_for_key = true;
                            continue;
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    };
                    if waiting_for_key && !frame.keyframe {
                        continue;
                    }
                    waiting_for_key = false;
                    let sample = Sample {
                        data: frame.data.clone(),
                        duration: frame.duration,
                        ..Sample::new(frame.captured_at)
                    };
                    if let Err(e) = track
                        .sample_writer(ssrc, VP8_PAYLOAD)
                        .write_sample(&sample)
                        .await
                    {
                        tracing::debug!(%peer, "send stopped: {e}");
                        break;
                    }
                }
            }));
        }
        Ok(Peer {
            id: id.to_string(),
            pc,
            feedback,
            tasks,
        })
    }

    /// Our offer's SDP.
    pub async fn offer(&self) -> Result<String, PeerError> {
        let offer = self
            .pc
            .create_offer(None)
            .await
            .map_err(failed(&self.id)("offer"))?;
        self.set_local(offer).await
    }

    /// Takes the viewer's offer; returns our answer's SDP.
    pub async fn answer(&mut self, sdp: String) -> Result<String, PeerError> {
        let err = failed(&self.id);
        self.set_remote(RTCSessionDescription::offer(sdp).map_err(err("offer"))?)
            .await?;
        let answer = self.pc.create_answer(None).await.map_err(err("answer"))?;
        self.set_local(answer).await
    }

    /// Takes the viewer's answer to our offer.
    pub async fn answered(&mut self, sdp: String) -> Result<(), PeerError> {
        let answer = RTCSessionDescription::answer(sdp).map_err(failed(&self.id)("answer"))?;
        self.set_remote(answer).await
    }

    /// Sets our description; its SDP, for the other side.
    async fn set_local(&self, desc: RTCSessionDescription) -> Result<String, PeerError> {
        let sdp = desc.sdp.clone();
        self.pc
            .set_local_description(desc)
            .await
            .map_err(failed(&self.id)("local description"))?;
        Ok(sdp)
    }

    /// Sets the other side's description.
    async fn set_remote(&mut self, desc: RTCSessionDescription) -> Result<(), PeerError> {
        self.pc
            .set_remote_description(desc)
            .await
            .map_err(failed(&self.id)("remote description"))?;
        Ok(())
    }

    /// A remote candidate. The room session keeps those that come before
    /// the remote description and gives them after it.
    pub async fn candidate(&self, c: Candidate) {
        let init = RTCIceCandidateInit {
            candidate: c.candidate,
            sdp_mid: c.sdp_mid,
            sdp_mline_index: c.sdp_m_line_index,
            ..Default::default()
        };
        if let Err(e) = self.pc.add_ice_candidate(init).await {
            // Candidates this stack cannot use (mDNS names, TCP) are
            // expected; the others still connect.
            tracing::debug!(peer = %self.id, "candidate not used: {e}");
        }
    }

    /// Closes the connection; the viewer sees the track end.
    pub async fn close(self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Err(e) = tokio::time::timeout(Duration::from_secs(2), self.pc.close()).await {
            tracing::debug!(peer = %self.id, "close: {e}");
        }
    }
}

/// A stable SSRC per peer id, distinct between peers of one room.
fn ssrc_for(peer: &str) -> u32 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    peer.hash(&mut h);
    (h.finish() as u32) | 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::receiver_report::ReceiverReport;

    fn inbound(packets: Vec<Box<dyn rtc::rtcp::Packet>>) -> TaggedPacket {
        TaggedPacket {
            now: Instant::now(),
            transport: Default::default(),
            message: Packet::Rtcp(packets).into(),
        }
    }

    #[test]
    fn keyframe_requests_reach_the_app_and_other_feedback_stops() {
        let mut k = KeyframeRequests::default();
        // A receiver report alone is the interceptors' business.
        k.handle_read(inbound(vec![Box::new(ReceiverReport::default())]))
            .expect("read");
        assert!(k.poll_read().is_none());
        // A PLI in a compound packet is passed on, marked, and alone.
        k.handle_read(inbound(vec![
            Box::new(ReceiverReport::default()),
            Box::new(PictureLossIndication {
                sender_ssrc: 1,
                media_ssrc: 2,
            }),
        ]))
        .expect("read");
        let out = k.poll_read().expect("passed on");
        assert!(out.message.has(&Attribute::DeliverToApplication));
        let Packet::Rtcp(packets) = &out.message.packet else {
            panic!("not RTCP");
        };
        assert_eq!(packets.len(), 1);
        assert!(is_keyframe_request(packets[0].as_ref()));
        // So is a FIR.
        k.handle_read(inbound(vec![Box::new(FullIntraRequest::default())]))
            .expect("read");
        assert!(k.poll_read().is_some());
    }

    #[test]
    fn peers_of_a_room_get_distinct_ssrcs() {
        let ids: std::collections::HashSet<u32> =
            (0..100).map(|i| ssrc_for(&format!("p{i}"))).collect();
        assert_eq!(ids.len(), 100);
        assert_eq!(ssrc_for("p1"), ssrc_for("p1"));
    }
}
