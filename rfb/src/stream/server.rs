//! Decoding the server-to-client stream (used by consoles): FramebufferUpdate
//! rectangle by rectangle straight into a [`Framebuffer`] (pointer shapes of
//! the Cursor pseudo-encoding beside it, as events), plus
//! SetColourMapEntries, Bell and ServerCutText.
//!
//! Every rectangle is decoded in small resumable units (a run of raw pixels,
//! a sub-rectangle, a tile or part of one), so the decoder's buffer only ever
//! holds the unfinished part of one unit plus what the transport delivered
//! last; ZRLE data is inflated through one bounded buffer as it arrives.

use std::collections::VecDeque;

use crate::encoding::{Conv, CursorImage, DecodeCtx, Encoding, Inflater, RectDecoder};
use crate::error::Direction;
use crate::framebuffer::Framebuffer;
use crate::limits::Limits;
use crate::messages::server_type;
use crate::pixel::{ColourMap, PixelFormat, Rgb};
use crate::rect::Rect;
use crate::RfbError;

/// One rectangle, fully decoded and applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RectInfo {
    /// Where the server said it goes (as sent, even if outside the screen).
    pub rect: Rect,
    /// The encoding code as sent.
    pub encoding: i32,
    /// Wire bytes of this rectangle, header included.
    pub bytes: u64,
    /// Whether `rect` lay wholly within the screen (pseudo-rectangles: true).
    /// Pixels outside the screen are decoded and dropped, so the stream stays
    /// in step and the violation is reported, not fatal.
    pub in_bounds: bool,
}

/// What the decoder produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// A FramebufferUpdate header announcing `rects` rectangles.
    UpdateBegin {
        /// Announced rectangle count.
        rects: u16,
    },
    /// A rectangle was decoded into the framebuffer (a DesktopSize rectangle
    /// has resized it; a Cursor rectangle left it alone and was preceded by
    /// a [`ServerEvent::Cursor`]).
    Rect(RectInfo),
    /// A Cursor pseudo-rectangle carried this pointer shape (converted to
    /// RGB with the pixel format and colour map in force). Its
    /// [`ServerEvent::Rect`] follows.
    Cursor(Box<CursorImage>),
    /// The update's last rectangle is done.
    UpdateEnd {
        /// Wire bytes of the whole update.
        bytes: u64,
    },
    /// SetColourMapEntries was applied to the decoder's colour map.
    ColourMap {
        /// First index set.
        first: u16,
        /// How many entries.
        count: u16,
    },
    /// Bell.
    Bell,
    /// ServerCutText (at most [`Limits::max_cut_text`] bytes).
    CutText(Vec<u8>),
}

/// Where the decoder is in the stream.
enum State {
    /// Between messages.
    Idle,
    /// In a FramebufferUpdate, before a rectangle header.
    Rects {
        /// Rectangles still to come.
        left: u16,
        /// Wire bytes of the update so far.
        bytes: u64,
    },
    /// In the payload of a rectangle.
    Rect {
        left: u16,
        bytes: u64,
        info: RectInfo,
        dec: RectDecoder,
    },
    /// In the entries of SetColourMapEntries.
    ColourMap { first: u16, count: u16, done: u16 },
    /// In the text of ServerCutText.
    CutText { left: u32, text: Vec<u8> },
}

/// What one decoding step achieved.
enum Outcome {
    /// Consumed bytes (or changed state) without finishing an event.
    Progress(usize),
    /// Produced an event after consuming this many bytes.
    Event(usize, ServerEvent),
    /// Consumed this many bytes, then needs at least `.1` more.
    Need(usize, usize),
}

/// Decodes the server-to-client stream after ServerInit.
pub struct ServerMessageDecoder {
    pf: PixelFormat,
    next_pf: Option<PixelFormat>,
    limits: Limits,
    map: ColourMap,
    buf: Vec<u8>,
    pos: usize,
    /// Buffered bytes needed before decoding is worth retrying.
    gate: usize,
    state: State,
    /// Events already decoded, returned by the next calls (at most two: a
    /// Cursor rectangle's Rect and its update's UpdateEnd).
    pending: VecDeque<ServerEvent>,
    inflater: Inflater,
    palette: Vec<Rgb>,
    error: Option<RfbError>,
}

