//! ByteMeet rooms. `room` is the server's logic, pure: messages in,
//! messages out, no sockets, so every rule is tested directly. The Socket.io
//! and HTTP layer around it is to come (issue "rooms").

pub mod room;
