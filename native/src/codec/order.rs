//! Order-preserving byte strings for Erlang term order (VM-free part).
//!
//! An ordered_set keeps its keys as *sort keys*: byte strings whose plain
//! byte-wise order (`memcmp`) is Erlang term order, and which are equal
//! exactly when the terms compare `==` (so `1` and `1.0` are one key). The
//! table then needs nothing but a `BTreeMap` of byte strings, and merging
//! partitions is comparing bytes. `sort_key.rs` walks VM terms into these
//! pieces.
//!
//! Every piece is prefix-free (no encoding is a proper prefix of another), so
//! concatenating the pieces of a tuple's elements still compares element by
//! element.

/// Class tags, in term order: number < atom < reference < fun < port < pid <
/// tuple < map < [] < list < bitstring.
pub const NUMBER: u8 = 0x10;
pub const ATOM: u8 = 0x20;
pub const REFERENCE: u8 = 0x30;
pub const FUN: u8 = 0x40;
pub const PORT: u8 = 0x50;
pub const PID: u8 = 0x60;
pub const TUPLE: u8 = 0x70;
pub const MAP: u8 = 0x80;
pub const NIL: u8 = 0x90;
/// A list cell: the head, then the tail (`[]`, another cell or any term).
pub const CONS: u8 = 0xa0;
pub const BITSTRING: u8 = 0xb0;

/// Inside map keys integers sort before floats whatever their values (maps
/// compare keys exactly, `=:=`): this sub-tag follows `NUMBER` there.
pub const EXACT_INTEGER: u8 = 0;
pub const EXACT_FLOAT: u8 = 1;

/// Appends the first `bit_len` bits of `data` (most significant bit of each
/// byte first) so that byte-wise order is bit-wise lexicographic order with a
/// prefix sorting first.
pub fn put_bits(out: &mut Vec<u8>, data: &[u8], bit_len: usize) {
    // Seven bytes are exactly eight groups: whole blocks of them go a word
    // at a time (a 32 MB key took 0.5 s bit by bit); the rest bit by bit.
    let blocks = bit_len / 56;
    out.reserve(blocks * 8 + bit_len % 56 / 7 + 2);
    for block in data.chunks_exact(7).take(blocks) {
        let word = block.iter().fold(0u64, |w, &b| (w << 8) | u64::from(b));
        for g in (0..8).rev() {
            out.push((((word >> (7 * g)) & 0x7f) as u8) << 1 | 1);
        }
    }
    let done = blocks * 56;
    put_bits_with(out, bit_len - done, |i| {
        let i = done + i;
        (data[i / 8] >> (7 - i % 8)) & 1
    })
}

/// `put_bits` for bits given by a function (`bit(i)` is 0 or 1).
///
/// Bits go in groups of seven, each group in the top of a byte whose lowest
/// bit says whether a full group follows. The last group (0 to 6 bits, left
/// aligned) has that bit clear and is followed by its bit count.
fn put_bits_with(out: &mut Vec<u8>, bit_len: usize, bit: impl Fn(usize) -> u8) {
    let mut i = 0;
    while bit_len - i >= 7 {
        let mut group = 0u8;
        for j in 0..7 {
            group = (group << 1) | bit(i + j);
        }
        out.push((group << 1) | 1);
        i += 7;
    }
    let rest = bit_len - i;
    let mut group = 0u8;
    for j in 0..rest {
        group |= bit(i + j) << (6 - j);
    }
    out.push(group << 1);
    out.push(rest as u8);
}

