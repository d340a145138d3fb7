//! The async side of one room: a `Driver` task carries out what the room's
//! [`RoomSession`] decides, with the socket to the room server and one
//! [`Peer`] per participant, and feeds it what happens.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytemeet_proto::RoomState;
use bytemeet_rooms::client::{Connection, Incoming, RoomUrl};
use tokio::sync::{broadcast, mpsc, watch};

use super::encoder::Viewers;
use super::peer::{Peer, PeerEvent};
use super::session::{Input, Output, RoomSession};
use super::{EncodedFrame, RoomInfo};

/// The local address that reaches `authority`: peer connections bind
/// there, so a server on loopback gets loopback candidates and one on the
/// LAN gets the LAN address. The name is resolved without blocking the
/// runtime; connecting a UDP socket sends nothing.
async fn local_ip_towards(authority: &str) -> IpAddr {
    let fallback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let Ok(mut addrs) = tokio::net::lookup_host(authority).await else {
        return fallback;
    };
    let Some(to) = addrs.next() else {
        return fallback;
    };
    let probe = || -> std::io::Result<IpAddr> {
        let any: IpAddr = if to.is_ipv4() {
            Ipv4Addr::UNSPECIFIED.into()
        } else {
            std::net::Ipv6Addr::UNSPECIFIED.into()
        };
        let s = UdpSocket::bind((any, 0))?;
        s.connect(to)?;
        Ok(s.local_addr()?.ip())
    };
    probe().unwrap_or(fallback)
}

/// The driver of one room: carries out what its [`RoomSession`] decides,
/// with the socket to the server and the peer connections, and feeds it
/// what happens.
pub(super) struct Driver {
    pub(super) target: RoomUrl,
    pub(super) info: Arc<Mutex<RoomInfo>>,
    pub(super) frames: broadcast::Sender<Arc<EncodedFrame>>,
    pub(super) keyframe: Arc<AtomicBool>,
    pub(super) viewers: Viewers,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) conn: Option<Connection>,
    pub(super) bind_ip: IpAddr,
    pub(super) peers: HashMap<String, Peer>,
    pub(super) peer_tx: mpsc::UnboundedSender<PeerEvent>,
}

impl Driver {
    fn show(&self, state: &RoomState) {
        let mut info = self.info.lock().unwrap_or_else(|p| p.into_inner());
        if &info.state != state {
            tracing::info!(room = %info.id, state = %state, "room");
            info.state = state.clone();
        }
    }

    pub(super) async fn run(mut self, name: String) {
        let (peer_tx, mut peer_rx) = mpsc::unbounded_channel();
        self.peer_tx = peer_tx;
        let mut session = RoomSession::new(&self.target.room, &name, Instant::now());
        loop {
            while let Some(out) = session.poll_output() {
                if let Some(input) = self.carry_out(out).await {
                    session.handle(input, Instant::now());
                }
            }
            self.show(session.state());
            if session.is_done() {
                break;
            }
            let due = session.poll_timeout();
            let input = tokio::select! {
                ev = recv(&mut self.conn) => Some(match ev {
                    Some(Incoming::Msg(msg)) => Input::Server(msg),
                    Some(Incoming::Unknown(event, _)) => {
                        tracing::debug!(room = %self.target.room, %event, "an event this version does not know: ignored");
                        continue;
                    }
                    None => Input::Lost("the server closed the connection".into()),
                }),
                Some(ev) = peer_rx.recv() => Some(match ev {
                    PeerEvent::Candidate { peer, candidate } => Input::LocalCandidate { peer, candidate },
                    PeerEvent::Connected { peer } => Input::PeerConnected { peer },
                    PeerEvent::Failed { peer } => Input::PeerFailed { peer },
                }),
                _ = sleep_until(due) => None,
                _ = self.stop.changed() => Some(Input::Leave),
            };
            match input {
                Some(input) => session.handle(input, Instant::now()),
                None => session.handle_timeout(Instant::now()),
            }
        }
        self.viewers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Does one thing the session asked for; what came of it, if the
    /// session needs to know.
    async fn carry_out(&mut self, out: Output) -> Option<Input> {
        let room = &self.target.room;
        match out {
            Output::Connect => {
                let open = tokio::select! {
                    c = Connection::open(&self.target.authority) => c,
                    _ = self.stop.changed() => return Some(Input::Leave),
                };
                match open {
                    Ok(conn) => {
                        self.conn = Some(conn);
                        self.bind_ip = local_ip_towards(&self.target.authority).await;
                        Some(Input::Connected)
                    }
                    Err(e) => Some(Input::Lost(e.to_string())),
                }
            }
            Output::Send(msg) => {
                let conn = self.conn.as_ref()?;
                conn.send(&msg)
                    .err()
                    .map(|e| Input::Lost(format!("sending to the room server failed: {e}")))
            }
            Output::Disconnect => {
                if self.conn.is_some() {
                    // Let a goodbye go out before the socket closes.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                self.conn = None;
                None
            }
            Output::Offer { peer } => Some(self.make_peer(peer, None).await),
            Output::Answer { peer, sdp } => Some(self.make_peer(peer, Some(sdp)).await),
            Output::TakeAnswer { peer, sdp } => {
                let p = self.peers.get_mut(&peer)?;
                p.answered(sdp).await.err().map(|e| Input::PeerError {
                    peer,
                    error: e.to_string(),
                })
            }
            Output::AddCandidate { peer, candidate } => {
                if let Some(p) = self.peers.get(&peer) {
                    p.candidate(candidate).await;
                }
                None
            }
            Output::ViewerUp { peer } => {
                if let Some(p) = self.peers.get(&peer) {
                    tracing::info!(%room, %peer, "viewer connected");
                    self.viewers
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(peer, p.feedback.clone());
                }
                None
            }
            Output::ClosePeer { peer } => {
                self.viewers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&peer);
                if let Some(p) = self.peers.remove(&peer) {
                    p.close().await;
                }
                None
            }
        }
    }

    /// A new peer connection for `peer` that offers, or answers `offer`;
    /// kept (for the session to close on an error), and what came of it.
    async fn make_peer(&mut self, peer: String, offer: Option<String>) -> Input {
        let mut p = match self.new_peer(&peer).await {
            Ok(p) => p,
            Err(error) => return Input::PeerError { peer, error },
        };
        let answering = offer.is_some();
        let made = match offer {
            None => p.offer().await,
            Some(sdp) => p.answer(sdp).await,
        };
        self.peers.insert(peer.clone(), p);
        match made {
            Ok(sdp) if answering => Input::LocalAnswer { peer, sdp },
            Ok(sdp) => Input::LocalOffer { peer, sdp },
            Err(e) => Input::PeerError {
                peer,
                error: e.to_string(),
            },
        }
    }

    async fn new_peer(&self, id: &str) -> Result<Peer, String> {
        Peer::new(
            id,
            self.bind_ip,
            &self.frames,
            self.keyframe.clone(),
            self.peer_tx.clone(),
        )
        .await
        .map_err(|e| e.to_string())
    }
}

/// The next event of the connection, or never when there is none.
async fn recv(conn: &mut Option<Connection>) -> Option<Incoming> {
    match conn {
        Some(c) => c.recv().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `due`, or forever when nothing is due.
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_address_towards_loopback_is_loopback() {
        assert_eq!(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(local_ip_towards("127.0.0.1:3030")),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
    }
}
