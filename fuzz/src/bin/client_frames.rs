//! The daemon's Socket.io client reading what a server (or anyone on the
//! path) sends: Engine.IO open packets, pings, events, closes. Never panics;
//! a decoded event re-encodes to a message that decodes the same.

use bytemeet_rooms::client::{classify, open_packet_silence, Frame, Incoming, RoomUrl};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let _ = open_packet_silence(text);
        let _ = RoomUrl::parse(text);
        if let Frame::Event(Incoming::Msg(msg)) = classify(text) {
            let json = serde_json::to_value(&msg).expect("a decoded message encodes");
            let again = format!("42{}", serde_json::json!([json["event"], json["data"]]));
            assert_eq!(classify(&again), Frame::Event(Incoming::Msg(msg)));
        }
    });
}
