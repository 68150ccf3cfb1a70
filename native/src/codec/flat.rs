//! `Flat`: the encoding of a tuple whose elements are all immediates
//! (`{Int, Int}`, `{Atom, Int, Pid}`), the commonest ETS object. Its layout
//! is fixed, so it is written on the stack, without the encoder's buffer or
//! its per-element type dispatch: the same bytes `Encoder` writes. Such a
//! key is never `-0.0` and such an object holds no shared binary.

use super::format::{is_immediate_word, IMMEDIATE, TUPLE};

/// Tuples of at most this many immediates are `Flat`.
pub const FLAT_MAX: usize = 8;
/// An immediate's encoding: the tag byte and the term word.
const ELEM: usize = 1 + 8;

pub struct Flat {
    buf: [u8; 2 + ELEM * FLAT_MAX],
    len: usize,
}

impl Flat {
    /// The tuple of the term words `words`; `None` unless they are 1 to
    /// `FLAT_MAX` immediates.
    #[inline]
    pub fn of_words(words: impl ExactSizeIterator<Item = u64>) -> Option<Flat> {
        let arity = words.len();
        if arity == 0 || arity > FLAT_MAX {
            return None;
        }
        let mut buf = [0u8; 2 + ELEM * FLAT_MAX];
        buf[0] = TUPLE;
        buf[1] = arity as u8; // a one-byte varint: FLAT_MAX < 0x80
        for (i, w) in words.enumerate() {
            if !is_immediate_word(w) {
                return None;
            }
            let at = 2 + ELEM * i;
            buf[at] = IMMEDIATE;
            buf[at + 1..at + ELEM].copy_from_slice(&w.to_le_bytes());
        }
        Some(Flat {
            buf,
            len: 2 + ELEM * arity,
        })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Element `pos` (1-based, at most the arity): the key's encoding.
    pub fn element(&self, pos: usize) -> &[u8] {
        let at = 2 + ELEM * (pos - 1);
        &self.buf[at..at + ELEM]
    }
}
