//! Checks of single declaration values (URLs, listen addresses,
//! environment variable names, rectangles), each naming its key and line.

use s301_rfb::Rect;

use super::{ConfigError, Doc};

pub(super) fn check_url(
    doc: &Doc<'_>,
    key: &str,
    url: &str,
    schemes: &[&str],
) -> Result<(), ConfigError> {
    let wanted = schemes
        .iter()
        .map(|s| format!("{s}://"))
        .collect::<Vec<_>>()
        .join(", ");
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(doc.error_at(
            key,
            format!("\"{url}\" is not a URL; write one starting with {wanted}"),
        ));
    };
    if !schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        return Err(doc.error_at(
            key,
            format!("unsupported scheme \"{scheme}\"; use one of {wanted}"),
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let (host, port) = split_host_port(host_port);
    if host.is_empty() {
        return Err(doc.error_at(key, format!("\"{url}\" has no host")));
    }
    if let Some(port) = port {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(doc.error_at(
                key,
                format!("\"{url}\" has an invalid port \"{port}\" (1-65535)"),
            ));
        }
    }
    Ok(())
}

/// Splits `host:port`, `[v6]:port`, `host` or `[v6]`.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => ("", None),
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    }
}

pub(super) fn check_listen(doc: &Doc<'_>, key: &str, listen: &str) -> Result<(), ConfigError> {
    let (host, port) = split_host_port(listen);
    let port_ok = port.is_some_and(|p| p.parse::<u16>().is_ok());
    if host.is_empty() || !port_ok {
        return Err(doc.error_at(
            key,
            format!("\"{listen}\" is not HOST:PORT (e.g. \"0.0.0.0:8119\", port 0 = any)"),
        ));
    }
    Ok(())
}

pub(super) fn check_env_name(doc: &Doc<'_>, key: &str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() {
        return Err(doc.error_at(
            key,
            "must name an environment variable (or leave the key out for no password)",
        ));
    }
    if name.contains(['=', '\0']) || name.chars().any(char::is_whitespace) {
        return Err(doc.error_at(
            key,
            format!("\"{name}\" is not a valid environment variable name"),
        ));
    }
    Ok(())
}

pub(super) fn check_rect(doc: &Doc<'_>, key: &str, r: &Rect) -> Result<(), ConfigError> {
    if r.w == 0 || r.h == 0 {
        return Err(doc.error_at(
            key,
            format!(
                "region [{}, {}, {}, {}] is empty; width and height must be at least 1",
                r.x, r.y, r.w, r.h
            ),
        ));
    }
    if r.right() > u32::from(u16::MAX) || r.bottom() > u32::from(u16::MAX) {
        return Err(doc.error_at(
            key,
            format!(
                "region [{}, {}, {}, {}] reaches past 65535, beyond any RFB screen",
                r.x, r.y, r.w, r.h
            ),
        ));
    }
    Ok(())
}
