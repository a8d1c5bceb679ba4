//! Why a request to the terminal's data API got no answer, in the user's
//! terms: which address refused, what the terminal did wrong on the wire.
//!
//! The HTTP stack reports failures as nested library errors whose debug
//! form (`hyper_util::client::legacy::Error(Connect, ...)`) means nothing
//! to a vendor reading a check's detail. [`RequestError::from_client`]
//! walks such an error's chain of causes and names what happened instead;
//! nothing here ever shows a library type, an error code or debug output.

use std::error::Error as StdError;

use serde::Serialize;

use crate::binding::tls::TlsConnectError;
use crate::config::declaration::input_file::io_reason;

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RequestError {
    /// No complete answer within the timeout.
    #[error("no answer within {after_ms} ms")]
    Timeout {
        /// The timeout.
        after_ms: u64,
    },
    /// Nothing listens at the terminal's address.
    #[error("connection to {addr} refused")]
    Refused {
        /// `host:port`.
        addr: String,
    },
    /// The TCP connection was not accepted in time.
    #[error("timed out connecting to {addr}")]
    ConnectTimeout {
        /// `host:port`.
        addr: String,
    },
    /// The terminal's host name does not resolve.
    #[error("cannot find the address of {host} (the host name does not resolve)")]
    Resolve {
        /// The host name.
        host: String,
    },
    /// Connecting failed otherwise (no route, network down ...).
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// Why, in words.
        reason: String,
    },
    /// The TLS handshake failed.
    #[error("{addr}: {reason}")]
    Tls {
        /// `host:port`.
        addr: String,
        /// Why (`TLS handshake failed: ...`).
        reason: String,
    },
    /// The terminal closed the connection without sending an answer.
    #[error("the terminal closed the connection before answering")]
    Closed,
    /// The terminal reset the connection without sending an answer.
    #[error("the terminal reset the connection before answering")]
    Reset,
    /// The answer's head (status line and headers) exceeded the client's limits.
    #[error("the answer's headers are over the limit")]
    HeadersTooLarge,
    /// What came back is not an HTTP/1.1 answer.
    #[error("the answer is not HTTP/1.1: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: String,
    },
    /// The answer's head arrived, its body could not be read.
    #[error("the answer's body could not be read: {reason}")]
    Body {
        /// Why.
        reason: String,
    },
    /// Any other failure of the exchange.
    #[error("HTTP exchange failed: {detail}")]
    Http {
        /// What happened, in words.
        detail: String,
    },
    /// The answer body was over [`super::client::MAX_RESPONSE`].
    #[error("answer body over the {limit}-byte limit")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The request could not be built.
    #[error("bad request URL {url}: {detail}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        detail: String,
    },
}

/// The causes of `e`, `e` first.
fn chain<'a>(
    e: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> + 'a {
    std::iter::successors(Some(e), |e: &&'a (dyn StdError + 'static)| (*e).source())
}

fn find<'a, T: StdError + 'static>(e: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    chain(e).find_map(|e| e.downcast_ref::<T>())
}

