//! `bytemeet-rooms`: the ByteMeet room server. `GET /` makes a new room and
//! redirects to it; `GET /ROOM` serves the room page; Socket.io carries the
//! signalling (docs/signalling.md).

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use bytemeet_rooms::guard::NetLimits;
use bytemeet_rooms::room::Limits;
use bytemeet_rooms::server::{bind, Server, DEFAULT_PORT};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(version, about = "The ByteMeet room server")]
struct Args {
    /// Address to listen on (0.0.0.0 or :: for every interface).
    #[arg(long, default_value = "127.0.0.1", env = "BYTEMEET_ROOMS_ADDR")]
    addr: IpAddr,
    /// Port to listen on (0: any free port, printed on start).
    #[arg(long, default_value_t = DEFAULT_PORT, env = "BYTEMEET_ROOMS_PORT")]
    port: u16,
    /// Most peers in one room.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(2..=64))]
    peers_per_room: u16,
    /// Most rooms at once.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    rooms: u32,
    /// Most open connections from one address (IPv6: one /64).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    conns_per_addr: u32,
    /// New connections one address may open per second (bursts of three
    /// times as many).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    new_conns_per_sec: u32,
    /// Most open connections in all (each holds a file descriptor).
    #[arg(long, default_value_t = 8192, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    conns: u32,
    /// A browser origin besides this server's own that may use the
    /// signalling (`https://meet.example.org`); repeat for more.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
}

/// Raises the soft limit on open files to the hard one: each connection
/// holds one, and the default soft limit (1024) is below `--conns`.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "bytemeet_rooms=info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    raise_fd_limit();
    let net = NetLimits {
        per_addr: args.conns_per_addr as usize,
        total: args.conns as usize,
        new_per_sec: f64::from(args.new_conns_per_sec),
        new_burst: 3.0 * f64::from(args.new_conns_per_sec),
        allowed_origins: args.allow_origins.clone(),
        ..NetLimits::default()
    };
    let limits = Limits {
        peers_per_room: usize::from(args.peers_per_room),
        rooms: args.rooms as usize,
        ..Limits::default()
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bytemeet-rooms: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match bind(SocketAddr::new(args.addr, args.port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("bytemeet-rooms: {e}");
                return ExitCode::FAILURE;
            }
        };
        let local = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        // The first line on stdout is the address, for scripts and tests.
        println!("http://{local}/");
        tracing::info!(%local, ?limits, "serving rooms; open http://{local}/ for a new room");
        let server = Server::with_net(limits, net);
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        let stop = async move {
            tokio::select! { _ = shutdown => {}, _ = term => {} }
        };
        match server.serve(listener, stop).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bytemeet-rooms: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_defaults_are_the_room_logic_defaults() {
        let args = Args::parse_from(["bytemeet-rooms"]);
        let d = Limits::default();
        assert_eq!(usize::from(args.peers_per_room), d.peers_per_room);
        assert_eq!(args.rooms as usize, d.rooms);
        assert_eq!(args.port, 3030);
        let n = NetLimits::default();
        assert_eq!(args.conns_per_addr as usize, n.per_addr);
        assert_eq!(args.conns as usize, n.total);
        assert_eq!(f64::from(args.new_conns_per_sec), n.new_per_sec);
        assert_eq!(3.0 * n.new_per_sec, n.new_burst);
    }
}