impl std::fmt::Debug for ServerMessageDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerMessageDecoder")
            .field("pf", &self.pf)
            .field("buffered", &self.buffered())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl ServerMessageDecoder {
    /// A decoder for pixels in `pf` (the format last set by SetPixelFormat, or
    /// the ServerInit format).
    pub fn new(pf: PixelFormat, limits: Limits) -> Self {
        ServerMessageDecoder {
            pf,
            next_pf: None,
            limits,
            map: ColourMap::new(),
            buf: Vec::new(),
            pos: 0,
            gate: 0,
            state: State::Idle,
            pending: VecDeque::new(),
            inflater: Inflater::new(),
            palette: Vec::new(),
            error: None,
        }
    }

    /// Switches the pixel format; takes effect from the next message. A client
    /// calls this when it sends SetPixelFormat.
    pub fn set_pixel_format(&mut self, pf: PixelFormat) {
        self.next_pf = Some(pf);
    }

    /// The limits the decoder applies.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The colour map built from SetColourMapEntries so far.
    pub fn colour_map(&self) -> &ColourMap {
        &self.map
    }

    /// Appends received bytes. Fails with [`RfbError::BufferFull`] when the
    /// buffer would pass the limit; drain with [`Self::next_event`] first.
    /// A refused feed appends nothing and leaves the decoder usable; after a
    /// decoding error, feeding fails with that error.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), RfbError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let buffered = self.buffered();
        if data.len() > self.limits.max_buffered.saturating_sub(buffered) {
            return Err(RfbError::BufferFull {
                limit: self.limits.max_buffered,
            });
        }
        // Drop consumed bytes once they outnumber the live ones (amortised O(1)).
        if self.pos > 0 && self.pos >= buffered {
            self.buf.drain(..self.pos.min(self.buf.len()));
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// Decodes as far as the buffered bytes allow and returns the next event,
    /// or `Ok(None)` when more bytes are needed. Pixels go into `fb`. After an
    /// error the stream cannot be followed and every later call fails.
    pub fn next_event(&mut self, fb: &mut Framebuffer) -> Result<Option<ServerEvent>, RfbError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if let Some(ev) = self.pending.pop_front() {
            return Ok(Some(ev));
        }
        let buf = std::mem::take(&mut self.buf);
        let r = self.advance(buf.get(self.pos..).unwrap_or(&[]), fb);
        self.buf = buf;
        match r {
            Ok((used, ev)) => {
                self.pos += used;
                if self.pos >= self.buf.len() {
                    self.buf.clear();
                    self.pos = 0;
                }
                Ok(ev)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Decodes `data` and appends every event it completes to `events`: the
    /// same events and pixels as [`Self::feed`] followed by
    /// [`Self::next_event`] until `Ok(None)`, but decoded straight from the
    /// caller's slice instead of being copied into the decoder's buffer
    /// first. Only the unfinished tail of one decoding unit is kept, so this
    /// never fails with [`RfbError::BufferFull`]. Events decoded before an
    /// error are left in `events`; the error is sticky as with `next_event`.
    pub fn decode(
        &mut self,
        data: &[u8],
        fb: &mut Framebuffer,
        events: &mut Vec<ServerEvent>,
    ) -> Result<(), RfbError> {
        let mut data = data;
        // Finish a unit begun in the buffer, adding no more than it needs.
        loop {
            while let Some(ev) = self.next_event(fb)? {
                events.push(ev);
            }
            if self.buffered() == 0 || data.is_empty() {
                break;
            }
            let k = self
                .gate
                .saturating_sub(self.buffered())
                .clamp(1, data.len());
            let (head, tail) = data.split_at(k);
            self.feed(head)?;
            data = tail;
        }
        // The buffer is empty: decode in place.
        while !data.is_empty() {
            match self.advance(data, fb) {
                Err(e) => return Err(self.fail(e)),
                Ok((used, ev)) => {
                    data = data.get(used..).unwrap_or(&[]);
                    let Some(ev) = ev else { break };
                    events.push(ev);
                    events.extend(self.pending.drain(..));
                }
            }
        }
        // Keep what the next unit has of its bytes (fewer than it needs).
        self.feed(data)
    }

    /// Records a decoding error, which every later call returns.
    fn fail(&mut self, e: RfbError) -> RfbError {
        self.error = Some(e.clone());
        self.state = State::Idle;
        self.buf = Vec::new();
        self.pos = 0;
        e
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Heap bytes the decoder holds for buffering: its input buffer, the
    /// ZRLE inflate buffer and any ServerCutText or pointer shape being
    /// collected. Bounded by about twice [`Limits::max_buffered`] plus a
    /// fixed inflate buffer plus the larger of [`Limits::max_cut_text`] and
    /// a shape of [`Limits::max_cursor_pixels`], whatever the peer sends;
    /// exposed so callers and tests can check that bound.
    pub fn allocated(&self) -> usize {
        let text = match &self.state {
            State::CutText { text, .. } => text.capacity(),
            State::Rect { dec, .. } => dec.allocated(),
            _ => 0,
        };
        self.buf.capacity() + self.inflater.allocated() + text
    }

    /// Runs steps over `input` until an event or a shortage; returns the
    /// bytes consumed and the event, if any.
    fn advance(
        &mut self,
        input: &[u8],
        fb: &mut Framebuffer,
    ) -> Result<(usize, Option<ServerEvent>), RfbError> {
        let mut used = 0;
        loop {
            let rest = input.get(used..).unwrap_or(&[]);
            if rest.len() < self.gate {
                return Ok((used, None));
            }
            match self.step(rest, fb)? {
                Outcome::Progress(n) => {
                    used += n;
                    self.gate = 0;
                }
                Outcome::Event(n, ev) => {
                    self.gate = 0;
                    return Ok((used + n, Some(ev)));
                }
                Outcome::Need(n, need) => {
                    let wanted = rest.len() - n + need;
                    if wanted > self.limits.max_buffered {
                        return Err(RfbError::LimitExceeded {
                            field: "bytes needed to decode the next unit",
                            value: wanted as u64,
                            limit: self.limits.max_buffered as u64,
                        });
                    }
                    self.gate = wanted;
                    return Ok((used + n, None));
                }
            }
        }
    }

    /// One decoding step in the current state.
    fn step(&mut self, input: &[u8], fb: &mut Framebuffer) -> Result<Outcome, RfbError> {
        match &mut self.state {
            State::Idle => self.start_message(input, fb),
            State::Rects { left, bytes } => {
                let (left, bytes) = (*left, *bytes);
                let Some(h) = input.get(..12) else {
                    return Ok(Outcome::Need(0, 12usize.saturating_sub(input.len())));
                };
                let be16 = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
                let rect = Rect::new(be16(0), be16(2), be16(4), be16(6));
                let code = i32::from_be_bytes([h[8], h[9], h[10], h[11]]);
                let encoding = Encoding::from_code(code);
                let mut info = RectInfo {
                    rect,
                    encoding: code,
                    bytes: 12,
                    in_bounds: true,
                };
                match encoding {
                    Encoding::DesktopSize => {
                        fb.resize(rect.w, rect.h, &self.limits)?;
                        Ok(self.finish_rect(12, left, bytes, info))
                    }
                    _ => {
                        let Some(dec) = RectDecoder::new(encoding, rect, &self.limits)? else {
                            return Err(RfbError::UnsupportedEncoding(code));
                        };
                        self.pf.validate()?;
                        // A pointer shape is not put on the screen.
                        info.in_bounds =
                            encoding.is_pseudo() || rect.within(fb.width(), fb.height());
                        self.state = State::Rect {
                            left,
                            bytes,
                            info,
                            dec,
                        };
                        Ok(Outcome::Progress(12))
                    }
                }
            }
            State::Rect {
                left,
                bytes,
                info,
                dec,
            } => {
                let conv = Conv::new(&self.pf, &self.map);
                let s = dec.step(
                    input,
                    DecodeCtx {
                        fb,
                        conv: &conv,
                        inflater: &mut self.inflater,
                        palette: &mut self.palette,
                    },
                )?;
                info.bytes += s.used as u64;
                if !s.done {
                    return Ok(Outcome::Need(s.used, s.need));
                }
                let mut info = info.clone();
                info.in_bounds &= dec.source_in_bounds();
                let cursor = dec.take_cursor();
                let (left, bytes) = (*left, *bytes);
                let done = self.finish_rect(s.used, left, bytes, info);
                match (cursor, done) {
                    // The shape first, then its rectangle (then UpdateEnd).
                    (Some(c), Outcome::Event(n, rect)) => {
                        self.pending.push_front(rect);
                        Ok(Outcome::Event(n, ServerEvent::Cursor(Box::new(c))))
                    }
                    (_, done) => Ok(done),
                }
            }
            State::ColourMap { first, count, done } => {
                let (first, count) = (*first, *count);
                let want = usize::from(count - *done);
                let n = (input.len() / 6).min(want);
                let entries: Vec<[u16; 3]> = input
                    .chunks_exact(6)
                    .take(n)
                    .map(|c| {
                        [
                            u16::from_be_bytes([c[0], c[1]]),
                            u16::from_be_bytes([c[2], c[3]]),
                            u16::from_be_bytes([c[4], c[5]]),
                        ]
                    })
                    .collect();
                self.map.set(first + *done, &entries)?;
                *done += n as u16;
                if *done < count {
                    return Ok(Outcome::Need(n * 6, 6 - (input.len() - n * 6)));
                }
                self.state = State::Idle;
                Ok(Outcome::Event(
                    n * 6,
                    ServerEvent::ColourMap { first, count },
                ))
            }
            State::CutText { left, text } => {
                let n = input.len().min(*left as usize);
                text.extend_from_slice(input.get(..n).unwrap_or(&[]));
                *left -= n as u32;
                if *left > 0 {
                    return Ok(Outcome::Need(n, 1));
                }
                let text = std::mem::take(text);
                self.state = State::Idle;
                Ok(Outcome::Event(n, ServerEvent::CutText(text)))
            }
        }
    }

    /// Closes a rectangle: yields its event, and queues UpdateEnd after the
    /// update's last rectangle.
    fn finish_rect(&mut self, used: usize, left: u16, bytes: u64, info: RectInfo) -> Outcome {
        let left = left.saturating_sub(1);
        let bytes = bytes + info.bytes;
        if left == 0 {
            self.pending.push_back(ServerEvent::UpdateEnd { bytes });
            self.state = State::Idle;
        } else {
            self.state = State::Rects { left, bytes };
        }
        Outcome::Event(used, ServerEvent::Rect(info))
    }

    /// Reads a message type and its fixed header.
    fn start_message(&mut self, input: &[u8], _fb: &mut Framebuffer) -> Result<Outcome, RfbError> {
        if let Some(pf) = self.next_pf.take() {
            self.pf = pf;
            self.palette.clear();
        }
        let Some(&ty) = input.first() else {
            return Ok(Outcome::Need(0, 1));
        };
        let header = |n: usize| -> Result<&[u8], Outcome> {
            input
                .get(..n)
                .ok_or_else(|| Outcome::Need(0, n.saturating_sub(input.len())))
        };
        let be16 = |h: &[u8], i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        match ty {
            server_type::FRAMEBUFFER_UPDATE => {
                let h = match header(4) {
                    Ok(h) => h,
                    Err(o) => return Ok(o),
                };
                let rects = be16(h, 2);
                if rects == 0 {
                    self.pending.push_back(ServerEvent::UpdateEnd { bytes: 4 });
                } else {
                    self.state = State::Rects {
                        left: rects,
                        bytes: 4,
                    };
                }
                Ok(Outcome::Event(4, ServerEvent::UpdateBegin { rects }))
            }
            server_type::SET_COLOUR_MAP_ENTRIES => {
                let h = match header(6) {
                    Ok(h) => h,
                    Err(o) => return Ok(o),
                };
                let (first, count) = (be16(h, 2), be16(h, 4));
                let end = usize::from(first) + usize::from(count);
                if end > ColourMap::MAX_ENTRIES {
                    return Err(RfbError::LimitExceeded {
                        field: "SetColourMapEntries first-colour + number-of-colours",
                        value: end as u64,
                        limit: ColourMap::MAX_ENTRIES as u64,
                    });
                }
                if count == 0 {
                    return Ok(Outcome::Event(6, ServerEvent::ColourMap { first, count }));
                }
                self.state = State::ColourMap {
                    first,
                    count,
                    done: 0,
                };
                Ok(Outcome::Progress(6))
            }
            server_type::BELL => Ok(Outcome::Event(1, ServerEvent::Bell)),
            server_type::SERVER_CUT_TEXT => {
                let h = match header(8) {
                    Ok(h) => h,
                    Err(o) => return Ok(o),
                };
                let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
                if len > self.limits.max_cut_text {
                    return Err(RfbError::LimitExceeded {
                        field: "ServerCutText length",
                        value: u64::from(len),
                        limit: u64::from(self.limits.max_cut_text),
                    });
                }
                if len == 0 {
                    return Ok(Outcome::Event(8, ServerEvent::CutText(Vec::new())));
                }
                self.state = State::CutText {
                    left: len,
                    text: Vec::with_capacity(len as usize),
                };
                Ok(Outcome::Progress(8))
            }
            ty => Err(RfbError::UnknownMessageType {
                direction: Direction::ServerToClient,
                ty,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::{write_copy_rect, write_desktop_size, Encoder};

    fn update_header(rects: u16, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&rects.to_be_bytes());
    }

    fn rect_header(r: Rect, code: i32, out: &mut Vec<u8>) {
        for v in [r.x, r.y, r.w, r.h] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&code.to_be_bytes());
    }

    /// Feeds `bytes` in chunks of `chunk` and collects every event.
    fn run(
        dec: &mut ServerMessageDecoder,
        fb: &mut Framebuffer,
        bytes: &[u8],
        chunk: usize,
    ) -> Result<Vec<ServerEvent>, RfbError> {
        let mut events = Vec::new();
        for c in bytes.chunks(chunk.max(1)) {
            dec.feed(c)?;
            while let Some(ev) = dec.next_event(fb)? {
                events.push(ev);
            }
        }
        Ok(events)
    }

    fn image(w: u16, h: u16) -> Framebuffer {
        let mut fb = Framebuffer::new(w, h, &Limits::DEFAULT).expect("fb");
        for (i, p) in fb.pixels_mut().iter_mut().enumerate() {
            *p = (i as u32).wrapping_mul(0x9e37_79b9) >> 8 & 0x00f0_f0f0;
        }
        fb
    }

    #[test]
    fn update_decodes_identically_however_split() {
        let src = image(40, 30);
        let mut enc = Encoder::new();
        let mut bytes = Vec::new();
        let encs = [
            Encoding::Raw,
            Encoding::Rre,
            Encoding::Hextile,
            Encoding::Trle,
            Encoding::Zrle,
        ];
        update_header(encs.len() as u16, &mut bytes);
        for (i, e) in encs.iter().enumerate() {
            let r = Rect::new(0, (i * 6) as u16, 40, 6);
            enc.encode_rect(
                *e,
                &src,
                r,
                &PixelFormat::RGB888,
                &ColourMap::new(),
                &mut bytes,
            )
            .expect("encode");
        }
        let mut reference = None;
        for chunk in [1, 2, 3, 7, 64, 100_000] {
            let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
            let mut fb = Framebuffer::new(40, 30, &Limits::DEFAULT).expect("fb");
            let events = run(&mut dec, &mut fb, &bytes, chunk).expect("decode");
            assert_eq!(fb, src, "chunk {chunk}");
            assert_eq!(dec.buffered(), 0);
            assert_eq!(events.len(), 2 + encs.len());
            assert_eq!(
                events.last(),
                Some(&ServerEvent::UpdateEnd {
                    bytes: bytes.len() as u64
                })
            );
            match &reference {
                None => reference = Some(events),
                Some(r) => assert_eq!(r, &events, "chunk {chunk}"),
            }
        }
    }

    #[test]
    fn decode_in_place_matches_feed_and_next_event() {
        let src = image(70, 40);
        let mut enc = Encoder::new();
        let mut bytes = vec![2];
        for e in [
            Encoding::Raw,
            Encoding::Hextile,
            Encoding::Zrle,
            Encoding::Trle,
        ] {
            update_header(1, &mut bytes);
            enc.encode_rect(
                e,
                &src,
                src.bounds(),
                &PixelFormat::RGB888,
                &ColourMap::new(),
                &mut bytes,
            )
            .expect("encode");
        }
        update_header(0, &mut bytes);
        let mut want_fb = Framebuffer::new(70, 40, &Limits::DEFAULT).expect("fb");
        let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
        let want = run(&mut dec, &mut want_fb, &bytes, usize::MAX).expect("decode");
        for chunk in [1, 2, 5, 13, 1000, 100_000] {
            let mut fb = Framebuffer::new(70, 40, &Limits::DEFAULT).expect("fb");
            let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
            let mut events = Vec::new();
            for c in bytes.chunks(chunk) {
                dec.decode(c, &mut fb, &mut events).expect("decode");
                // At most one unit: here a raw Hextile tile of 1 + 16 * 16 * 4 bytes.
                assert!(dec.buffered() <= 1025, "chunk {chunk}: {}", dec.buffered());
            }
            assert_eq!(events, want, "chunk {chunk}");
            assert!(fb == want_fb, "chunk {chunk}");
        }
        // Errors stick here too.
        let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
        let mut fb = Framebuffer::new(2, 2, &Limits::DEFAULT).expect("fb");
        let mut events = Vec::new();
        let err = dec.decode(&[2, 2, 77, 2], &mut fb, &mut events);
        assert!(matches!(
            err,
            Err(RfbError::UnknownMessageType { ty: 77, .. })
        ));
        assert_eq!(events, [ServerEvent::Bell, ServerEvent::Bell]);
        assert!(dec.decode(&[2], &mut fb, &mut events).is_err());
    }

    #[test]
    fn out_of_bounds_rectangle_is_decoded_clipped_and_flagged() {
        let src = image(20, 20);
        let mut enc = Encoder::new();
        let mut bytes = Vec::new();
        update_header(2, &mut bytes);
        // Encoded from a 20x20 image, decoded onto a 10x10 screen.
        enc.encode_rect(
            Encoding::Hextile,
            &src,
            Rect::new(4, 4, 16, 16),
            &PixelFormat::RGB888,
            &ColourMap::new(),
            &mut bytes,
        )
        .expect("encode");
        write_copy_rect(Rect::new(0, 0, 4, 4), 8, 8, &mut bytes);
        let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
        let mut fb = Framebuffer::new(10, 10, &Limits::DEFAULT).expect("fb");
        let events = run(&mut dec, &mut fb, &bytes, 5).expect("decode");
        let flags: Vec<bool> = events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Rect(i) => Some(i.in_bounds),
                _ => None,
            })
            .collect();
        assert_eq!(flags, [false, false]);
        assert_eq!(fb.get(9, 9), src.get(9, 9));
        assert_eq!(fb.get(4, 4), src.get(4, 4));
        // The copy's source ran off the screen: its off-screen part is black.
        assert_eq!(fb.get(0, 0), src.get(8, 8));
        assert_eq!(fb.get(3, 3), Some(0));
    }

    #[test]
    fn desktop_size_resizes_and_bad_sizes_are_fatal() {
        let mut bytes = Vec::new();
        update_header(1, &mut bytes);
        write_desktop_size(33, 44, &mut bytes);
        let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
        let mut fb = Framebuffer::new(10, 10, &Limits::DEFAULT).expect("fb");
        let events = run(&mut dec, &mut fb, &bytes, 3).expect("decode");
        assert_eq!((fb.width(), fb.height()), (33, 44));
        assert!(matches!(
            events.get(1),
            Some(ServerEvent::Rect(RectInfo {
                in_bounds: true,
                bytes: 12,
                ..
            }))
        ));
        let mut bytes = Vec::new();
        update_header(1, &mut bytes);
        write_desktop_size(0, 44, &mut bytes);
        let err = run(&mut dec, &mut fb, &bytes, 100);
        assert!(matches!(
            err,
            Err(RfbError::LimitExceeded { field: "width", .. })
        ));
    }

    #[test]
    fn unsupported_encoding_is_fatal_and_sticky() {
        let mut bytes = Vec::new();
        update_header(1, &mut bytes);
        rect_header(Rect::new(0, 0, 1, 1), 7, &mut bytes);
        let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
        let mut fb = Framebuffer::new(10, 10, &Limits::DEFAULT).expect("fb");
        let err = run(&mut dec, &mut fb, &bytes, 100);
        assert_eq!(err, Err(RfbError::UnsupportedEncoding(7)));
        assert_eq!(
            dec.next_event(&mut fb),
            Err(RfbError::UnsupportedEncoding(7))
        );
        assert_eq!(dec.feed(&[2]), Err(RfbError::UnsupportedEncoding(7)));
    }

    #[test]
    fn unknown_message_type_is_rejected() {
        let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
        let mut fb = Framebuffer::new(10, 10, &Limits::DEFAULT).expect("fb");
        let err = run(&mut dec, &mut fb, &[2, 9], 100);
        assert_eq!(
            err,
            Err(RfbError::UnknownMessageType {
                direction: Direction::ServerToClient,
                ty: 9
            })
        );
    }

    #[test]
    fn bell_cut_text_and_empty_update() {
        let mut bytes = vec![2, 3, 0, 0, 0, 0, 0, 0, 5];
        bytes.extend_from_slice(b"hello");
        update_header(0, &mut bytes);
        let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
        let mut fb = Framebuffer::new(10, 10, &Limits::DEFAULT).expect("fb");
        let events = run(&mut dec, &mut fb, &bytes, 1).expect("decode");
        assert_eq!(
            events,
            [
                ServerEvent::Bell,
                ServerEvent::CutText(b"hello".to_vec()),
                ServerEvent::UpdateBegin { rects: 0 },
                ServerEvent::UpdateEnd { bytes: 4 },
            ]
        );
    }

    #[test]
    fn cut_text_over_the_limit_is_refused_from_its_header() {
        let limits = Limits {
            max_cut_text: 4,
            ..Limits::DEFAULT
        };
        let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, limits);
        let mut fb = Framebuffer::new(10, 10, &Limits::DEFAULT).expect("fb");
        let err = run(
            &mut dec,
            &mut fb,
            &[3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
            100,
        );
        assert!(matches!(
            err,
            Err(RfbError::LimitExceeded {
                field: "ServerCutText length",
                ..
            })
        ));
    }

    #[test]
    fn colour_map_entries_drive_a_colour_mapped_format() {
        let mut bytes = vec![1, 0, 0, 5, 0, 2];
        for c in [[0xffffu16, 0, 0], [0, 0, 0xffff]] {
            for v in c {
                bytes.extend_from_slice(&v.to_be_bytes());
            }
        }
        update_header(1, &mut bytes);
        rect_header(Rect::new(0, 0, 2, 1), 0, &mut bytes);
        bytes.extend_from_slice(&[6, 5]);
        let mut dec = ServerMessageDecoder::new(PixelFormat::MAPPED8, Limits::DEFAULT);
        let mut fb = Framebuffer::new(2, 1, &Limits::DEFAULT).expect("fb");
        let events = run(&mut dec, &mut fb, &bytes, 1).expect("decode");
        assert_eq!(
            events.first(),
            Some(&ServerEvent::ColourMap { first: 5, count: 2 })
        );
        assert_eq!(dec.colour_map().get(5), 0x00ff_0000);
        assert_eq!(fb.pixels(), &[0x0000_00ff, 0x00ff_0000]);
    }

    #[test]
    fn colour_map_past_65536_entries_is_refused() {
        let mut dec = ServerMessageDecoder::new(PixelFormat::MAPPED8, Limits::DEFAULT);
        let mut fb = Framebuffer::new(2, 1, &Limits::DEFAULT).expect("fb");
        let err = run(&mut dec, &mut fb, &[1, 0, 0xff, 0xff, 0, 2], 100);
        assert!(matches!(err, Err(RfbError::LimitExceeded { .. })));
    }

    #[test]
    fn feed_refuses_past_max_buffered_without_poisoning() {
        let limits = Limits {
            max_buffered: 8,
            ..Limits::DEFAULT
        };
        let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, limits);
        let mut fb = Framebuffer::new(2, 1, &Limits::DEFAULT).expect("fb");
        assert_eq!(dec.feed(&[2; 9]), Err(RfbError::BufferFull { limit: 8 }));
        assert_eq!(dec.buffered(), 0);
        dec.feed(&[2; 8]).expect("fits");
        assert_eq!(dec.feed(&[2]), Err(RfbError::BufferFull { limit: 8 }));
        assert_eq!(dec.next_event(&mut fb), Ok(Some(ServerEvent::Bell)));
        dec.feed(&[2]).expect("room again");
        assert!(dec.buffered() <= 8);
    }

    #[test]
    fn pixel_format_change_applies_from_the_next_message() {
        let mut bytes = Vec::new();
        update_header(1, &mut bytes);
        rect_header(Rect::new(0, 0, 1, 1), 0, &mut bytes);
        let split = bytes.len();
        bytes.extend_from_slice(&[0x00, 0xf8, 0, 0]); // RGB888 pixel 0x00f800
        update_header(1, &mut bytes);
        rect_header(Rect::new(1, 0, 1, 1), 0, &mut bytes);
        bytes.extend_from_slice(&[0x00, 0xf8]); // RGB565 pixel: red 31
        let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
        let mut fb = Framebuffer::new(2, 1, &Limits::DEFAULT).expect("fb");
        run(&mut dec, &mut fb, &bytes[..split], 100).expect("first part");
        dec.set_pixel_format(PixelFormat::RGB565);
        run(&mut dec, &mut fb, &bytes[split..], 100).expect("rest");
        assert_eq!(fb.pixels(), &[0x0000_f800, 0x00ff_0000]);
    }

    #[test]
    fn invalid_pixel_format_is_reported_at_the_first_rectangle() {
        let mut pf = PixelFormat::RGB888;
        pf.bits_per_pixel = 0;
        let mut bytes = Vec::new();
        update_header(1, &mut bytes);
        rect_header(Rect::new(0, 0, 1, 1), 0, &mut bytes);
        let mut dec = ServerMessageDecoder::new(pf, Limits::DEFAULT);
        let mut fb = Framebuffer::new(2, 1, &Limits::DEFAULT).expect("fb");
        let err = run(&mut dec, &mut fb, &bytes, 100);
        assert!(matches!(
            err,
            Err(RfbError::InvalidValue {
                field: "bits-per-pixel",
                ..
            })
        ));
    }

    fn sample_cursor() -> CursorImage {
        let cells: Vec<Option<u32>> = (0..10 * 3)
            .map(|i| (i % 3 != 1).then_some(0x0010_2030 * (i as u32 % 5)))
            .collect();
        CursorImage::from_cells(10, 3, 9, 2, &cells).expect("shape")
    }

    #[test]
    fn cursor_rect_yields_the_shape_and_leaves_the_screen_alone() {
        let cursor = sample_cursor();
        let mut bytes = Vec::new();
        update_header(2, &mut bytes);
        crate::encoding::write_cursor(&cursor, &PixelFormat::RGB888, &ColourMap::new(), &mut bytes)
            .expect("write");
        rect_header(Rect::new(0, 0, 1, 1), 0, &mut bytes);
        bytes.extend_from_slice(&[9, 9, 9, 0]);
        let cursor_len = 12 + 10 * 3 * 4 + 2 * 3;
        for chunk in [1, 5, 1000] {
            let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
            let mut fb = Framebuffer::new(4, 4, &Limits::DEFAULT).expect("fb");
            let events = run(&mut dec, &mut fb, &bytes, chunk).expect("decode");
            assert_eq!(
                events,
                [
                    ServerEvent::UpdateBegin { rects: 2 },
                    ServerEvent::Cursor(Box::new(cursor.clone())),
                    ServerEvent::Rect(RectInfo {
                        rect: Rect::new(9, 2, 10, 3),
                        encoding: -239,
                        bytes: cursor_len,
                        in_bounds: true,
                    }),
                    ServerEvent::Rect(RectInfo {
                        rect: Rect::new(0, 0, 1, 1),
                        encoding: 0,
                        bytes: 16,
                        in_bounds: true,
                    }),
                    ServerEvent::UpdateEnd {
                        bytes: 4 + cursor_len + 16
                    },
                ],
                "chunk {chunk}"
            );
            // Only the Raw pixel reached the screen.
            assert_eq!(fb.pixels().iter().filter(|p| **p != 0).count(), 1);
        }
        // Decoding in place gives the same events, the last rectangle's
        // UpdateEnd included.
        let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
        let mut fb = Framebuffer::new(4, 4, &Limits::DEFAULT).expect("fb");
        let mut events = Vec::new();
        let mut only = Vec::new();
        update_header(1, &mut only);
        crate::encoding::write_cursor(&cursor, &PixelFormat::RGB888, &ColourMap::new(), &mut only)
            .expect("write");
        dec.decode(&only, &mut fb, &mut events).expect("decode");
        assert_eq!(events.len(), 4);
        assert!(matches!(events[1], ServerEvent::Cursor(_)));
        assert!(matches!(events[3], ServerEvent::UpdateEnd { .. }));
    }

    #[test]
    fn cursor_colours_follow_the_pixel_format_and_colour_map() {
        let cells = [
            Some(0x00ff_0000),
            None,
            Some(0x0000_00ff),
            Some(0x0000_ff00),
        ];
        let cursor = CursorImage::from_cells(2, 2, 0, 0, &cells).expect("shape");
        let map = ColourMap::rgb332();
        let mut bytes = vec![1, 0, 0, 0, 1, 0];
        for c in map.entries() {
            for v in c {
                bytes.extend_from_slice(&v.to_be_bytes());
            }
        }
        update_header(1, &mut bytes);
        crate::encoding::write_cursor(&cursor, &PixelFormat::MAPPED8, &map, &mut bytes)
            .expect("write");
        let mut dec = ServerMessageDecoder::new(PixelFormat::MAPPED8, Limits::DEFAULT);
        let mut fb = Framebuffer::new(2, 2, &Limits::DEFAULT).expect("fb");
        let events = run(&mut dec, &mut fb, &bytes, 3).expect("decode");
        let got = events
            .iter()
            .find_map(|e| match e {
                ServerEvent::Cursor(c) => Some(c.cells()),
                _ => None,
            })
            .expect("a cursor event");
        assert_eq!(got, cells);
    }

    #[test]
    fn hostile_cursor_header_is_refused_before_anything_is_reserved() {
        let mut bytes = Vec::new();
        update_header(1, &mut bytes);
        rect_header(Rect::new(0, 0, 65535, 65535), -239, &mut bytes);
        let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
        let mut fb = Framebuffer::new(2, 2, &Limits::DEFAULT).expect("fb");
        let before = dec.allocated();
        let mut events = Vec::new();
        let err = dec.decode(&bytes, &mut fb, &mut events);
        assert!(
            matches!(
                err,
                Err(RfbError::LimitExceeded {
                    field: "Cursor width*height",
                    value: 4_294_836_225,
                    ..
                })
            ),
            "{err:?}"
        );
        assert!(
            dec.allocated() <= before.max(64 * 1024),
            "{}",
            dec.allocated()
        );
        assert!(dec.next_event(&mut fb).is_err(), "the error sticks");
    }

    #[test]
    fn cursor_hotspot_outside_the_shape_is_malformed() {
        let mut bytes = Vec::new();
        update_header(1, &mut bytes);
        rect_header(Rect::new(4, 0, 4, 4), -239, &mut bytes);
        let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
        let mut fb = Framebuffer::new(2, 2, &Limits::DEFAULT).expect("fb");
        let err = run(&mut dec, &mut fb, &bytes, 100);
        assert!(
            matches!(&err, Err(RfbError::MalformedEncoding { encoding: "Cursor", reason })
                if reason.contains("hotspot (4, 0)")),
            "{err:?}"
        );
    }

    #[test]
    fn truncated_cursor_waits_and_an_empty_one_needs_no_payload() {
        let cursor = sample_cursor();
        let mut bytes = Vec::new();
        update_header(1, &mut bytes);
        crate::encoding::write_cursor(&cursor, &PixelFormat::RGB888, &ColourMap::new(), &mut bytes)
            .expect("write");
        let mut dec = ServerMessageDecoder::new(PixelFormat::RGB888, Limits::DEFAULT);
        let mut fb = Framebuffer::new(2, 2, &Limits::DEFAULT).expect("fb");
        let cut = bytes.len() - 1;
        let events = run(&mut dec, &mut fb, &bytes[..cut], 7).expect("partial");
        assert_eq!(events, [ServerEvent::UpdateBegin { rects: 1 }]);
        let events = run(&mut dec, &mut fb, &bytes[cut..], 7).expect("rest");
        assert_eq!(events.len(), 3);
        // A 0x0 shape (pointer hidden) is complete with its header.
        let mut bytes = Vec::new();
        update_header(1, &mut bytes);
        rect_header(Rect::new(0, 0, 0, 0), -239, &mut bytes);
        let events = run(&mut dec, &mut fb, &bytes, 100).expect("empty shape");
        let empty = CursorImage::new(0, 0, 0, 0, Vec::new(), Vec::new()).expect("empty");
        assert_eq!(events.get(1), Some(&ServerEvent::Cursor(Box::new(empty))));
        assert_eq!(events.len(), 4);
    }
}
