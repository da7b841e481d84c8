//! [`SessionId`]: a validated `Mcp-Session-Id`, made from the OS random source.

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};

use http::HeaderMap;
use http::header::HeaderValue;
use mcp_reconnect_core::headers::MCP_SESSION_ID;

/// The longest session id accepted from a client: 128 bytes.
pub const MAX_SESSION_ID_LEN: usize = 128;

/// The longest session id accepted from an upstream: 1024 bytes (it is
/// stored per session, so it is bounded too).
pub const MAX_UPSTREAM_SESSION_ID_LEN: usize = 1024;

/// Random bytes in a session id this layer issues: 16 (128 bits).
pub const SESSION_ID_RANDOM_BYTES: usize = 16;

/// An `Mcp-Session-Id`: 1 to [`MAX_SESSION_ID_LEN`] visible ASCII characters
/// (`0x21`–`0x7E`), as the MCP spec requires.
///
/// Its `Debug` and `Display` show only a short hash ([`short`](Self::short)),
/// never the id: an id is a bearer credential for its session.
///
/// ```
/// use http::HeaderValue;
/// use mcp_reconnect_session::SessionId;
///
/// let id = SessionId::generate().unwrap();
/// assert_eq!(id.as_str().len(), 32);
/// assert!(!format!("{id} {id:?}").contains(id.as_str()));
/// assert!(SessionId::parse(&HeaderValue::from_static("abc-123")).is_ok());
/// assert!(SessionId::parse(&HeaderValue::from_static("has space")).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(HeaderValue);

/// A session id that breaks the spec's rules: empty, too long, or not visible ASCII.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidSessionId {
    /// The header is present but empty.
    Empty,
    /// Longer than the limit.
    TooLong,
    /// A byte outside `0x21`–`0x7E`.
    NotVisibleAscii,
    /// The header appears more than once.
    Repeated,
}

impl fmt::Display for InvalidSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidSessionId::Empty => "Mcp-Session-Id is empty",
            InvalidSessionId::TooLong => "Mcp-Session-Id is too long (at most 128 bytes)",
            InvalidSessionId::NotVisibleAscii => "Mcp-Session-Id must be visible ASCII (0x21 to 0x7E)",
            InvalidSessionId::Repeated => "Mcp-Session-Id is sent more than once",
        })
    }
}

impl std::error::Error for InvalidSessionId {}

impl SessionId {
    /// A new id: [`SESSION_ID_RANDOM_BYTES`] bytes from the operating system's
    /// random source (`getrandom`), as 32 lower-case hex characters.
    ///
    /// Fails only when the OS has no random source to give.
    pub fn generate() -> Result<SessionId, getrandom::Error> {
        let mut random = [0u8; SESSION_ID_RANDOM_BYTES];
        getrandom::fill(&mut random)?;
        let mut hex = [0u8; SESSION_ID_RANDOM_BYTES * 2];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(random) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0x0f)];
        }
        // Hex digits are visible ASCII, so this cannot fail.
        let value = HeaderValue::from_bytes(&hex).unwrap_or(HeaderValue::from_static("0"));
        Ok(SessionId(value))
    }

    /// A client's session id, checked against the spec's rules.
    pub fn parse(value: &HeaderValue) -> Result<SessionId, InvalidSessionId> {
        check(value.as_bytes(), MAX_SESSION_ID_LEN)?;
        Ok(SessionId(value.clone()))
    }

    /// An upstream's session id: the same rules, up to [`MAX_UPSTREAM_SESSION_ID_LEN`] bytes.
    pub fn parse_upstream(value: &HeaderValue) -> Result<SessionId, InvalidSessionId> {
        check(value.as_bytes(), MAX_UPSTREAM_SESSION_ID_LEN)?;
        Ok(SessionId(value.clone()))
    }

    /// The `Mcp-Session-Id` of a request: `None` when absent, an error when
    /// present but invalid or repeated.
    pub fn from_headers(headers: &HeaderMap) -> Option<Result<SessionId, InvalidSessionId>> {
        let mut values = headers.get_all(MCP_SESSION_ID).iter();
        let first = values.next()?;
        if values.next().is_some() {
            return Some(Err(InvalidSessionId::Repeated));
        }
        Some(SessionId::parse(first))
    }

    /// The id (a credential: do not log it; log [`short`](Self::short)).
    pub fn as_str(&self) -> &str {
        // Checked visible ASCII at construction, so `to_str` cannot fail.
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }

    /// A short hash of the id (8 hex characters), for logs: tells sessions
    /// apart without revealing them.
    pub fn short(&self) -> ShortHash {
        let mut hasher = DefaultHasher::new();
        self.0.as_bytes().hash(&mut hasher);
        ShortHash(hasher.finish() as u32)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn check(bytes: &[u8], max: usize) -> Result<(), InvalidSessionId> {
    if bytes.is_empty() {
        Err(InvalidSessionId::Empty)
    } else if bytes.len() > max {
        Err(InvalidSessionId::TooLong)
    } else if !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
        Err(InvalidSessionId::NotVisibleAscii)
    } else {
        Ok(())
    }
}

/// A short hash of a session id, shown as 8 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShortHash(u32);

impl fmt::Display for ShortHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl fmt::Debug for ShortHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.short())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId(#{})", self.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_ids_are_hex_distinct_and_valid() {
        let a = SessionId::generate().unwrap();
        let b = SessionId::generate().unwrap();
        assert_ne!(a, b);
        assert!(
            a.as_str()
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(SessionId::parse(a.header_value()), Ok(a.clone()));
        assert_eq!(a.short().to_string().len(), 8);
    }

    #[test]
    fn repeated_headers_are_refused() {
        let mut headers = HeaderMap::new();
        assert!(SessionId::from_headers(&headers).is_none());
        headers.append(MCP_SESSION_ID, HeaderValue::from_static("a"));
        assert!(matches!(SessionId::from_headers(&headers), Some(Ok(_))));
        headers.append(MCP_SESSION_ID, HeaderValue::from_static("b"));
        assert_eq!(
            SessionId::from_headers(&headers),
            Some(Err(InvalidSessionId::Repeated))
        );
    }

    proptest! {
        #[test]
        fn visible_ascii_up_to_128_bytes_is_valid(id in "[\\x21-\\x7e]{1,128}") {
            let value = HeaderValue::from_str(&id).unwrap();
            prop_assert_eq!(SessionId::parse(&value).map(|s| s.as_str().to_owned()), Ok(id));
        }

        #[test]
        fn anything_else_is_refused_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let valid = !bytes.is_empty() && bytes.len() <= MAX_SESSION_ID_LEN
                && bytes.iter().all(|b| (0x21..=0x7e).contains(b));
            // Not every byte string is a header value; those that are must be judged right.
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                prop_assert_eq!(SessionId::parse(&value).is_ok(), valid);
            }
            prop_assert_eq!(check(&bytes, MAX_SESSION_ID_LEN).is_ok(), valid);
        }

        #[test]
        fn over_long_ids_are_too_long(id in "[\\x21-\\x7e]{129,400}") {
            let value = HeaderValue::from_str(&id).unwrap();
            prop_assert_eq!(SessionId::parse(&value), Err(InvalidSessionId::TooLong));
        }
    }
}
