//! Bounded line framing: a line over the limit is never held whole.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// What [`read_line`] read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// A whole line (without its `\n`) is in the buffer.
    Line,
    /// The line is over the limit: the buffer holds its first `limit` bytes,
    /// and the rest of the line is still unread.
    TooLong,
    /// The stream ended (a last line without `\n` comes as `Line` first).
    Eof,
}

/// Reads one `\n`-terminated line into `line` (cleared first), at most `limit` bytes of it.
pub(crate) async fn read_line<R>(reader: &mut R, line: &mut Vec<u8>, limit: usize) -> io::Result<Read>
where
    R: AsyncBufRead + Unpin,
{
    line.clear();
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(if line.is_empty() { Read::Eof } else { Read::Line });
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (end, true),
            None => (available.len(), false),
        };
        let room = limit.saturating_sub(line.len());
        if take > room {
            line.extend_from_slice(&available[..room]);
            reader.consume(room);
            return Ok(Read::TooLong);
        }
        line.extend_from_slice(&available[..take]);
        reader.consume(take + usize::from(done));
        if done {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Read::Line);
        }
    }
}

/// Skips what is left of a line [`read_line`] found too long; `false` at the end of the stream.
pub(crate) async fn skip_line<R>(reader: &mut R) -> io::Result<bool>
where
    R: AsyncBufRead + Unpin,
{
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(false);
        }
        match available.iter().position(|&b| b == b'\n') {
            Some(end) => {
                reader.consume(end + 1);
                return Ok(true);
            }
            None => {
                let all = available.len();
                reader.consume(all);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn next(reader: &mut (impl AsyncBufRead + Unpin), limit: usize) -> (Read, Vec<u8>) {
        let mut line = Vec::new();
        let read = read_line(reader, &mut line, limit).await.expect("in memory");
        (read, line)
    }

    #[tokio::test]
    async fn lines_are_split_bounded_and_skipped() {
        let input: &[u8] = b"one\r\ntwo\nthis line is long\nlast";
        let mut reader = tokio::io::BufReader::with_capacity(4, input);
        assert_eq!(next(&mut reader, 8).await, (Read::Line, b"one".to_vec()));
        assert_eq!(next(&mut reader, 8).await, (Read::Line, b"two".to_vec()));
        assert_eq!(next(&mut reader, 8).await, (Read::TooLong, b"this lin".to_vec()));
        assert!(skip_line(&mut reader).await.expect("in memory"));
        assert_eq!(next(&mut reader, 8).await, (Read::Line, b"last".to_vec()));
        assert_eq!(next(&mut reader, 8).await, (Read::Eof, Vec::new()));
    }
}
