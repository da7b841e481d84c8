//! [`UpstreamTarget`]: the MCP server URL and the headers sent with every request.

use std::fmt;
use std::str::FromStr;

use http::header::{HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Uri};
use mcp_reconnect_core::redact_url;

use crate::error::InvalidTarget;

/// Where an [`UpstreamConnector`](crate::UpstreamConnector) connects: an MCP
/// server's Streamable HTTP endpoint (`http://` or `https://`), and headers
/// sent with every request to it (the upstream's own `Authorization`, an API
/// key, …), which replace any header of the same name a client sent.
///
/// Credentials belong in headers, not in the URL: a URL with userinfo
/// (`https://user:pass@host/`) is refused. `Debug` and [`display`](Self::display)
/// never show header values, the query or the fragment.
///
/// ```
/// use http::header::{AUTHORIZATION, HeaderValue};
/// use mcp_reconnect_upstream::UpstreamTarget;
///
/// let target = UpstreamTarget::new("https://mcp.example.com/mcp?tenant=a")?
///     .header(AUTHORIZATION, HeaderValue::from_static("Bearer secret"));
/// assert_eq!(target.display(), "https://mcp.example.com/mcp");
/// assert!(!format!("{target:?}").contains("secret"));
/// assert!(UpstreamTarget::new("ftp://host/").is_err());
/// assert!(UpstreamTarget::new("http://user:pw@host/").is_err());
/// # Ok::<(), mcp_reconnect_upstream::InvalidTarget>(())
/// ```
#[derive(Clone)]
pub struct UpstreamTarget {
    url: Uri,
    headers: HeaderMap,
}

impl UpstreamTarget {
    /// The endpoint at `url`, without extra headers.
    pub fn new(url: &str) -> Result<Self, InvalidTarget> {
        let uri = url
            .parse::<Uri>()
            .map_err(|error| InvalidTarget::new(url, format!("not a URL: {error}")))?;
        Self::from_uri(uri)
    }

    /// The endpoint at `uri` (absolute, `http` or `https`, no userinfo).
    pub fn from_uri(uri: Uri) -> Result<Self, InvalidTarget> {
        let shown = redact_url(&uri.to_string());
        let scheme = match uri.scheme() {
            Some(scheme) if *scheme == Scheme::HTTP || *scheme == Scheme::HTTPS => scheme.clone(),
            Some(_) => return Err(InvalidTarget::new(&shown, "the scheme must be http or https")),
            None => return Err(InvalidTarget::new(&shown, "the URL must be absolute")),
        };
        let Some(authority) = uri.authority().cloned() else {
            return Err(InvalidTarget::new(&shown, "the URL has no host"));
        };
        if authority.as_str().contains('@') {
            return Err(InvalidTarget::new(
                &shown,
                "credentials in the URL are not supported: send them as a header",
            ));
        }
        if authority.host().is_empty() {
            return Err(InvalidTarget::new(&shown, "the URL has no host"));
        }
        let path_and_query = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let url = build_uri(scheme, authority, path_and_query)
            .map_err(|error| InvalidTarget::new(&shown, error.to_string()))?;
        Ok(UpstreamTarget {
            url,
            headers: HeaderMap::new(),
        })
    }

    /// Sends `value` as header `name` with every request (replacing the
    /// client's). The value is marked sensitive, so HTTP/2 never indexes it.
    pub fn header(mut self, name: HeaderName, mut value: HeaderValue) -> Self {
        value.set_sensitive(true);
        self.headers.insert(name, value);
        self
    }

    /// Sends every header of `headers` with every request (see [`header`](Self::header)).
    pub fn headers_from(mut self, headers: HeaderMap) -> Self {
        for (name, value) in &headers {
            let mut value = value.clone();
            value.set_sensitive(true);
            self.headers.insert(name.clone(), value);
        }
        self
    }

    /// The endpoint.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The headers sent with every request.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The endpoint without query or fragment: safe for logs, `/health` and metrics.
    pub fn display(&self) -> String {
        redact_url(&self.url.to_string())
    }

    /// The `scheme://authority/` URI a connection is opened to.
    pub(crate) fn connect_uri(&self) -> Uri {
        let (scheme, authority) = self.scheme_and_authority();
        build_uri(scheme, authority, PathAndQuery::from_static("/")).unwrap_or_else(|_| self.url.clone())
    }

    pub(crate) fn scheme_and_authority(&self) -> (Scheme, Authority) {
        // Both were checked present in `from_uri`; the fallbacks are never taken.
        let scheme = self.url.scheme().cloned().unwrap_or(Scheme::HTTP);
        let authority = self
            .url
            .authority()
            .cloned()
            .unwrap_or_else(|| Authority::from_static("localhost"));
        (scheme, authority)
    }
}

/// An absolute URI from its parts.
pub(crate) fn build_uri(
    scheme: Scheme,
    authority: Authority,
    path_and_query: PathAndQuery,
) -> Result<Uri, http::Error> {
    Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(path_and_query)
        .build()
}

impl FromStr for UpstreamTarget {
    type Err = InvalidTarget;

    fn from_str(url: &str) -> Result<Self, InvalidTarget> {
        UpstreamTarget::new(url)
    }
}

impl fmt::Debug for UpstreamTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamTarget")
            .field("url", &self.display())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl fmt::Display for UpstreamTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_host_gets_the_root_path() {
        let target = UpstreamTarget::new("http://127.0.0.1:9").unwrap();
        assert_eq!(target.url().to_string(), "http://127.0.0.1:9/");
        assert_eq!(target.connect_uri().to_string(), "http://127.0.0.1:9/");
    }

    #[test]
    fn bad_urls_say_why_without_secrets() {
        for (url, why) in [
            ("/mcp", "absolute"),
            ("ws://host/", "http or https"),
            ("http://user:secret@host/", "header"),
            ("not a url", "not a URL"),
        ] {
            let error = UpstreamTarget::new(url).unwrap_err().to_string();
            assert!(error.contains(why), "{url}: {error}");
            assert!(!error.contains("secret"), "{error}");
        }
    }
}
