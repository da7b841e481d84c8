//! Showing an upstream's address without its secrets: for logs, `/health`,
//! metric labels and span fields.

/// What separates a URL's scheme from its authority.
const SCHEME_SEPARATOR: &str = "://";

/// The URL without anything that may carry a credential: the userinfo
/// (`user:pass@`), the query (`?token=…`) and the fragment (`#…`).
///
/// Works on any text, never panics, and keeps everything else as written (no
/// normalization), so a display name with a URL inside — the reconnect design's
/// `StreamableHTTP-https://server/mcp` — keeps its prefix:
///
/// - the query and the fragment go, from the first `?` or `#` on;
/// - after each `://`, the authority (up to the next `/`) loses everything up
///   to its last `@`;
/// - text with no `://` is taken as a scheme-less address (`user:pass@host/mcp`):
///   its part before the first `/` loses everything up to its last `@`.
///
/// Text without `?`, `#` and `@` comes back unchanged.
///
/// ```
/// use mcp_reconnect_core::redact_url;
///
/// assert_eq!(redact_url("https://user:pass@host:8443/mcp?token=abc#frag"), "https://host:8443/mcp");
/// assert_eq!(redact_url("StreamableHTTP-https://your-server.com/"), "StreamableHTTP-https://your-server.com/");
/// assert_eq!(redact_url("user:pass@host/mcp"), "host/mcp");
/// assert_eq!(redact_url("server-a"), "server-a");
/// ```
pub fn redact_url(url: &str) -> String {
    // Every index below is that of an ASCII character, so always a char boundary.
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let kept = &url[..end];
    let mut out = String::with_capacity(kept.len());
    if !kept.contains(SCHEME_SEPARATOR) {
        let (authority, path) = kept.split_at(authority_len(kept));
        out.push_str(host_of(authority));
        out.push_str(path);
        return out;
    }
    let mut rest = kept;
    while let Some(at) = rest.find(SCHEME_SEPARATOR) {
        let (head, tail) = rest.split_at(at + SCHEME_SEPARATOR.len());
        out.push_str(head);
        let (authority, after) = tail.split_at(authority_len(tail));
        out.push_str(host_of(authority));
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The length of the authority at the start of `text`: up to the first `/`.
fn authority_len(text: &str) -> usize {
    text.find('/').unwrap_or(text.len())
}

/// The authority without its userinfo: what follows the last `@`.
fn host_of(authority: &str) -> &str {
    authority.rfind('@').map_or(authority, |at| &authority[at + 1..])
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::redact_url;

    #[test]
    fn credentials_query_and_fragment_are_dropped() {
        let cases = [
            ("https://user:pass@host/mcp?token=abc#frag", "https://host/mcp"),
            ("http://user@127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://a:b@c@host/x/y@z", "https://host/x/y@z"),
            ("https://host/mcp/", "https://host/mcp/"),
            ("https://host?token=abc", "https://host"),
            ("https://host#frag", "https://host"),
            (
                "StreamableHTTP-https://u:p@your-server.com/",
                "StreamableHTTP-https://your-server.com/",
            ),
            (
                "a https://u:p@h1/x b https://u2:p2@h2",
                "a https://h1/x b https://h2",
            ),
            ("user:pass@host/mcp?x=1", "host/mcp"),
            ("server-a", "server-a"),
            ("", ""),
            ("@", ""),
            ("://", "://"),
            ("://@", "://"),
            ("?", ""),
            ("é://ü:ß@ñ/ö?ä", "é://ñ/ö"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_url(input), expected, "{input:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_never_keeps_a_query_or_fragment(input in any::<String>()) {
            let out = redact_url(&input);
            prop_assert!(!out.contains('?') && !out.contains('#'));
            prop_assert!(out.len() <= input.len());
            prop_assert_eq!(redact_url(&out), out.clone(), "idempotent");
        }

        #[test]
        fn a_url_keeps_scheme_host_and_path_only(
            scheme in "[a-z][a-z0-9+.-]{0,8}",
            user in "[A-Za-z0-9._~%!$&'()*+,;=:-]{1,12}",
            password in "[A-Za-z0-9._~%!$&'()*+,;=:-]{1,12}",
            host in "[a-z0-9.-]{1,20}(:[0-9]{1,5})?",
            path in "(/[A-Za-z0-9._~%@:-]{0,10}){0,4}",
            query in "[A-Za-z0-9=&%/@:?-]{0,20}",
            fragment in "[A-Za-z0-9=&%/@:?#-]{0,20}",
        ) {
            // Every `://` starts an authority (documented), so a path holding
            // one loses its `user@` part too: redacted more, never less.
            prop_assume!(!path.contains("://"));
            let url = format!("{scheme}://{user}:{password}@{host}{path}?{query}#{fragment}");
            prop_assert_eq!(redact_url(&url), format!("{scheme}://{host}{path}"));
        }

        #[test]
        fn text_without_delimiters_is_unchanged(input in "[^?#@]*") {
            prop_assert_eq!(redact_url(&input), input);
        }
    }
}
