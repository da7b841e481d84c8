//! Where a legacy SSE server is: its stream's URL, the headers every request
//! carries, and the endpoint its `endpoint` event names, kept on the
//! stream's origin.

use std::fmt;
use std::sync::Arc;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Uri};

/// A legacy SSE server: the URL of its event stream and the headers every
/// request to it carries (its own `Authorization`, say).
///
/// ```
/// use mcp_reconnect_link::SseTarget;
///
/// let target = SseTarget::new("http://127.0.0.1:8000/sse?token=secret").expect("a URL");
/// assert_eq!(target.display(), "http://127.0.0.1:8000/sse");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SseTarget {
    pub(super) url: Uri,
    pub(super) headers: HeaderMap,
    pub(super) name: Arc<str>,
}

/// A URL an [`SseTarget`] cannot take.
#[derive(Debug)]
pub struct InvalidSseUrl(String);

impl fmt::Display for InvalidSseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an SSE server URL: {}", self.0)
    }
}

impl std::error::Error for InvalidSseUrl {}

impl SseTarget {
    /// The server whose event stream is at `url` (`http` or `https`).
    pub fn new(url: &str) -> Result<Self, InvalidSseUrl> {
        let uri = url
            .parse::<Uri>()
            .map_err(|error| InvalidSseUrl(error.to_string()))?;
        Self::from_uri(uri)
    }

    /// The server whose event stream is at `uri`.
    pub fn from_uri(uri: Uri) -> Result<Self, InvalidSseUrl> {
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(InvalidSseUrl("the scheme must be http or https".to_owned())),
        }
        let Some(authority) = uri.authority() else {
            return Err(InvalidSseUrl("no host".to_owned()));
        };
        if authority.as_str().contains('@') {
            return Err(InvalidSseUrl(
                "credentials in the URL are refused; send them as a header".to_owned(),
            ));
        }
        let name = Arc::from(display(&uri));
        Ok(SseTarget {
            url: uri,
            headers: HeaderMap::new(),
            name,
        })
    }

    /// Adds a header every request to the server carries.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Adds every header of `headers` (over ones of the same name).
    pub fn headers_from(mut self, headers: HeaderMap) -> Self {
        for (name, value) in headers {
            if let Some(name) = name {
                self.headers.insert(name, value);
            }
        }
        self
    }

    /// Names the server in logs and errors (default: [`display`](Self::display)).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Arc::from(name.into());
        self
    }

    /// The stream's URL.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The URL without its query (which may hold a token): safe to log.
    pub fn display(&self) -> String {
        display(&self.url)
    }
}

fn display(uri: &Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map_or("", Authority::as_str),
        uri.path()
    )
}

impl fmt::Debug for SseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values are the server's credentials: names only.
        f.debug_struct("SseTarget")
            .field("url", &self.display())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Where the server's `endpoint` event points, resolved against the
/// stream's URL. Another origin is refused: the target's headers (its
/// credentials) must not go to a host the configuration did not name.
pub(super) fn endpoint(stream: &Uri, data: &str) -> Result<Uri, &'static str> {
    let (Some(scheme), Some(authority)) = (stream.scheme(), stream.authority()) else {
        return Err("the stream's URL has no origin");
    };
    if data.is_empty() {
        return Err("its endpoint event is empty");
    }
    if let Ok(uri) = data.parse::<Uri>()
        && uri.scheme().is_some()
    {
        if uri.scheme() != Some(scheme) || uri.authority() != Some(authority) {
            return Err("its endpoint is on another origin than its stream");
        }
        return Ok(uri);
    }
    let joined = if data.starts_with('/') {
        data.to_owned()
    } else {
        let path = stream.path();
        let directory = &path[..path.rfind('/').map_or(0, |slash| slash + 1)];
        format!("{directory}{data}")
    };
    let path = PathAndQuery::try_from(joined).map_err(|_| "its endpoint is not a URL path")?;
    Uri::builder()
        .scheme(Scheme::clone(scheme))
        .authority(authority.clone())
        .path_and_query(path)
        .build()
        .map_err(|_| "its endpoint is not a URL path")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_resolve_against_the_stream_and_stay_on_its_origin() {
        let stream: Uri = "http://127.0.0.1:9000/mcp/sse?token=t".parse().expect("a URI");
        let resolved = |data| endpoint(&stream, data).map(|uri| uri.to_string());
        assert_eq!(
            resolved("/messages/?session_id=ab"),
            Ok("http://127.0.0.1:9000/messages/?session_id=ab".to_owned())
        );
        assert_eq!(
            resolved("message?sessionId=1"),
            Ok("http://127.0.0.1:9000/mcp/message?sessionId=1".to_owned())
        );
        assert_eq!(
            resolved("http://127.0.0.1:9000/m?s=1"),
            Ok("http://127.0.0.1:9000/m?s=1".to_owned())
        );
        assert!(resolved("http://evil.example/m").is_err());
        assert!(resolved("https://127.0.0.1:9000/m").is_err());
        assert!(resolved("").is_err());
    }

    #[test]
    fn a_target_shows_no_query_and_no_header_values() {
        let target = SseTarget::new("https://host/sse?key=secret")
            .expect("a URL")
            .header(
                http::header::AUTHORIZATION,
                HeaderValue::from_static("Bearer secret"),
            );
        assert_eq!(target.display(), "https://host/sse");
        assert!(!format!("{target:?}").contains("secret"));
        assert!(SseTarget::new("ftp://host/sse").is_err());
        assert!(SseTarget::new("http://user:pw@host/sse").is_err());
    }
}
