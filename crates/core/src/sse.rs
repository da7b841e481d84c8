//! An incremental, bounded decoder of `text/event-stream` (server-sent events),
//! the framing MCP Streamable HTTP uses for streamed answers.
//!
//! It follows the WHATWG event-stream rules that matter for MCP: lines end in
//! `\n`, `\r\n` or `\r` (also when split across chunks), `:` starts a
//! comment, one space after the colon is dropped, `data` lines are joined
//! with `\n`, a blank line dispatches the event. Memory is bounded: an event
//! or line longer than the limit is dropped whole and counted.
//!
//! ```
//! use mcp_reconnect_core::sse::SseDecoder;
//!
//! let mut decoder = SseDecoder::new(1024);
//! let mut events = Vec::new();
//! decoder.push(b"id: 1\r\ndata: {\"jsonrpc\":", &mut |e| events.push(e));
//! decoder.push(b"\"2.0\"}\r\n\r\n: keep-alive\n\n", &mut |e| events.push(e));
//! assert_eq!(events.len(), 1);
//! assert_eq!(events[0].data, r#"{"jsonrpc":"2.0"}"#);
//! assert_eq!(events[0].id.as_deref(), Some("1"));
//! ```

/// The default bound on one event (and one line): 4 MiB.
pub const DEFAULT_MAX_EVENT_LEN: usize = crate::body::DEFAULT_MESSAGE_LIMIT;

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event` field (`None` means the default, `message`).
    pub event: Option<String>,
    /// The `data` lines, joined with `\n`.
    pub data: String,
    /// The `id` field, if the event set one.
    pub id: Option<String>,
}

/// Decodes an event stream chunk by chunk.
#[derive(Debug)]
pub struct SseDecoder {
    line: Vec<u8>,
    skip_lf: bool,
    current: SseEvent,
    has_data: bool,
    current_len: usize,
    overflowed: bool,
    line_overflowed: bool,
    at_start: bool,
    max_event_len: usize,
    dropped: u64,
}

impl SseDecoder {
    /// A decoder that drops events (and lines) longer than `max_event_len` bytes.
    pub fn new(max_event_len: usize) -> Self {
        SseDecoder {
            line: Vec::new(),
            skip_lf: false,
            current: SseEvent::default(),
            has_data: false,
            current_len: 0,
            overflowed: false,
            line_overflowed: false,
            at_start: true,
            max_event_len,
            dropped: 0,
        }
    }

    /// How many events were dropped for being over the limit.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Feeds a chunk; calls `on_event` for each event it completes.
    pub fn push(&mut self, chunk: &[u8], on_event: &mut impl FnMut(SseEvent)) {
        let mut rest = chunk;
        if self.skip_lf {
            if let Some(after) = rest.strip_prefix(b"\n") {
                rest = after;
            }
            self.skip_lf = false;
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.extend_line(&rest[..end]);
            let ended_with_cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if ended_with_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.skip_lf = true,
                    Some(_) => {}
                }
            }
            if std::mem::replace(&mut self.line_overflowed, false) {
                // Not a blank line, however little of it we kept: it spoils its event.
                self.overflowed = true;
            } else {
                let line = std::mem::take(&mut self.line);
                // A byte order mark may open the stream; it is not part of the first field.
                let first = std::mem::replace(&mut self.at_start, false);
                let bom = "\u{feff}".as_bytes();
                let text = if first {
                    line.strip_prefix(bom).unwrap_or(&line)
                } else {
                    &line
                };
                self.line_done(text, on_event);
                self.line = line;
            }
            self.line.clear();
        }
        self.extend_line(rest);
    }

    fn extend_line(&mut self, bytes: &[u8]) {
        if self.line_overflowed || self.line.len() + bytes.len() > self.max_event_len {
            self.line_overflowed = true;
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    fn line_done(&mut self, line: &[u8], on_event: &mut impl FnMut(SseEvent)) {
        if line.is_empty() {
            self.dispatch(on_event);
            return;
        }
        if self.overflowed || line.first() == Some(&b':') {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        self.current_len += line.len();
        if self.current_len > self.max_event_len {
            self.overflowed = true;
            return;
        }
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.current.event = Some(value.into_owned()),
            // An id containing NUL is ignored, as the standard says.
            b"id" if !value.contains('\0') => self.current.id = Some(value.into_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(SseEvent)) {
        let event = std::mem::take(&mut self.current);
        let has_data = std::mem::replace(&mut self.has_data, false);
        self.current_len = 0;
        if std::mem::replace(&mut self.overflowed, false) {
            self.dropped += 1;
            return;
        }
        // An event without data lines is not dispatched (but its id would be
        // remembered by a browser; MCP servers always send data).
        if has_data {
            on_event(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_in_pieces(input: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::new(1024);
        let mut events = Vec::new();
        for chunk in input.chunks(piece.max(1)) {
            decoder.push(chunk, &mut |e| events.push(e));
        }
        events
    }

    #[test]
    fn line_endings_of_every_kind_split_anywhere() {
        let input = b"event: message\r\ndata: a\rdata:b\n\nid: 7\r\ndata:  c\r\n\r\n";
        for piece in 1..input.len() {
            let events = decode_in_pieces(input, piece);
            assert_eq!(events.len(), 2, "piece size {piece}");
            assert_eq!(events[0].data, "a\nb");
            assert_eq!(events[0].event.as_deref(), Some("message"));
            assert_eq!(events[1].data, " c");
            assert_eq!(events[1].id.as_deref(), Some("7"));
        }
    }

    #[test]
    fn a_leading_byte_order_mark_is_skipped() {
        let events = decode_in_pieces("\u{feff}data: x\n\n".as_bytes(), 64);
        assert_eq!(events[0].data, "x");
    }

    #[test]
    fn comments_and_events_without_data_are_not_dispatched() {
        let events = decode_in_pieces(b": ping\n\nid: 3\n\nretry: 10\n\n", 64);
        assert!(events.is_empty());
    }

    #[test]
    fn an_event_over_the_limit_is_dropped_and_the_stream_goes_on() {
        let mut decoder = SseDecoder::new(16);
        let mut events = Vec::new();
        let long = format!("data: {}\n\ndata: ok\n\n", "x".repeat(100));
        decoder.push(long.as_bytes(), &mut |e| events.push(e));
        // The same, with the long line arriving alone in one chunk.
        decoder.push(&[b'y'; 100], &mut |e| events.push(e));
        decoder.push(
            b"

data: ok2

",
            &mut |e| events.push(e),
        );
        assert_eq!(decoder.dropped(), 2);
        let data: Vec<_> = events.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, ["ok", "ok2"]);
    }

    proptest! {
        #[test]
        fn never_panics_and_splitting_never_changes_the_events(
            input in proptest::collection::vec(any::<u8>(), 0..300),
            piece in 1usize..20,
        ) {
            let whole = decode_in_pieces(&input, input.len().max(1));
            let pieces = decode_in_pieces(&input, piece);
            prop_assert_eq!(whole, pieces);
        }
    }
}
