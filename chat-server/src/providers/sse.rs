//! A Server-Sent Events decoder for provider streams.
//!
//! Written here instead of using an SSE crate because provider streams need two
//! things spec-following parsers do not give: the pending event is flushed at
//! end of stream even without a closing blank line (several real recordings end
//! that way), and lines that are not SSE fields are handed back instead of being
//! dropped (Vertex AI sends a mid-stream error as raw, pretty-printed JSON).
//! Bytes are buffered across chunk boundaries, so a UTF-8 character or a line
//! split between two network reads decodes the same; a line is scanned once
//! however many reads it arrives in, and one over `MAX_LINE_BYTES` is refused
//! rather than buffered.

use super::ProviderError;

/// The longest line a stream may send.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One decoded item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// A dispatched event: its `event:` type (if any) and its `data:` lines joined by `\n`.
    Event { event: Option<String>, data: String },
    /// A line that is not an SSE field, comment or blank (kept verbatim, without its line ending).
    Raw(String),
}

/// Incremental decoder: feed bytes as they arrive, then call `finish`.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buffer: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
    has_data: bool,
    /// The previous chunk ended in `\r`; a `\n` starting the next one belongs to it.
    skip_lf: bool,
    /// How much of `buffer` is known to hold no line ending.
    scanned: usize,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes every complete line in `chunk` (plus what was buffered
    /// before); a protocol error once a line grows over `MAX_LINE_BYTES`.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseItem>, ProviderError> {
        let mut out = Vec::new();
        let mut bytes = chunk;
        if self.skip_lf {
            self.skip_lf = false;
            if bytes.first() == Some(&b'\n') {
                bytes = &bytes[1..];
            }
        }
        self.buffer.extend_from_slice(bytes);
        let mut start = 0;
        let mut i = self.scanned;
        while i < self.buffer.len() {
            match self.buffer[i] {
                b'\n' | b'\r' => {
                    let line = String::from_utf8_lossy(&self.buffer[start..i]).into_owned();
                    let crlf = self.buffer[i] == b'\r';
                    i += 1;
                    if crlf {
                        if i < self.buffer.len() {
                            if self.buffer[i] == b'\n' {
                                i += 1;
                            }
                        } else {
                            self.skip_lf = true;
                        }
                    }
                    start = i;
                    self.line(&line, &mut out);
                }
                _ => i += 1,
            }
        }
        self.buffer.drain(..start);
        self.scanned = self.buffer.len();
        if self.buffer.len() > MAX_LINE_BYTES {
            return Err(ProviderError::Protocol(format!(
                "a line of the stream is over {} KiB",
                MAX_LINE_BYTES / 1024
            )));
        }
        Ok(out)
    }

    /// Flushes a trailing line and a pending event at end of stream.
    pub fn finish(&mut self) -> Vec<SseItem> {
        let mut out = Vec::new();
        if !self.buffer.is_empty() {
            let line = String::from_utf8_lossy(&std::mem::take(&mut self.buffer)).into_owned();
            self.scanned = 0;
            self.line(&line, &mut out);
        }
        self.dispatch(&mut out);
        out
    }

    fn dispatch(&mut self, out: &mut Vec<SseItem>) {
        if self.has_data {
            out.push(SseItem::Event {
                event: self.event.take(),
                data: self.data.join("\n"),
            });
        }
        self.event = None;
        self.data.clear();
        self.has_data = false;
    }

    fn line(&mut self, line: &str, out: &mut Vec<SseItem>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.starts_with(':') {
            return; // comment / keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                self.data.push(value.to_owned());
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            "id" | "retry" => {}
            _ => out.push(SseItem::Raw(line.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]]) -> Vec<SseItem> {
        let mut d = SseDecoder::new();
        let mut out: Vec<SseItem> = chunks
            .iter()
            .flat_map(|c| d.feed(c).expect("within the line cap"))
            .collect();
        out.extend(d.finish());
        out
    }

    fn event(event: Option<&str>, data: &str) -> SseItem {
        SseItem::Event {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn crlf_lf_and_cr_line_endings_decode_alike() {
        let expected = vec![event(None, "a"), event(Some("x"), "b\nc")];
        assert_eq!(
            decode(&[b"data: a\n\nevent: x\ndata: b\ndata: c\n\n"]),
            expected
        );
        assert_eq!(
            decode(&[b"data: a\r\n\r\nevent: x\r\ndata: b\r\ndata: c\r\n\r\n"]),
            expected
        );
        assert_eq!(
            decode(&[b"data: a\r\r", b"event: x\rdata: b\rdata: c\r\r"]),
            expected
        );
        assert_eq!(
            decode(&[
                b"data: a\r",
                b"\n\r",
                b"\nevent: x\r\ndata: b\r\ndata: c\r\n\r\n"
            ]),
            expected
        );
    }

    #[test]
    fn comments_are_skipped_and_the_last_event_flushes_at_eof() {
        assert_eq!(
            decode(&[b": keep-alive\n\ndata: [DONE]"]),
            vec![event(None, "[DONE]")]
        );
    }

    #[test]
    fn non_sse_lines_are_handed_back() {
        let items = decode(&[b"data: 1\n\n{\n  \"error\": {}\n}\n"]);
        assert_eq!(items[0], event(None, "1"));
        assert_eq!(items[1], SseItem::Raw("{".into()));
        assert_eq!(items.len(), 4);
    }

    #[test]
    fn a_utf8_character_split_across_chunks_survives() {
        let bytes = "data: 秋风\n\n".as_bytes();
        for cut in 0..bytes.len() {
            assert_eq!(
                decode(&[&bytes[..cut], &bytes[cut..]]),
                vec![event(None, "秋风")],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_line_over_the_cap_is_refused_and_a_long_one_in_many_pieces_is_read_once() {
        let mut d = SseDecoder::new();
        let piece = vec![b'x'; 64 * 1024];
        let mut refused = None;
        d.feed(b"data: ").expect("starts");
        for _ in 0..32 {
            if let Err(e) = d.feed(&piece) {
                refused = Some(e);
                break;
            }
        }
        assert!(
            matches!(&refused, Some(ProviderError::Protocol(m)) if m.contains("1024 KiB")),
            "{refused:?}"
        );
        let mut d = SseDecoder::new();
        d.feed(b"data: ").expect("starts");
        for _ in 0..8 {
            assert!(d.feed(&piece).expect("under the cap").is_empty());
        }
        let items = d.feed(b"\n\n").expect("ends");
        assert!(
            matches!(&items[..], [SseItem::Event { data, .. }] if data.len() == 8 * 64 * 1024),
            "the whole line, once"
        );
    }
}
