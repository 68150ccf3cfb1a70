//! The owned term format: how an Erlang term is laid out in Rust-owned bytes.
//!
//! This layer knows nothing about the VM, so it is unit-tested without one.
//! One term is one tag byte followed by its payload:
//!
//! | tag          | payload                                                    |
//! |--------------|------------------------------------------------------------|
//! | `IMMEDIATE`  | the raw 8-byte term word (small integer, atom, local pid/port, `[]`) |
//! | `FLOAT`      | the f64 bits, little endian                                |
//! | `TUPLE`      | arity (varint), then the elements                         |
//! | `LIST`       | number of cells (varint, >= 1), the heads, then the tail   |
//! | `BINARY`     | length (varint), then the bytes                            |
//! | `SHARED_BIN` | the owning resource (8-byte pointer), the offset of the bytes in it and their length (varints) |
//! | `MAP`        | size (varint), then key, value, key, value ...             |
//! | `EXTERNAL`   | length (varint), then `term_to_binary` bytes (bignums, refs, funs, bitstrings, remote pids) |
//!
//! Every encoding is canonical for `=:=` except shared binaries (compared by
//! content) and floats (`0.0` and `-0.0` are the same key in an OTP 25 set):
//! keys are therefore written without sharing, and `-0.0` in a key is flagged
//! so that key comparison can normalise it.

pub const IMMEDIATE: u8 = 1;
pub const FLOAT: u8 = 2;
pub const TUPLE: u8 = 3;
pub const LIST: u8 = 4;
pub const BINARY: u8 = 5;
pub const SHARED_BIN: u8 = 6;
pub const MAP: u8 = 7;
pub const EXTERNAL: u8 = 8;

/// Where the bytes of a shared binary are: `offset` from its owning resource
/// `base` (wrapping: a held binary's bytes lie outside the resource).
#[inline]
pub fn shared_bytes_at(base: u64, offset: usize) -> *const u8 {
    (base as usize as *const u8).wrapping_add(offset)
}

/// Binaries longer than this are shared on lookup instead of copied (as ETS does).
pub const SHARE_THRESHOLD: usize = 64;

/// Low two bits of an immediate term word (small integer, atom, local pid
/// or port, `[]`): the VM's `_TAG_PRIMARY_IMMED1`.
const IMMEDIATE_TAG_MASK: u64 = 0b11;

/// Whether a raw term word is an immediate.
#[inline]
pub fn is_immediate_word(w: u64) -> bool {
    w & IMMEDIATE_TAG_MASK == IMMEDIATE_TAG_MASK
}

