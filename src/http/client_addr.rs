//! Who the client is: the peer, or behind one of `server.trusted_proxies` the rightmost
//! `X-Forwarded-For` address that is not a trusted proxy. Headers from anyone else are ignored, so
//! a client cannot pick its own address (and with it its own rate-limit budget).

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::HeaderMap;

use crate::config::{canonical, Cidr};

/// The client as the hub believes it; kept in each request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    pub ip: Option<IpAddr>,
    /// The client reached the first trusted proxy over HTTPS (`X-Forwarded-Proto`).
    pub https: bool,
}

fn trusted(address: IpAddr, proxies: &[Cidr]) -> bool {
    proxies.iter().any(|proxy| proxy.contains(address))
}

/// An `X-Forwarded-For` hop: an address, possibly bracketed or with a port (`[::1]`, `[::1]:80`,
/// `10.0.0.1:5000`). Anything else (not even text) is `None`.
fn hop(raw: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(raw).ok()?.trim();
    let unbracketed = text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(text);
    unbracketed
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
        .map(canonical)
}

/// The comma-separated items of every `name` header, as raw bytes: a byte that is not text in
/// one item (written by the client) does not hide the items the proxies appended after it.
fn header_items<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a [u8]> {
    headers
        .get_all(name)
        .flat_map(|value| value.as_bytes().split(|byte| *byte == b','))
}

pub fn resolve(peer: Option<IpAddr>, headers: &HeaderMap, proxies: &[Cidr]) -> ClientAddr {
    let Some(peer) = peer.map(canonical) else {
        return ClientAddr {
            ip: None,
            https: false,
        };
    };
    if !trusted(peer, proxies) {
        return ClientAddr {
            ip: Some(peer),
            https: false,
        };
    }
    let hops: Vec<&[u8]> = header_items(headers, "x-forwarded-for").collect();
    let mut client = peer;
    for raw in hops.iter().rev() {
        // A hop that is not an address was written by someone we do not trust: stop before it.
        let Some(address) = hop(raw) else { break };
        client = address;
        if !trusted(address, proxies) {
            break;
        }
    }
    let https = header_items(headers, "x-forwarded-proto")
        .last()
        .is_some_and(|proto| proto.trim_ascii().eq_ignore_ascii_case(b"https"));
    ClientAddr {
        ip: Some(client),
        https,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let proxies: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let spoofed = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
        ]);
        let direct = resolve(Some(ip("8.8.8.8")), &spoofed, &proxies);
        assert_eq!(
            direct,
            ClientAddr {
                ip: Some(ip("8.8.8.8")),
                https: false
            }
        );

        let chain = headers(&[
            ("x-forwarded-for", "6.6.6.6, 7.7.7.7"),
            ("x-forwarded-for", "10.1.1.1"),
            ("x-forwarded-proto", "https"),
        ]);
        let proxied = resolve(Some(ip("10.0.0.2")), &chain, &proxies);
        assert_eq!(
            proxied,
            ClientAddr {
                ip: Some(ip("7.7.7.7")),
                https: true
            }
        );

        let garbage = headers(&[("x-forwarded-for", "7.7.7.7, nonsense, 10.1.1.1")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), &garbage, &proxies).ip,
            Some(ip("10.1.1.1"))
        );

        let all_trusted = headers(&[("x-forwarded-for", "10.9.9.9")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), &all_trusted, &proxies).ip,
            Some(ip("10.9.9.9"))
        );

        let with_port = headers(&[("x-forwarded-for", "[2001:db8::1]:443")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), &with_port, &proxies).ip,
            Some(ip("2001:db8::1"))
        );
        let bracketed = headers(&[("x-forwarded-for", "[2001:db8::2]")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), &bracketed, &proxies).ip,
            Some(ip("2001:db8::2"))
        );

        // A client's non-text byte does not hide the address its proxy appended.
        let mut dirty = HeaderMap::new();
        dirty.append(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_bytes(b"\xff\xfe, 7.7.7.7").unwrap(),
        );
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), &dirty, &proxies).ip,
            Some(ip("7.7.7.7"))
        );
    }
}
