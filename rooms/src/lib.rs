//! ByteMeet rooms. `room` is the server's logic, pure: messages in,
//! messages out, no sockets, so every rule is tested directly. `server` is
//! the thin HTTP and Socket.io layer around it (feature `server`), with
//! `guard`, its limits on connections and origins; `client`
//! is a small Socket.io client speaking the same protocol, for the daemon,
//! the load client and tests.

pub mod client;
#[cfg(feature = "server")]
pub mod guard;
pub mod room;
#[cfg(feature = "server")]
pub mod server;
