//! Decoding the client-to-server stream (used by terminals).
//!
//! Bytes are appended to one buffer; whole messages are decoded from its
//! front and the consumed prefix is dropped lazily (when it is at least half
//! the buffer, or when keeping it would pass the buffer limit), so decoding a
//! stream costs time linear in its length however it is split.

use crate::limits::Limits;
use crate::messages::ClientMessage;
use crate::reader::try_decode;
use crate::RfbError;

/// Decodes [`ClientMessage`]s from a byte stream split arbitrarily.
pub struct ClientMessageDecoder {
    limits: Limits,
    /// Received bytes; `buf[pos..]` is not yet decoded.
    buf: Vec<u8>,
    /// Start of the undecoded bytes in `buf`.
    pos: usize,
    /// The first decoding error, returned again by every later call.
    failed: Option<RfbError>,
}

impl ClientMessageDecoder {
    /// A decoder for the stream that starts right after ClientInit.
    pub fn new(limits: Limits) -> Self {
        ClientMessageDecoder {
            limits,
            buf: Vec::new(),
            pos: 0,
            failed: None,
        }
    }

    /// Appends received bytes. Fails with [`RfbError::BufferFull`] when the
    /// buffer would pass the limit.
    ///
    /// A refused call appends nothing. After a decoding error every call fails
    /// with that error, since the stream can no longer be followed.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), RfbError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if data.len() > self.limits.max_buffered.saturating_sub(self.buffered()) {
            return Err(RfbError::BufferFull {
                limit: self.limits.max_buffered,
            });
        }
        // Drop the decoded prefix once it is half the buffer (its cost is then
        // paid for by the bytes decoded), or when keeping it would take the
        // buffer past the limit: the buffer never holds more than
        // `max_buffered` bytes, decoded or not.
        if self.pos > 0
            && (self.pos * 2 >= self.buf.len()
                || self.buf.len() + data.len() > self.limits.max_buffered)
        {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// The next whole message, `Ok(None)` when more bytes are needed. After an
    /// error the stream cannot be followed and every later call fails.
    pub fn next_message(&mut self) -> Result<Option<ClientMessage>, RfbError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let pending = self.buf.get(self.pos..).unwrap_or_default();
        match try_decode(pending, |r| ClientMessage::read(r, &self.limits)) {
            Ok(Some((msg, used))) => {
                self.pos += used;
                if self.pos >= self.buf.len() {
                    self.buf.clear();
                    self.pos = 0;
                }
                Ok(Some(msg))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Direction;
    use crate::rect::Rect;

    fn sample() -> Vec<ClientMessage> {
        vec![
            ClientMessage::SetPixelFormat(crate::PixelFormat::RGB888),
            ClientMessage::SetEncodings(vec![16, 15, 5, 2, 1, 0, -223]),
            ClientMessage::FramebufferUpdateRequest {
                incremental: false,
                rect: Rect::new(0, 0, 1024, 768),
            },
            ClientMessage::KeyEvent {
                down: true,
                key: 0x61,
            },
            ClientMessage::PointerEvent {
                buttons: 0,
                x: 10,
                y: 20,
            },
            ClientMessage::ClientCutText(b"copy".to_vec()),
        ]
    }

    fn encode_all(msgs: &[ClientMessage]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in msgs {
            m.write(&mut out);
        }
        out
    }

    fn drain(d: &mut ClientMessageDecoder) -> Vec<ClientMessage> {
        let mut got = Vec::new();
        while let Ok(Some(m)) = d.next_message() {
            got.push(m);
        }
        got
    }

    #[test]
    fn byte_at_a_time_yields_every_message() {
        let msgs = sample();
        let wire = encode_all(&msgs);
        let mut d = ClientMessageDecoder::new(Limits::DEFAULT);
        let mut got = Vec::new();
        for b in &wire {
            assert_eq!(d.feed(std::slice::from_ref(b)), Ok(()));
            got.extend(drain(&mut d));
        }
        assert_eq!(got, msgs);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn one_feed_of_everything_yields_every_message() {
        let msgs = sample();
        let mut d = ClientMessageDecoder::new(Limits::DEFAULT);
        assert_eq!(d.feed(&encode_all(&msgs)), Ok(()));
        assert_eq!(drain(&mut d), msgs);
        assert_eq!(d.next_message(), Ok(None));
    }

    #[test]
    fn refuses_feed_past_max_buffered_and_keeps_nothing_of_it() {
        let limits = Limits {
            max_buffered: 8,
            ..Limits::DEFAULT
        };
        let mut d = ClientMessageDecoder::new(limits);
        assert_eq!(d.feed(&[6, 0, 0, 0, 0, 0]), Ok(()));
        assert_eq!(
            d.feed(&[0, 4, b'a']),
            Err(RfbError::BufferFull { limit: 8 })
        );
        assert_eq!(d.buffered(), 6);
        assert_eq!(d.feed(&[0, 0]), Ok(()));
        assert_eq!(d.buffered(), 8);
    }

    #[test]
    fn consumed_bytes_do_not_count_against_max_buffered() {
        let limits = Limits {
            max_buffered: 10,
            ..Limits::DEFAULT
        };
        let mut d = ClientMessageDecoder::new(limits);
        let key = ClientMessage::KeyEvent { down: true, key: 1 };
        let mut one = Vec::new();
        key.write(&mut one);
        for _ in 0..100 {
            assert_eq!(d.feed(&one), Ok(()));
            assert_eq!(d.next_message(), Ok(Some(key.clone())));
            assert!(d.buffered() <= 10);
            assert!(d.buf.len() <= 10, "raw buffer {} bytes", d.buf.len());
        }
    }

    #[test]
    fn backlog_near_limit_keeps_raw_buffer_within_limit() {
        let limits = Limits {
            max_buffered: 64,
            ..Limits::DEFAULT
        };
        let mut d = ClientMessageDecoder::new(limits);
        let mut one = Vec::new();
        ClientMessage::PointerEvent {
            buttons: 1,
            x: 2,
            y: 3,
        }
        .write(&mut one);
        // Feed two messages, decode one: the backlog grows to the limit.
        let mut full = false;
        for _ in 0..100 {
            for _ in 0..2 {
                if d.feed(&one).is_err() {
                    full = true;
                }
            }
            assert!(matches!(d.next_message(), Ok(Some(_))));
            assert!(d.buf.len() <= 64);
        }
        assert!(full, "the backlog should have reached the limit");
    }

    #[test]
    fn error_is_sticky() {
        let mut d = ClientMessageDecoder::new(Limits::DEFAULT);
        let mut wire = Vec::new();
        ClientMessage::KeyEvent { down: true, key: 1 }.write(&mut wire);
        wire.push(9);
        assert_eq!(d.feed(&wire), Ok(()));
        assert!(matches!(d.next_message(), Ok(Some(_))));
        let err = RfbError::UnknownMessageType {
            direction: Direction::ClientToServer,
            ty: 9,
        };
        assert_eq!(d.next_message(), Err(err.clone()));
        assert_eq!(d.next_message(), Err(err.clone()));
        assert_eq!(d.feed(&[4]), Err(err));
    }

    #[test]
    fn rejects_hostile_cut_text_length_from_header_alone() {
        let mut d = ClientMessageDecoder::new(Limits::DEFAULT);
        assert_eq!(d.feed(&[6, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]), Ok(()));
        assert!(matches!(
            d.next_message(),
            Err(RfbError::LimitExceeded { .. })
        ));
    }

    #[test]
    fn compaction_keeps_partial_message_intact() {
        // Interleave partial feeds with decodes so the buffer is compacted
        // while a message is half received.
        let msgs = sample();
        let wire = encode_all(&msgs);
        let mut d = ClientMessageDecoder::new(Limits::DEFAULT);
        let mut got = Vec::new();
        for chunk in wire.chunks(7) {
            assert_eq!(d.feed(chunk), Ok(()));
            if let Ok(Some(m)) = d.next_message() {
                got.push(m);
            }
        }
        got.extend(drain(&mut d));
        assert_eq!(got, msgs);
    }
}