/// Appends a number of value `(-1)^negative * magnitude * 2^shift`, where
/// `magnitude` is a big-endian unsigned integer. Equal values give equal
/// bytes whatever their type (`1`, `1.0` and `2.0 / 2`).
///
/// Layout: a sign byte (0 negative, 1 zero, 2 positive); then, for non-zero
/// values, the binary exponent (position of the leading one bit, as a
/// biased 32-bit big-endian number: no term has 2^31 bits) and the bits after the leading one without trailing zeros
/// (`put_bits`). Negative numbers have those bytes inverted, so that larger
/// magnitudes sort first.
pub fn put_number(out: &mut Vec<u8>, negative: bool, magnitude: &[u8], shift: i64) {
    let Some(first) = magnitude.iter().position(|&b| b != 0) else {
        out.push(1);
        return;
    };
    let mag = &magnitude[first..];
    let top_bits = 8 - mag[0].leading_zeros() as usize; // bits used in mag[0]
    let total_bits = (mag.len() - 1) * 8 + top_bits;
    let last_one = {
        let last = mag.iter().rposition(|&b| b != 0).expect("non-zero");
        last * 8 + 7 - mag[last].trailing_zeros() as usize
    };
    // Bit positions counted from the first bit of `mag[0]`.
    let lead = 8 - top_bits;
    let exponent = total_bits as i64 - 1 + shift;

    out.push(if negative { 0 } else { 2 });
    let start = out.len();
    put_exponent(out, exponent);
    // The bits after the leading one, up to and including the last one bit.
    put_bits_with(out, last_one - lead, |k| {
        let src = lead + 1 + k;
        (mag[src / 8] >> (7 - src % 8)) & 1
    });
    if negative {
        out[start..].iter_mut().for_each(|b| *b = !*b);
    }
}

fn put_exponent(out: &mut Vec<u8>, e: i64) {
    out.extend_from_slice(&((e as i32 as u32) ^ (1 << 31)).to_be_bytes());
}

/// Appends an integer that fits in 64 bits.
pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    put_u64_shifted(out, v < 0, v.unsigned_abs(), 0);
}

/// `put_number` for a magnitude that fits in 64 bits (no slices to walk).
fn put_u64_shifted(out: &mut Vec<u8>, negative: bool, magnitude: u64, shift: i64) {
    if magnitude == 0 {
        out.push(1);
        return;
    }
    let top = 63 - magnitude.leading_zeros() as i64; // position of the leading one
    let fraction = magnitude << (63 - top) << 1; // the bits after it, top-aligned
    let n = (top - magnitude.trailing_zeros() as i64) as usize;
    out.push(if negative { 0 } else { 2 });
    let start = out.len();
    put_exponent(out, top + shift);
    put_word_bits(out, fraction, n);
    if negative {
        out[start..].iter_mut().for_each(|b| *b = !*b);
    }
}

/// `put_bits_with` for the first `bit_len` (< 64) bits of `word`, most
/// significant first: seven at a time instead of one.
fn put_word_bits(out: &mut Vec<u8>, word: u64, bit_len: usize) {
    let mut i = 0;
    while bit_len - i >= 7 {
        out.push((((word << i) >> 57) as u8) << 1 | 1);
        i += 7;
    }
    let rest = bit_len - i;
    // The next `rest` bits, at the top of seven; `word` is zero past `bit_len`.
    let group = if rest == 0 {
        0
    } else {
        ((word << i) >> 57) as u8
    };
    out.push(group << 1);
    out.push(rest as u8);
}

/// Appends a float by its exact value. `-0.0` is zero, like `0` and `0.0`.
pub fn put_f64(out: &mut Vec<u8>, f: f64) {
    let bits = f.to_bits();
    let negative = bits >> 63 == 1;
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1 << 52) - 1);
    let (mantissa, shift) = if exp == 0 {
        (frac, -1074) // subnormal (or zero)
    } else {
        (frac | (1 << 52), exp - 1075)
    };
    put_u64_shifted(out, negative, mantissa, shift);
}