pub fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint at `*pos`, advancing it.
#[inline]
pub fn get_varint(buf: &[u8], pos: &mut usize) -> usize {
    let mut v = 0usize;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        v |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

#[inline]
pub fn get_u64(buf: &[u8], pos: &mut usize) -> u64 {
    let v = u64::from_le_bytes(buf[*pos..*pos + 8].try_into().unwrap());
    *pos += 8;
    v
}

/// Returns the position just past the term that starts at `pos`.
#[inline]
pub fn skip(buf: &[u8], pos: usize) -> usize {
    // Immediates and floats (most elements) without a call.
    match buf[pos] {
        IMMEDIATE | FLOAT => pos + 9,
        _ => walk(buf, pos, |_, _, _| {}),
    }
}

/// Calls `f(tag, at, payload)` for every term in the term at `pos`, the
/// term itself first and then its elements in order (`at`: where the term
/// starts; `payload`: just past its tag and its count or length); returns
/// the position just past the term.
///
/// Never recursive, whatever the depth: each term's header says how many
/// terms it contains, so one count of terms still to pass is enough.
pub fn walk(buf: &[u8], mut pos: usize, mut f: impl FnMut(u8, usize, usize)) -> usize {
    let mut pending = 1usize;
    while pending > 0 {
        pending -= 1;
        let at = pos;
        let tag = buf[pos];
        pos += 1;
        match tag {
            IMMEDIATE | FLOAT => {
                f(tag, at, pos);
                pos += 8;
            }
            TUPLE | LIST | MAP => {
                let n = get_varint(buf, &mut pos);
                f(tag, at, pos);
                pending += match tag {
                    TUPLE => n,
                    LIST => n + 1,
                    _ => 2 * n,
                };
            }
            BINARY | EXTERNAL => {
                let n = get_varint(buf, &mut pos);
                f(tag, at, pos);
                pos += n;
            }
            SHARED_BIN => {
                f(tag, at, pos);
                pos += 8;
                get_varint(buf, &mut pos);
                get_varint(buf, &mut pos);
            }
            _ => unreachable!("corrupt term encoding: tag {tag}"),
        }
    }
    pos
}

/// Locates element `index` (0-based) of the tuple encoded at `pos`.
/// Returns `None` when the term is not a tuple or is too short.
pub fn tuple_element(buf: &[u8], pos: usize, index: usize) -> Option<(usize, usize)> {
    if buf[pos] != TUPLE {
        return None;
    }
    let mut p = pos + 1;
    let arity = get_varint(buf, &mut p);
    if index >= arity {
        return None;
    }
    for _ in 0..index {
        p = skip(buf, p);
    }
    Some((p, skip(buf, p)))
}

/// Arity of the tuple encoded at `pos`, or `None` if it is not a tuple.
pub fn tuple_arity(buf: &[u8], pos: usize) -> Option<usize> {
    if buf[pos] != TUPLE {
        return None;
    }
    let mut p = pos + 1;
    Some(get_varint(buf, &mut p))
}

const NEG_ZERO_BITS: u64 = 0x8000_0000_0000_0000;

/// Whether the term contains a `-0.0` float anywhere (keys holding one need
/// normalising before they are hashed or compared).
pub fn contains_neg_zero(buf: &[u8]) -> bool {
    // Most keys are one scalar: answered without the walk.
    match buf[0] {
        IMMEDIATE | BINARY | SHARED_BIN | EXTERNAL => return false,
        FLOAT => return buf[1..9] == NEG_ZERO_BITS.to_le_bytes(),
        _ => {}
    }
    let mut found = false;
    visit_floats(buf, 0, &mut |bits, _| found |= bits == NEG_ZERO_BITS);
    found
}

/// Rewrites every `-0.0` in the term to `0.0`, the form keys are compared in.
pub fn normalise_neg_zero(buf: &mut [u8]) {
    let mut at = Vec::new();
    visit_floats(buf, 0, &mut |bits, p| {
        if bits == NEG_ZERO_BITS {
            at.push(p)
        }
    });
    for p in at {
        buf[p..p + 8].copy_from_slice(&0u64.to_le_bytes());
    }
}

/// Calls `f(bits, payload_pos)` for every float in the term at `pos`; returns the end.
fn visit_floats(buf: &[u8], pos: usize, f: &mut dyn FnMut(u64, usize)) -> usize {
    walk(buf, pos, |tag, _, payload| {
        if tag == FLOAT {
            f(get_u64(buf, &mut { payload }), payload)
        }
    })
}

/// A shared binary named in an encoding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SharedBin {
    /// The owning resource.
    pub base: u64,
    pub offset: usize,
    pub len: usize,
    /// Where `base` is written in the encoding.
    pub at: usize,
}

/// Calls `out` with each shared binary in the term at `pos`; returns the
/// position after the term.
pub fn shared_bins(buf: &[u8], pos: usize, out: &mut impl FnMut(SharedBin)) -> usize {
    walk(buf, pos, |tag, _, at| {
        if tag == SHARED_BIN {
            let mut p = at;
            let base = get_u64(buf, &mut p);
            let offset = get_varint(buf, &mut p);
            let len = get_varint(buf, &mut p);
            out(SharedBin {
                base,
                offset,
                len,
                at,
            });
        }
    })
}