/// What an unexpected failure says, in words: the causes' messages (I/O
/// errors without their code), each once. The wrapper of the HTTP client
/// (`client error (Connect)`) says nothing and is left out.
pub(crate) fn plain_causes(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in chain(e) {
        if c.downcast_ref::<hyper_util::client::legacy::Error>()
            .is_some()
        {
            continue;
        }
        let text = match c.downcast_ref::<std::io::Error>() {
            Some(io) => io_reason(io),
            None => c.to_string(),
        };
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    if parts.is_empty() {
        "the connection failed".to_string()
    } else {
        parts.join(": ")
    }
}

/// Why reading a body failed, in words (shared with the push receiver).
pub(crate) fn body_reason(e: &(dyn StdError + 'static)) -> String {
    if let Some(h) = find::<hyper::Error>(e) {
        if h.is_incomplete_message() {
            return "the connection closed before the body was complete".into();
        }
    }
    if let Some(io) = find::<std::io::Error>(e) {
        return match io.kind() {
            std::io::ErrorKind::ConnectionReset => {
                "the connection was reset before the body was complete".into()
            }
            std::io::ErrorKind::UnexpectedEof => {
                "the connection closed before the body was complete".into()
            }
            _ => io_reason(io),
        };
    }
    plain_causes(e)
}

impl RequestError {
    /// Names what went wrong in `e`, an error of the HTTP client from a
    /// request to `addr` (`host:port`) on `host`.
    pub fn from_client(e: &hyper_util::client::legacy::Error, addr: &str, host: &str) -> Self {
        Self::classify(e, e.is_connect(), addr, host)
    }

    /// [`Self::from_client`] on any error chain; `connecting` says whether
    /// the failure happened while connecting.
    fn classify(e: &(dyn StdError + 'static), connecting: bool, addr: &str, host: &str) -> Self {
        let addr = addr.to_string();
        if let Some(t) = find::<TlsConnectError>(e) {
            return RequestError::Tls {
                addr,
                reason: t.to_string(),
            };
        }
        if let Some(h) = find::<hyper::Error>(e) {
            if h.is_parse_too_large() {
                return RequestError::HeadersTooLarge;
            }
            if h.is_parse_status() {
                return RequestError::Malformed {
                    reason: "the status line is invalid".into(),
                };
            }
            if h.is_parse() {
                return RequestError::Malformed {
                    reason: h.to_string(),
                };
            }
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                return RequestError::Closed;
            }
        }
        if connecting && chain(e).any(|c| c.to_string() == "dns error") {
            return RequestError::Resolve {
                host: host.to_string(),
            };
        }
        if let Some(io) = find::<std::io::Error>(e) {
            use std::io::ErrorKind;
            return match io.kind() {
                ErrorKind::ConnectionRefused => RequestError::Refused { addr },
                ErrorKind::TimedOut if connecting => RequestError::ConnectTimeout { addr },
                ErrorKind::ConnectionReset => RequestError::Reset,
                ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof => {
                    RequestError::Closed
                }
                _ if connecting => RequestError::Connect {
                    addr,
                    reason: io_reason(io),
                },
                _ => RequestError::Http {
                    detail: io_reason(io),
                },
            };
        }
        if connecting {
            return RequestError::Connect {
                addr,
                reason: plain_causes(e),
            };
        }
        RequestError::Http {
            detail: plain_causes(e),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    /// An error with one cause, like the connector's.
    #[derive(Debug)]
    struct Wrapped(&'static str, std::io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Wrapped {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.1)
        }
    }

    fn classify(msg: &'static str, kind: std::io::ErrorKind, connecting: bool) -> RequestError {
        let e = Wrapped(msg, std::io::Error::new(kind, "x"));
        RequestError::classify(&e, connecting, "10.0.0.9:80", "term.example")
    }

    #[test]
    fn connect_failures_name_the_address() {
        use std::io::ErrorKind;
        assert_eq!(
            classify("tcp connect error", ErrorKind::TimedOut, true).to_string(),
            "timed out connecting to 10.0.0.9:80"
        );
        assert_eq!(
            classify("tcp connect error", ErrorKind::ConnectionRefused, true).to_string(),
            "connection to 10.0.0.9:80 refused"
        );
        assert_eq!(
            classify("dns error", ErrorKind::Other, true).to_string(),
            "cannot find the address of term.example (the host name does not resolve)"
        );
        let e = Wrapped(
            "tcp connect error",
            std::io::Error::from_raw_os_error(101), // ENETUNREACH on Linux
        );
        let t = RequestError::classify(&e, true, "10.0.0.9:80", "h").to_string();
        assert!(t.starts_with("cannot connect to 10.0.0.9:80: "), "{t}");
        assert!(!t.contains("os error"), "{t}");
    }

    #[test]
    fn exchange_failures_say_what_the_terminal_did() {
        use std::io::ErrorKind;
        assert_eq!(
            classify("x", ErrorKind::ConnectionReset, false).to_string(),
            "the terminal reset the connection before answering"
        );
        assert_eq!(
            classify("x", ErrorKind::BrokenPipe, false).to_string(),
            "the terminal closed the connection before answering"
        );
    }

    #[test]
    fn plain_causes_lists_each_message_once_without_codes() {
        let e = Wrapped("reading", std::io::Error::from_raw_os_error(5));
        let t = plain_causes(&e);
        assert!(t.starts_with("reading: "), "{t}");
        assert!(!t.contains("os error"), "{t}");
    }
}
