//! A reader over a byte slice that only shrinks and never panics.
//!
//! Every `take` that runs past the end yields [`ReadError::Incomplete`] with the
//! number of bytes missing, so decoders built on it can be retried once more
//! bytes arrive, and give the same result however the input was split.

use crate::error::ReadError;

/// A cursor over a borrowed byte slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, positioned at its start.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn used(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The unread rest, without consuming it.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Takes exactly `n` bytes, or reports how many are missing.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        let left = self.left();
        if n > left {
            return Err(ReadError::Incomplete { needed: n - left });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Skips `n` bytes (padding).
    pub fn skip(&mut self, n: usize) -> Result<(), ReadError> {
        self.take(n).map(|_| ())
    }

    /// Reads a `u8`.
    pub fn u8(&mut self) -> Result<u8, ReadError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, ReadError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, ReadError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `i32`.
    pub fn i32(&mut self) -> Result<i32, ReadError> {
        Ok(i32::from_be_bytes(self.array()?))
    }
}

/// Runs `f` over `buf`; on success returns the value and how many bytes it
/// used, on [`ReadError::Incomplete`] returns `Ok(None)`.
pub fn try_decode<T>(
    buf: &[u8],
    f: impl FnOnce(&mut Reader<'_>) -> Result<T, ReadError>,
) -> Result<Option<(T, usize)>, crate::RfbError> {
    let mut r = Reader::new(buf);
    match f(&mut r) {
        Ok(v) => Ok(Some((v, r.used()))),
        Err(ReadError::Incomplete { .. }) => Ok(None),
        Err(ReadError::Invalid(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_past_end_reports_missing_bytes() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16().ok(), Some(0x0102));
        assert_eq!(r.u32(), Err(ReadError::Incomplete { needed: 3 }));
        // A failed take consumes nothing.
        assert_eq!(r.u8().ok(), Some(3));
        assert_eq!(r.left(), 0);
    }

    #[test]
    fn try_decode_maps_incomplete_to_none() {
        let got = try_decode(&[0, 1], |r| r.u32());
        assert_eq!(got, Ok(None));
        let got = try_decode(&[0, 0, 0, 7, 9], |r| r.u32());
        assert_eq!(got, Ok(Some((7, 4))));
    }
}