/// Appends a length or count so that smaller counts sort first.
pub fn put_count(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num_i(v: i64) -> Vec<u8> {
        let mut o = vec![];
        put_i64(&mut o, v);
        o
    }

    fn num_f(v: f64) -> Vec<u8> {
        let mut o = vec![];
        put_f64(&mut o, v);
        o
    }

    fn big(negative: bool, magnitude: &[u8]) -> Vec<u8> {
        let mut o = vec![];
        put_number(&mut o, negative, magnitude, 0);
        o
    }

    #[test]
    fn the_slice_and_word_paths_agree() {
        for v in [
            1i64,
            2,
            3,
            5,
            255,
            256,
            1 << 40,
            i64::MAX,
            -1,
            -6,
            i64::MIN + 1,
        ] {
            assert_eq!(num_i(v), big(v < 0, &v.unsigned_abs().to_be_bytes()), "{v}");
        }
        // 2^64 (a bignum) sorts after i64::MAX and after 2^63 as a float.
        let two64 = big(false, &[1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(two64 > num_i(i64::MAX));
        assert_eq!(two64, num_f(18446744073709551616.0));
    }

    fn bits(data: &[u8], n: usize) -> Vec<u8> {
        let mut o = vec![];
        put_bits(&mut o, data, n);
        o
    }

    #[test]
    fn integers_and_floats_of_equal_value_are_one_key() {
        assert_eq!(num_i(1), num_f(1.0));
        assert_eq!(num_i(0), num_f(-0.0));
        assert_eq!(num_i(-7), num_f(-7.0));
        assert_eq!(num_i(1 << 53), num_f(9007199254740992.0));
        assert_ne!(num_i((1 << 53) + 1), num_f(9007199254740992.0));
    }

    #[test]
    fn numbers_sort_by_value() {
        let mut vals: Vec<f64> = vec![
            -1e300, -3.5, -3.0, -2.75, -1.0, -0.5, -1e-310, 0.0, 1e-310, 0.25, 0.5, 1.0, 1.5, 2.0,
            3.0, 1e20, 1e300,
        ];
        vals.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let keys: Vec<_> = vals.iter().map(|&v| num_f(v)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{vals:?}");
        let ints = [
            i64::MIN,
            -1000,
            -3,
            -1,
            0,
            1,
            2,
            3,
            255,
            256,
            1000,
            i64::MAX,
        ];
        let keys: Vec<_> = ints.iter().map(|&v| num_i(v)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(num_f(2.5) > num_i(2) && num_f(2.5) < num_i(3));
        assert!(num_f(-2.5) < num_i(-2) && num_f(-2.5) > num_i(-3));
    }

    #[test]
    fn whole_blocks_are_written_as_bit_by_bit() {
        let data: Vec<u8> = (0..200u32).map(|i| (i * 37 + 11) as u8).collect();
        for bits in [0, 7, 55, 56, 57, 112, 800, 1599, 1600] {
            let mut slow = vec![];
            put_bits_with(&mut slow, bits, |i| (data[i / 8] >> (7 - i % 8)) & 1);
            assert_eq!(bits_of(&data, bits), slow, "{bits} bits");
        }
    }

    fn bits_of(data: &[u8], n: usize) -> Vec<u8> {
        let mut o = vec![];
        put_bits(&mut o, data, n);
        o
    }

    #[test]
    fn bit_strings_sort_lexicographically_with_prefixes_first() {
        // <<>> < <<0:1>> < <<0>> < <<0,1:1>> < <<1>> < <<1:3>>, as Erlang sorts them.
        let seq = [
            bits(&[], 0),
            bits(&[0], 1),
            bits(&[0], 8),
            bits(&[0, 0x80], 9),
            bits(&[1], 8),
            bits(&[0x20], 3),
        ];
        assert!(seq.windows(2).all(|w| w[0] < w[1]));
        assert!(bits(b"ab", 16) < bits(b"abc", 24));
        assert!(bits(b"abc", 24) < bits(b"abd", 24));
        assert!(bits(b"b", 8) > bits(b"abc", 24));
    }

    #[test]
    fn pieces_are_prefix_free_so_tuples_compare_element_wise() {
        // {<<"a">>, 2} < {<<"ab">>, 1}: the first elements decide.
        let mut t1 = bits(b"a", 8);
        t1.extend(num_i(2));
        let mut t2 = bits(b"ab", 16);
        t2.extend(num_i(1));
        assert!(t1 < t2);
        let mut t3 = num_i(1);
        t3.extend(num_i(5));
        let mut t4 = num_f(1.5);
        t4.extend(num_i(0));
        assert!(t3 < t4);
    }
}
