//! The room server's logic (`bytemeet_rooms::room::Rooms`) fed arbitrary
//! Socket.io events from four connections, with disconnects: it must never
//! panic, and its limits must hold after every step.

use std::time::{Duration, Instant};

use bytemeet_rooms::room::{Limits, Rooms};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let limits = Limits {
            peers_per_room: 3,
            rooms: 2,
            ..Limits::default()
        };
        let mut rooms = Rooms::new(limits);
        let start = Instant::now();
        for (i, (conn, event, payload)) in bytemeet_fuzz::steps(data).into_iter().enumerate() {
            let now = start + Duration::from_millis(100 * i as u64);
            if event == "bye" {
                rooms.disconnect(conn);
            } else {
                rooms.event(conn, &event, &payload, now, 1_700_000_000_000 + i as u64);
            }
            assert!(rooms.room_count() <= 2, "room limit broken");
        }
    });
}
