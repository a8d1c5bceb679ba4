//! Screen URLs of the default binding: `ws://`, `wss://` and `rfb://`.
//!
//! The parser is deliberately small and strict: a declaration names one
//! endpoint, so anything unusual (user info, a missing host, a port that is
//! not a number, a path on an `rfb://` URL) is reported with the URL quoted,
//! before any connection is tried.

use std::fmt;

/// How the RFB bytes travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// WebSocket over plain TCP.
    Ws,
    /// WebSocket over TLS.
    Wss,
    /// RFB directly over TCP.
    Rfb,
}

impl Scheme {
    /// The scheme as written in a URL.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
            Scheme::Rfb => "rfb",
        }
    }

    /// The transport name kept in [`crate::binding::SessionInfo::transport`].
    pub fn transport(&self) -> &'static str {
        match self {
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
            Scheme::Rfb => "tcp",
        }
    }

    /// The port used when the URL names none.
    pub fn default_port(&self) -> u16 {
        match self {
            Scheme::Ws => 80,
            Scheme::Wss => 443,
            Scheme::Rfb => 5900,
        }
    }
}

/// A parsed screen URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenUrl {
    /// The URL as given.
    pub raw: String,
    /// Its scheme.
    pub scheme: Scheme,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (the scheme's default when absent).
    pub port: u16,
    /// Path and query (`/` when absent); always `/` for `rfb://`.
    pub path: String,
}

/// Why a screen URL was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError {
    /// The URL as given.
    pub url: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "screen url {:?}: {}", self.url, self.reason)
    }
}

impl std::error::Error for UrlError {}

impl ScreenUrl {
    /// Parses `ws://host[:port][/path]`, `wss://...` or `rfb://host[:port]`.
    pub fn parse(raw: &str) -> Result<ScreenUrl, UrlError> {
        let err = |reason: String| UrlError {
            url: raw.to_string(),
            reason,
        };
        let trimmed = raw.trim();
        if trimmed != raw || raw.is_empty() {
            return Err(err("empty or surrounded by whitespace".into()));
        }
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(err(
                "missing scheme (expected ws://, wss:// or rfb://)".into()
            ));
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            "rfb" => Scheme::Rfb,
            other => {
                return Err(err(format!(
                    "unsupported scheme {other:?} (expected ws, wss or rfb)"
                )))
            }
        };
        if rest.contains('#') {
            return Err(err("a fragment (#...) has no meaning here".into()));
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.contains('@') {
            return Err(err("user info (user@host) is not supported".into()));
        }
        let (host, port) = split_host_port(authority).map_err(err)?;
        let port = port.unwrap_or_else(|| scheme.default_port());
        let path = match scheme {
            Scheme::Rfb => {
                if !path.is_empty() && path != "/" {
                    return Err(err(format!(
                        "an rfb:// url takes no path or query, found {path:?}"
                    )));
                }
                "/".to_string()
            }
            Scheme::Ws | Scheme::Wss => {
                if path.is_empty() {
                    "/".to_string()
                } else if path.starts_with('?') {
                    format!("/{path}")
                } else {
                    path.to_string()
                }
            }
        };
        if path.chars().any(|c| c.is_ascii_control() || c == ' ') {
            return Err(err("the path holds spaces or control characters".into()));
        }
        Ok(ScreenUrl {
            raw: raw.to_string(),
            scheme,
            host,
            port,
            path,
        })
    }

    /// `host:port` for connecting (IPv6 in brackets).
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL rebuilt for the WebSocket request (scheme, host, port, path).
    pub fn request_url(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme.as_str(),
            self.host_port(),
            self.path
        )
    }
}

/// Splits `host[:port]` or `[v6][:port]`.
fn split_host_port(authority: &str) -> Result<(String, Option<u16>), String> {
    if authority.is_empty() {
        return Err("missing host".into());
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err("unclosed '[' in an IPv6 host".into());
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{v6:?} is not an IPv6 address"));
        }
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(p),
                None => return Err(format!("unexpected {after:?} after the IPv6 host")),
            },
        };
        (v6.to_string(), port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if host.contains(':') {
            return Err(format!("host {host:?} holds ':' (IPv6 needs [brackets])"));
        }
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
        {
            return Err(format!("host {host:?} holds characters a host name cannot"));
        }
        (host.to_string(), port)
    };
    if host.is_empty() {
        return Err("missing host".into());
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(0) => return Err("port 0 cannot be connected to".into()),
            Ok(n) if !p.starts_with('+') => Some(n),
            _ => return Err(format!("port {p:?} is not a number in 1..=65535")),
        },
    };
    Ok((host, port))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_ws_with_port_and_path() {
        let u = ScreenUrl::parse("ws://127.0.0.1:5901/s3-01/v1/screen").unwrap();
        assert_eq!(u.scheme, Scheme::Ws);
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.port, 5901);
        assert_eq!(u.path, "/s3-01/v1/screen");
        assert_eq!(u.request_url(), "ws://127.0.0.1:5901/s3-01/v1/screen");
    }

    #[test]
    fn applies_default_ports_and_paths() {
        let u = ScreenUrl::parse("ws://terminal.local").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
        let u = ScreenUrl::parse("wss://terminal.local?token=1").unwrap();
        assert_eq!((u.port, u.path.as_str()), (443, "/?token=1"));
        let u = ScreenUrl::parse("rfb://10.0.0.5").unwrap();
        assert_eq!((u.scheme, u.port), (Scheme::Rfb, 5900));
        assert_eq!(u.scheme.transport(), "tcp");
    }

    #[test]
    fn parses_bracketed_ipv6() {
        let u = ScreenUrl::parse("rfb://[::1]:5900/").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.host_port(), "[::1]:5900");
    }

    #[test]
    fn rejects_bad_urls_naming_the_url() {
        for bad in [
            "",
            " ws://a:1",
            "http://a:1/",
            "a:1",
            "ws://",
            "ws://:80/",
            "ws://a:port/",
            "ws://a:70000/",
            "ws://a:0/",
            "ws://user@a:1/",
            "rfb://a:5900/path",
            "ws://[::1/",
            "ws://a b:1/",
            "ws://a:1/x#frag",
            "ws://::1:80/",
        ] {
            let e = ScreenUrl::parse(bad).expect_err(bad);
            assert_eq!(e.url, bad);
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }
}
