//! Plain settings types: what the command line, the config file, D-Bus, the
//! saved state and the CLI name and exchange. Parse, print and validate only:
//! no I/O, no GPU, no threads, so every module that needs to name a setting
//! imports it from here and nothing above it.

pub mod background;
pub mod effects;
pub mod filter;
pub mod gpu;
pub mod output;
pub mod source;
