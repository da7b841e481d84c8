//! `X-Forwarded-For` and `Forwarded`, as a reverse proxy sets them: the
//! upstream learns the client's address from the gateway, not from whatever
//! the client wrote.

use std::net::SocketAddr;

use http::header::FORWARDED;
use http::{HeaderMap, HeaderName, HeaderValue};

/// `X-Forwarded-For`.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// What the gateway does with the client's forwarding headers (`--forwarded-for`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedFor {
    /// Appends the client's address to `X-Forwarded-For` and a `for=` element
    /// to `Forwarded`, as nginx's `$proxy_add_x_forwarded_for` does: for a
    /// gateway behind a proxy of its own, the chain stays whole.
    #[default]
    Append,
    /// Replaces both with the client's address alone: nothing a client wrote
    /// reaches the upstream (a gateway that clients reach directly).
    Replace,
    /// Removes both: the upstream learns nothing of the client.
    Strip,
}

impl ForwardedFor {
    /// Parses `append`, `replace` or `strip`.
    pub fn parse(value: &str) -> Option<ForwardedFor> {
        match value.trim().to_ascii_lowercase().as_str() {
            "append" => Some(ForwardedFor::Append),
            "replace" => Some(ForwardedFor::Replace),
            "strip" | "off" => Some(ForwardedFor::Strip),
            _ => None,
        }
    }
}

/// The headers that name one client, made once per connection.
#[derive(Clone, Debug)]
pub struct Client {
    x_forwarded_for: HeaderValue,
    forwarded: HeaderValue,
}

impl Client {
    /// The client at `peer`.
    pub fn new(peer: SocketAddr) -> Self {
        let ip = peer.ip();
        let node = match ip {
            std::net::IpAddr::V4(v4) => format!("for={v4}"),
            std::net::IpAddr::V6(v6) => format!("for=\"[{v6}]\""),
        };
        // An IP address and `for=` node are always valid header text.
        Client {
            x_forwarded_for: HeaderValue::try_from(ip.to_string())
                .unwrap_or(HeaderValue::from_static("unknown")),
            forwarded: HeaderValue::try_from(node).unwrap_or(HeaderValue::from_static("for=unknown")),
        }
    }
}

impl ForwardedFor {
    /// Sets the forwarding headers of a request from `client`.
    pub fn apply(self, headers: &mut HeaderMap, client: &Client) {
        for (name, own) in [
            (&X_FORWARDED_FOR, &client.x_forwarded_for),
            (&FORWARDED, &client.forwarded),
        ] {
            let sent = headers.contains_key(name);
            match self {
                ForwardedFor::Strip => {
                    if sent {
                        headers.remove(name);
                    }
                }
                ForwardedFor::Append if sent => {
                    let mut chain: Vec<&[u8]> =
                        headers.get_all(name).iter().map(HeaderValue::as_bytes).collect();
                    chain.push(own.as_bytes());
                    match HeaderValue::from_bytes(&chain.join(&b", "[..])) {
                        Ok(value) => {
                            headers.insert(name, value);
                        }
                        Err(_) => {
                            headers.insert(name, own.clone());
                        }
                    }
                }
                ForwardedFor::Append | ForwardedFor::Replace => {
                    headers.insert(name, own.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn append_replace_and_strip_as_proxies_do() {
        let client = Client::new("127.0.0.7:5000".parse().unwrap());
        let sent = [("x-forwarded-for", "10.0.0.1"), ("forwarded", "for=10.0.0.1")];
        let mut appended = headers(&sent);
        ForwardedFor::Append.apply(&mut appended, &client);
        assert_eq!(appended["x-forwarded-for"], "10.0.0.1, 127.0.0.7");
        assert_eq!(appended["forwarded"], "for=10.0.0.1, for=127.0.0.7");
        let mut replaced = headers(&sent);
        ForwardedFor::Replace.apply(&mut replaced, &client);
        assert_eq!(replaced["x-forwarded-for"], "127.0.0.7");
        assert_eq!(replaced["forwarded"], "for=127.0.0.7");
        let mut stripped = headers(&sent);
        ForwardedFor::Strip.apply(&mut stripped, &client);
        assert!(stripped.is_empty());
        let mut fresh = HeaderMap::new();
        ForwardedFor::Append.apply(&mut fresh, &Client::new("[::1]:1".parse().unwrap()));
        assert_eq!(
            (&fresh["x-forwarded-for"], &fresh["forwarded"]),
            (
                &"::1".parse::<HeaderValue>().unwrap(),
                &HeaderValue::from_static("for=\"[::1]\"")
            )
        );
        assert_eq!(ForwardedFor::parse(" Replace "), Some(ForwardedFor::Replace));
        assert_eq!(ForwardedFor::parse("maybe"), None);
    }
}