fn varint_len(v: usize) -> usize {
    (usize::BITS as usize - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Points the shared binary `old` of the encoding `buf` at `offset` in
/// `base` instead, in place; `false` (and nothing written) when the new
/// offset does not take as many bytes as the old one.
pub fn respell_shared(buf: &mut [u8], old: &SharedBin, base: u64, offset: usize) -> bool {
    let width = varint_len(old.offset);
    if varint_len(offset) != width {
        return false;
    }
    let mut spelled = Vec::with_capacity(8 + width);
    spelled.extend_from_slice(&base.to_le_bytes());
    put_varint(&mut spelled, offset);
    buf[old.at..old.at + spelled.len()].copy_from_slice(&spelled);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VM-free model of a term, to build and read encodings in tests.
    #[derive(Debug, Clone, PartialEq)]
    enum T {
        Imm(u64),
        Float(f64),
        Tuple(Vec<T>),
        List(Vec<T>, Box<T>),
        Bin(Vec<u8>),
        Map(Vec<(T, T)>),
        Ext(Vec<u8>),
    }

    fn enc(t: &T, out: &mut Vec<u8>) {
        match t {
            T::Imm(w) => {
                out.push(IMMEDIATE);
                out.extend_from_slice(&w.to_le_bytes());
            }
            T::Float(f) => {
                out.push(FLOAT);
                out.extend_from_slice(&f.to_bits().to_le_bytes());
            }
            T::Tuple(es) => {
                out.push(TUPLE);
                put_varint(out, es.len());
                es.iter().for_each(|e| enc(e, out));
            }
            T::List(es, tail) => {
                out.push(LIST);
                put_varint(out, es.len());
                es.iter().for_each(|e| enc(e, out));
                enc(tail, out);
            }
            T::Bin(b) | T::Ext(b) => {
                out.push(if matches!(t, T::Bin(_)) {
                    BINARY
                } else {
                    EXTERNAL
                });
                put_varint(out, b.len());
                out.extend_from_slice(b);
            }
            T::Map(kvs) => {
                out.push(MAP);
                put_varint(out, kvs.len());
                for (k, v) in kvs {
                    enc(k, out);
                    enc(v, out);
                }
            }
        }
    }

    fn dec(buf: &[u8], pos: &mut usize) -> T {
        let tag = buf[*pos];
        *pos += 1;
        match tag {
            IMMEDIATE => T::Imm(get_u64(buf, pos)),
            FLOAT => T::Float(f64::from_bits(get_u64(buf, pos))),
            TUPLE => {
                let n = get_varint(buf, pos);
                T::Tuple((0..n).map(|_| dec(buf, pos)).collect())
            }
            LIST => {
                let n = get_varint(buf, pos);
                let es = (0..n).map(|_| dec(buf, pos)).collect();
                T::List(es, Box::new(dec(buf, pos)))
            }
            BINARY | EXTERNAL => {
                let n = get_varint(buf, pos);
                let b = buf[*pos..*pos + n].to_vec();
                *pos += n;
                if tag == BINARY {
                    T::Bin(b)
                } else {
                    T::Ext(b)
                }
            }
            MAP => {
                let n = get_varint(buf, pos);
                T::Map((0..n).map(|_| (dec(buf, pos), dec(buf, pos))).collect())
            }
            _ => panic!("bad tag"),
        }
    }

    fn sample() -> T {
        T::Tuple(vec![
            T::Imm(0x1f),
            T::Float(-0.0),
            T::List(
                vec![T::Imm(1), T::Bin(vec![7; 300])],
                Box::new(T::Imm(0x3b)),
            ),
            T::Map(vec![(T::Imm(2), T::Ext(vec![131, 110, 8, 0]))]),
            T::Tuple(vec![]),
        ])
    }

    #[test]
    fn varints_round_trip() {
        for v in [0usize, 1, 127, 128, 300, 16_383, 16_384, usize::MAX >> 1] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut p = 0;
            assert_eq!(get_varint(&b, &mut p), v);
            assert_eq!(p, b.len());
        }
    }

    #[test]
    fn encoding_round_trips_and_skips_exactly() {
        let t = sample();
        let mut b = Vec::new();
        enc(&t, &mut b);
        let mut p = 0;
        assert_eq!(dec(&b, &mut p), t);
        assert_eq!(p, b.len());
        assert_eq!(skip(&b, 0), b.len());
    }

    #[test]
    fn tuple_elements_are_located() {
        let mut b = Vec::new();
        enc(&sample(), &mut b);
        assert_eq!(tuple_arity(&b, 0), Some(5));
        let (s, e) = tuple_element(&b, 0, 3).unwrap();
        let mut p = s;
        assert!(matches!(dec(&b, &mut p), T::Map(_)));
        assert_eq!(p, e);
        assert_eq!(tuple_element(&b, 0, 5), None);
        let (s, _) = tuple_element(&b, 0, 0).unwrap();
        assert_eq!(tuple_element(&b, s, 0), None, "not a tuple");
    }

    #[test]
    fn negative_zero_is_found_and_normalised() {
        let mut b = Vec::new();
        enc(&sample(), &mut b);
        assert!(contains_neg_zero(&b));
        normalise_neg_zero(&mut b);
        assert!(!contains_neg_zero(&b));
        let mut plus = Vec::new();
        let mut t = sample();
        if let T::Tuple(es) = &mut t {
            es[1] = T::Float(0.0);
        }
        enc(&t, &mut plus);
        assert_eq!(b, plus, "-0.0 normalises to exactly the 0.0 encoding");
    }
}
