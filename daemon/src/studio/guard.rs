//! Who may talk to the studio page's server: pure checks on a request's
//! path, `Host` and `Origin`, and the headers every answer carries.
//!
//! The page drives a camera, so a request must (1) carry this daemon
//! start's token as the first path segment (`/s/TOKEN/...`), (2) name a
//! loopback host with our port in `Host` (a DNS-rebinding page sends its own
//! name there), and (3) when it changes something (any method but GET and
//! HEAD) or opens a WebSocket, come from our own origin. A cross-origin GET
//! is refused too.

/// Why a request was refused (the answer is 403 with this text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Token,
    Host,
    Origin,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Token => {
                "forbidden: open the studio with the address `bytemeetctl studio` prints (it carries this daemon's token)"
            }
            Refusal::Host => "forbidden: the studio answers only to 127.0.0.1, [::1] and localhost",
            Refusal::Origin => "forbidden: requests from other sites may not use the studio",
        })
    }
}

/// The Content-Security-Policy of every answer: our own scripts, styles,
/// images and requests only; nothing from other sites, no frames, no forms.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; media-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Headers on every answer, refusals included.
pub const HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    // The token is in the path: never send it on as a referrer.
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

/// The checks for one server (its token and port).
#[derive(Clone)]
pub struct Guard {
    token: String,
    port: u16,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs.
        f.debug_struct("Guard").field("port", &self.port).finish()
    }
}

/// A new random token: 128 bits from the kernel, as hex.
pub fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| format!("no randomness for the studio's token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Equal strings, in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Guard {
    pub fn new(token: String, port: u16) -> Self {
        Guard { token, port }
    }

    /// The path every page and API address starts with.
    pub fn prefix(&self) -> String {
        format!("/s/{}/", self.token)
    }

    /// The page's address on `host` (`127.0.0.1` or `[::1]`).
    pub fn url(&self, host: &str) -> String {
        format!("http://{host}:{}{}", self.port, self.prefix())
    }

    fn host_ok(&self, host: &str) -> bool {
        let Some((name, port)) = host.rsplit_once(':') else {
            return false;
        };
        port.parse::<u16>() == Ok(self.port)
            && matches!(
                name.to_ascii_lowercase().as_str(),
                "127.0.0.1" | "[::1]" | "localhost"
            )
    }

    fn origin_ok(&self, origin: &str) -> bool {
        origin
            .strip_prefix("http://")
            .is_some_and(|host| self.host_ok(host))
    }

    /// Whether a request may go on. `changes` is true for every method but
    /// GET and HEAD, and for WebSocket upgrades.
    pub fn check(
        &self,
        path: &str,
        host: Option<&str>,
        origin: Option<&str>,
        changes: bool,
    ) -> Result<(), Refusal> {
        let token = path
            .strip_prefix("/s/")
            .map(|rest| rest.split('/').next().unwrap_or(""))
            .unwrap_or("");
        if !same(token.as_bytes(), self.token.as_bytes()) {
            return Err(Refusal::Token);
        }
        if !host.is_some_and(|h| self.host_ok(h)) {
            return Err(Refusal::Host);
        }
        match origin {
            Some(o) if !self.origin_ok(o) => Err(Refusal::Origin),
            None if changes => Err(Refusal::Origin),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::new("00ff".repeat(8), 4321)
    }

    #[test]
    fn the_page_with_its_token_on_loopback_passes() {
        let g = guard();
        let p = format!("{}api/state", g.prefix());
        for host in [
            "127.0.0.1:4321",
            "[::1]:4321",
            "localhost:4321",
            "LOCALHOST:4321",
        ] {
            assert_eq!(g.check(&p, Some(host), None, false), Ok(()), "{host}");
            let origin = format!("http://{host}");
            assert_eq!(g.check(&p, Some(host), Some(&origin), true), Ok(()));
        }
        assert_eq!(
            g.url("127.0.0.1"),
            format!("http://127.0.0.1:4321/s/{}/", "00ff".repeat(8))
        );
    }

    #[test]
    fn a_missing_or_wrong_token_is_refused() {
        let g = guard();
        let h = Some("127.0.0.1:4321");
        for path in [
            "/",
            "/s/",
            "/s//api/state",
            "/api/state",
            "/s/00ff/api/state",
            &format!("/s/{}/", "00fe".repeat(8)),
            &format!("/s/{}x/", "00ff".repeat(8)),
            &format!("/x/{}/", "00ff".repeat(8)),
        ] {
            assert_eq!(g.check(path, h, None, false), Err(Refusal::Token), "{path}");
        }
    }

    #[test]
    fn foreign_hosts_are_refused_dns_rebinding() {
        let g = guard();
        let p = g.prefix();
        for host in [
            None,
            Some("evil.example:4321"),
            Some("127.0.0.1"),
            Some("127.0.0.1:80"),
            Some("127.0.0.1.evil.example:4321"),
            Some("192.168.1.2:4321"),
            Some("localhost.:4321"),
        ] {
            assert_eq!(
                g.check(&p, host, None, false),
                Err(Refusal::Host),
                "{host:?}"
            );
        }
    }

    #[test]
    fn cross_origin_requests_are_refused_and_changes_need_an_origin() {
        let g = guard();
        let p = format!("{}api/set", g.prefix());
        let h = Some("127.0.0.1:4321");
        for origin in [
            "http://evil.example",
            "https://127.0.0.1:4321",
            "http://127.0.0.1:4322",
            "null",
        ] {
            assert_eq!(g.check(&p, h, Some(origin), true), Err(Refusal::Origin));
            assert_eq!(g.check(&p, h, Some(origin), false), Err(Refusal::Origin));
        }
        assert_eq!(g.check(&p, h, None, true), Err(Refusal::Origin));
    }

    #[test]
    fn tokens_are_fresh_and_long() {
        let a = new_token().expect("token");
        let b = new_token().expect("token");
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
