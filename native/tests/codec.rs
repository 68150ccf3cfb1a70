//! Unit tests of the VM-free parts of the codec: the byte format, term
//! comparison and key hashing. They are compiled here on their own because
//! the NIF glue around them can only be linked into a running VM.
//!
//! Besides the modules' own unit tests, `format_props` and `order_props`
//! below are property tests (proptest): random terms through the format
//! (round trip, skip, tuple_element, -0.0, shared binaries, terms_equal
//! against a model), and random numbers and bit strings through the
//! order-preserving sort keys (byte order is value order, equal values give
//! equal bytes, pieces are prefix-free).

// Some helpers are used only by the NIF glue.
#[allow(dead_code)]
#[path = "../src/codec/format.rs"]
mod format;

#[path = "../src/codec/compare.rs"]
mod compare;

#[path = "../src/codec/flat.rs"]
mod flat;

#[path = "../src/codec/hash.rs"]
mod hash;

#[path = "../src/codec/rope.rs"]
mod rope;

// The class tags are used only by the NIF glue.
#[allow(dead_code)]
#[path = "../src/codec/order.rs"]
mod order;

/// Property tests (proptest) of the byte format and term comparison on
/// random terms, built from a VM-free model of a term.
mod format_props {
    use super::compare::terms_equal;
    use super::format::*;
    use proptest::prelude::*;

    /// A term as the format stores it. `Shared` points into `Backing`, a
    /// buffer that lives as long as the test case.
    #[derive(Debug, Clone)]
    enum T {
        Imm(u64),
        Float(f64),
        Tuple(Vec<T>),
        List(Vec<T>, Box<T>),
        Bin(Vec<u8>),
        Shared(usize, usize),
        Map(Vec<(T, T)>),
        Ext(Vec<u8>),
    }

    /// The bytes shared binaries point into.
    const BACKING: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    /// The same bytes elsewhere, for binaries moved out of `BACKING`.
    static MIRROR: [u8; 62] = *b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

    fn float() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(0.0),
            Just(-0.0),
            Just(1.0),
            Just(-1.5),
            any::<f64>().prop_filter("finite", |f| f.is_finite()),
        ]
    }

    fn leaf() -> impl Strategy<Value = T> {
        prop_oneof![
            // a few words, so that equal terms come up often
            prop_oneof![Just(0x0fu64), Just(0x1f), Just(0x3b), any::<u64>()].prop_map(T::Imm),
            float().prop_map(T::Float),
            prop::collection::vec(any::<u8>(), 0..80).prop_map(T::Bin),
            (0..BACKING.len())
                .prop_flat_map(|o| (Just(o), 0..=BACKING.len() - o))
                .prop_map(|(o, l)| T::Shared(o, l)),
            prop::collection::vec(any::<u8>(), 0..12).prop_map(T::Ext),
        ]
    }

    fn term() -> impl Strategy<Value = T> {
        leaf().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(T::Tuple),
                (prop::collection::vec(inner.clone(), 1..5), inner.clone())
                    .prop_map(|(es, tail)| T::List(es, Box::new(tail))),
                prop::collection::vec((inner.clone(), inner), 0..4).prop_map(T::Map),
            ]
        })
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
            T::Bin(b) => {
                out.push(BINARY);
                put_varint(out, b.len());
                out.extend_from_slice(b);
            }
            T::Shared(offset, len) => {
                out.push(SHARED_BIN);
                out.extend_from_slice(&(BACKING.as_ptr() as u64).to_le_bytes());
                put_varint(out, *offset);
                put_varint(out, *len);
            }
            T::Map(kvs) => {
                out.push(MAP);
                put_varint(out, kvs.len());
                for (k, v) in kvs {
                    enc(k, out);
                    enc(v, out);
                }
            }
            T::Ext(b) => {
                out.push(EXTERNAL);
                put_varint(out, b.len());
                out.extend_from_slice(b);
            }
        }
    }

    fn encode(t: &T) -> Vec<u8> {
        let mut b = Vec::new();
        enc(t, &mut b);
        b
    }

    /// Reads a term back (shared binaries as their offset and length).
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
            SHARED_BIN => {
                assert_eq!(get_u64(buf, pos), BACKING.as_ptr() as u64);
                let o = get_varint(buf, pos);
                T::Shared(o, get_varint(buf, pos))
            }
            MAP => {
                let n = get_varint(buf, pos);
                T::Map((0..n).map(|_| (dec(buf, pos), dec(buf, pos))).collect())
            }
            t => panic!("bad tag {t}"),
        }
    }

    /// Identity of the model, bit for bit (what a round trip must keep).
    fn identical(a: &T, b: &T) -> bool {
        match (a, b) {
            (T::Float(x), T::Float(y)) => x.to_bits() == y.to_bits(),
            _ => same_shape(a, b, identical),
        }
    }

    /// What `terms_equal` promises: `=:=` except that 0.0 equals -0.0 and
    /// binaries compare by content, shared or not.
    fn model_equal(a: &T, b: &T) -> bool {
        match (bytes_of(a), bytes_of(b)) {
            (Some(x), Some(y)) => return x == y,
            (Some(_), None) | (None, Some(_)) => return false,
            _ => {}
        }
        match (a, b) {
            (T::Float(x), T::Float(y)) => x == y,
            _ => same_shape(a, b, model_equal),
        }
    }

    fn bytes_of(t: &T) -> Option<&[u8]> {
        match t {
            T::Bin(b) => Some(b),
            T::Shared(o, l) => Some(&BACKING[*o..*o + *l]),
            _ => None,
        }
    }

    fn same_shape(a: &T, b: &T, eq: fn(&T, &T) -> bool) -> bool {
        let all = |x: &[T], y: &[T]| x.len() == y.len() && x.iter().zip(y).all(|(p, q)| eq(p, q));
        match (a, b) {
            (T::Imm(x), T::Imm(y)) => x == y,
            (T::Tuple(x), T::Tuple(y)) => all(x, y),
            (T::List(x, xt), T::List(y, yt)) => all(x, y) && eq(xt, yt),
            (T::Map(x), T::Map(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((k1, v1), (k2, v2))| eq(k1, k2) && eq(v1, v2))
            }
            (T::Ext(x), T::Ext(y)) => x == y,
            (T::Bin(x), T::Bin(y)) => x == y,
            (T::Shared(o1, l1), T::Shared(o2, l2)) => o1 == o2 && l1 == l2,
            _ => false,
        }
    }

    /// The term with every -0.0 made 0.0 (`flip` also turns 0.0 into -0.0).
    fn zeros(t: &T, flip: bool) -> T {
        let z = |e: &T| zeros(e, flip);
        match t {
            T::Float(f) if *f == 0.0 => T::Float(if flip && f.is_sign_positive() {
                -0.0
            } else {
                0.0
            }),
            T::Tuple(es) => T::Tuple(es.iter().map(z).collect()),
            T::List(es, tail) => T::List(es.iter().map(z).collect(), Box::new(z(tail))),
            T::Map(kvs) => T::Map(kvs.iter().map(|(k, v)| (z(k), z(v))).collect()),
            other => other.clone(),
        }
    }

    fn has_neg_zero(t: &T) -> bool {
        match t {
            T::Float(f) => f.to_bits() == 0x8000_0000_0000_0000,
            T::Tuple(es) => es.iter().any(has_neg_zero),
            T::List(es, tail) => es.iter().any(has_neg_zero) || has_neg_zero(tail),
            T::Map(kvs) => kvs.iter().any(|(k, v)| has_neg_zero(k) || has_neg_zero(v)),
            _ => false,
        }
    }

    fn shared_count(t: &T) -> usize {
        match t {
            T::Shared(..) => 1,
            T::Tuple(es) => es.iter().map(shared_count).sum(),
            T::List(es, tail) => es.iter().map(shared_count).sum::<usize>() + shared_count(tail),
            T::Map(kvs) => kvs
                .iter()
                .map(|(k, v)| shared_count(k) + shared_count(v))
                .sum(),
            _ => 0,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn encoding_round_trips_and_skip_finds_the_end(t in term()) {
            let b = encode(&t);
            let mut p = 0;
            let back = dec(&b, &mut p);
            prop_assert!(identical(&back, &t));
            prop_assert_eq!(p, b.len());
            prop_assert_eq!(skip(&b, 0), b.len());
            // skip also works from inside a larger buffer
            let mut padded = vec![IMMEDIATE, 0, 0, 0, 0, 0, 0, 0, 0];
            padded.extend_from_slice(&b);
            padded.push(0xff);
            prop_assert_eq!(skip(&padded, 9), 9 + b.len());
        }

        #[test]
        fn tuple_element_locates_each_element(es in prop::collection::vec(term(), 0..8)) {
            let b = encode(&T::Tuple(es.clone()));
            prop_assert_eq!(tuple_arity(&b, 0), Some(es.len()));
            for (i, e) in es.iter().enumerate() {
                let (s, end) = tuple_element(&b, 0, i).expect("element");
                prop_assert_eq!(&b[s..end], &encode(e)[..]);
            }
            prop_assert_eq!(tuple_element(&b, 0, es.len()), None);
        }

        #[test]
        fn tuple_element_refuses_non_tuples(t in term(), i in 0usize..4) {
            let b = encode(&t);
            match t {
                T::Tuple(ref es) => prop_assert_eq!(tuple_element(&b, 0, i).is_some(), i < es.len()),
                _ => {
                    prop_assert_eq!(tuple_element(&b, 0, i), None);
                    prop_assert_eq!(tuple_arity(&b, 0), None);
                }
            }
        }

        #[test]
        fn negative_zero_is_found_and_normalised(t in term()) {
            let mut b = encode(&t);
            prop_assert_eq!(contains_neg_zero(&b), has_neg_zero(&t));
            normalise_neg_zero(&mut b);
            prop_assert_eq!(b, encode(&zeros(&t, false)));
        }

        #[test]
        fn shared_binaries_are_listed(t in term()) {
            let b = encode(&t);
            let mut owners = Vec::new();
            prop_assert_eq!(shared_bins(&b, 0, &mut |o| owners.push(o)), b.len());
            prop_assert_eq!(owners.len(), shared_count(&t));
            prop_assert!(owners.iter().all(|o| o.base == BACKING.as_ptr() as u64));
        }

        /// Moving each shared binary (to a mirror of its bytes further on)
        /// rewrites the encoding in place: the same term, read from the new
        /// place; an offset of another width is refused and changes nothing.
        #[test]
        fn shared_binaries_are_respelled_in_place(t in term()) {
            let mut b = encode(&t);
            let mut owners = Vec::new();
            shared_bins(&b, 0, &mut |o| owners.push(o));
            for o in &owners {
                let before = b.clone();
                prop_assert!(!respell_shared(&mut b, o, o.base, o.offset + 1000));
                prop_assert_eq!(&b, &before);
                let base = MIRROR.as_ptr() as u64;
                prop_assert!(respell_shared(&mut b, o, base, o.offset));
            }
            let mut moved = Vec::new();
            prop_assert_eq!(shared_bins(&b, 0, &mut |o| moved.push(o)), b.len());
            prop_assert_eq!(moved.len(), owners.len());
            for (m, o) in moved.iter().zip(&owners) {
                prop_assert_eq!(m.base, MIRROR.as_ptr() as u64);
                prop_assert_eq!((m.offset, m.len, m.at), (o.offset, o.len, o.at));
            }
            prop_assert!(terms_equal(&b, &encode(&t)));
        }

        #[test]
        fn terms_equal_is_the_model_equality(a in term(), b in term()) {
            let (ea, eb) = (encode(&a), encode(&b));
            prop_assert!(terms_equal(&ea, &ea));
            prop_assert_eq!(terms_equal(&ea, &eb), terms_equal(&eb, &ea));
            prop_assert_eq!(terms_equal(&ea, &eb), model_equal(&a, &b));
        }

        #[test]
        fn terms_equal_ignores_the_sign_of_zero_and_binary_sharing(t in term()) {
            let flipped = encode(&zeros(&t, true));
            prop_assert!(terms_equal(&encode(&t), &flipped));
            prop_assert!(terms_equal(&encode(&unshare(&t)), &encode(&t)));
        }
    }

    /// The term with every shared binary copied inline.
    fn unshare(t: &T) -> T {
        match t {
            T::Shared(o, l) => T::Bin(BACKING[*o..*o + *l].to_vec()),
            T::Tuple(es) => T::Tuple(es.iter().map(unshare).collect()),
            T::List(es, tail) => T::List(es.iter().map(unshare).collect(), Box::new(unshare(tail))),
            T::Map(kvs) => T::Map(kvs.iter().map(|(k, v)| (unshare(k), unshare(v))).collect()),
            other => other.clone(),
        }
    }

    #[test]
    fn varints_round_trip_at_every_width() {
        for shift in 0..63 {
            for v in [
                (1usize << shift) - 1,
                1usize << shift,
                (1usize << shift) + 1,
            ] {
                let mut b = Vec::new();
                put_varint(&mut b, v);
                let mut p = 0;
                assert_eq!(get_varint(&b, &mut p), v);
                assert_eq!(p, b.len());
            }
        }
    }
}

/// Property tests of the order-preserving sort keys: byte order is numeric
/// (or bit) order, and equal values give equal bytes.
mod order_props {
    use super::hash::{partition_of, stripe_of};
    use super::order::*;
    use proptest::prelude::*;
    use std::cmp::Ordering;

    fn int(v: i64) -> Vec<u8> {
        let mut o = vec![];
        put_i64(&mut o, v);
        o
    }

    fn flo(v: f64) -> Vec<u8> {
        let mut o = vec![];
        put_f64(&mut o, v);
        o
    }

    fn big(negative: bool, magnitude: &[u8], shift: i64) -> Vec<u8> {
        let mut o = vec![];
        put_number(&mut o, negative, magnitude, shift);
        o
    }

    fn bits(data: &[u8], n: usize) -> Vec<u8> {
        let mut o = vec![];
        put_bits(&mut o, data, n);
        o
    }

    /// The first `n` bits of `data`, one per element (the reference order).
    fn bit_vec(data: &[u8], n: usize) -> Vec<u8> {
        (0..n).map(|i| (data[i / 8] >> (7 - i % 8)) & 1).collect()
    }

    /// Exact comparison of an integer with a finite float.
    fn cmp_int_float(a: i64, b: f64) -> Ordering {
        const TWO_63: f64 = 9_223_372_036_854_775_808u64 as f64;
        if b >= TWO_63 {
            return Ordering::Less;
        }
        if b < -TWO_63 {
            return Ordering::Greater;
        }
        let whole = b.trunc() as i64;
        a.cmp(&whole)
            .then_with(|| 0.0f64.partial_cmp(&b.fract()).unwrap())
    }

    fn finite() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>().prop_filter("finite", |f| f.is_finite()),
            (-1000i64..1000).prop_map(|i| i as f64),
            (-1000i64..1000).prop_map(|i| i as f64 + 0.5),
            Just(-0.0),
            Just(f64::MIN_POSITIVE),
            Just(5e-324),
        ]
    }

    fn wide_int() -> impl Strategy<Value = i64> {
        prop_oneof![any::<i64>(), -300i64..300, Just(i64::MIN), Just(i64::MAX)]
    }

    /// A bit string: some bytes and a length of at most their bits.
    fn bit_string() -> impl Strategy<Value = (Vec<u8>, usize)> {
        prop::collection::vec(prop_oneof![Just(0u8), Just(0xff), any::<u8>()], 0..6).prop_flat_map(
            |d| {
                let n = d.len() * 8;
                (Just(d), 0..=n)
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn integers_sort_by_value(a in wide_int(), b in wide_int()) {
            prop_assert_eq!(int(a).cmp(&int(b)), a.cmp(&b));
        }

        #[test]
        fn floats_sort_by_value(a in finite(), b in finite()) {
            prop_assert_eq!(flo(a).cmp(&flo(b)), a.partial_cmp(&b).unwrap());
        }

        #[test]
        fn integers_and_floats_sort_together(a in wide_int(), b in finite()) {
            prop_assert_eq!(int(a).cmp(&flo(b)), cmp_int_float(a, b));
            if (a as f64) as i128 == a as i128 && a != i64::MIN {
                prop_assert_eq!(int(a), flo(a as f64), "equal values, equal bytes");
            }
        }

        #[test]
        fn wide_magnitudes_sort_by_value(a in any::<i128>(), b in any::<i128>(), pad in 0usize..3) {
            let key = |v: i128| {
                let mut m = vec![0u8; pad];
                m.extend_from_slice(&v.unsigned_abs().to_be_bytes());
                big(v < 0, &m, 0)
            };
            prop_assert_eq!(key(a).cmp(&key(b)), a.cmp(&b));
        }

        #[test]
        fn the_slice_and_word_paths_agree(v in wide_int()) {
            prop_assert_eq!(int(v), big(v < 0, &v.unsigned_abs().to_be_bytes(), 0));
        }

        #[test]
        fn equal_values_in_other_shapes_give_equal_bytes(m in 1u64.., shift in -200i64..200, neg: bool) {
            // m * 2^shift == (2m) * 2^(shift - 1), with or without leading zero bytes
            let doubled = (m as u128) << 1;
            prop_assert_eq!(
                big(neg, &m.to_be_bytes(), shift),
                big(neg, &doubled.to_be_bytes(), shift - 1)
            );
            let mut padded = vec![0u8, 0];
            padded.extend_from_slice(&m.to_be_bytes());
            prop_assert_eq!(big(neg, &m.to_be_bytes(), shift), big(neg, &padded, shift));
        }

        #[test]
        fn zero_is_one_key(neg: bool, len in 0usize..4, shift in -5i64..5) {
            prop_assert_eq!(big(neg, &vec![0u8; len], shift), int(0));
            prop_assert_eq!(flo(-0.0), int(0));
        }

        #[test]
        fn bit_strings_sort_bitwise_with_prefixes_first(a in bit_string(), b in bit_string()) {
            let (ka, kb) = (bits(&a.0, a.1), bits(&b.0, b.1));
            let (ra, rb) = (bit_vec(&a.0, a.1), bit_vec(&b.0, b.1));
            prop_assert_eq!(ka.cmp(&kb), ra.cmp(&rb));
            prop_assert_eq!(ka == kb, ra == rb);
        }

        #[test]
        fn pieces_are_prefix_free_so_sequences_compare_piecewise(
            a in bit_string(), b in bit_string(), x in wide_int(), y in wide_int()
        ) {
            // (bits a, int x) against (bits b, int y): decided by the first
            // piece unless equal, then by the second.
            let mut k1 = bits(&a.0, a.1);
            k1.extend(int(x));
            let mut k2 = bits(&b.0, b.1);
            k2.extend(int(y));
            let expected = bit_vec(&a.0, a.1).cmp(&bit_vec(&b.0, b.1)).then(x.cmp(&y));
            prop_assert_eq!(k1.cmp(&k2), expected);
            // and numbers followed by bit strings
            let mut k3 = int(x);
            k3.extend(bits(&a.0, a.1));
            let mut k4 = int(y);
            k4.extend(bits(&b.0, b.1));
            prop_assert_eq!(k3.cmp(&k4), x.cmp(&y).then(bit_vec(&a.0, a.1).cmp(&bit_vec(&b.0, b.1))));
        }

        #[test]
        fn counts_sort_by_value(a: usize, b: usize) {
            let (mut ka, mut kb) = (vec![], vec![]);
            put_count(&mut ka, a);
            put_count(&mut kb, b);
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
        }

        #[test]
        fn partitions_and_stripes_are_in_range(h: u64, n in 1usize..1000, s in 0u32..8) {
            prop_assert!(partition_of(h, n) < n);
            prop_assert!(stripe_of(h, 1 << s) < 1 << s);
        }
    }
}

/// `Flat` writes the same tuple layout the format reads.
mod flat_tests {
    use super::flat::{Flat, FLAT_MAX};
    use super::format::*;

    /// A small integer's term word (tag 0b1111), as the VM makes it.
    fn small(i: i64) -> u64 {
        ((i << 4) | 0xf) as u64
    }

    #[test]
    fn flat_is_the_tuple_layout_of_immediates() {
        let words = [small(1), small(-2), small(3)];
        let flat = Flat::of_words(words.iter().copied()).expect("immediates");
        let b = flat.bytes();
        assert_eq!(b.len(), 2 + 3 * 9);
        assert_eq!((b[0], b[1]), (TUPLE, 3));
        for (i, &w) in words.iter().enumerate() {
            let (s, end) = tuple_element(b, 0, i).expect("element");
            assert_eq!(&b[s..end], flat.element(i + 1));
            assert_eq!(b[s], IMMEDIATE);
            assert_eq!(b[s + 1..end], w.to_le_bytes());
        }
        assert_eq!(skip(b, 0), b.len());
    }

    #[test]
    fn flat_refuses_boxed_words_and_empty_or_long_tuples() {
        let boxed = 0x7f00_0000_1002; // primary tag 0b10: a pointer
        assert!(Flat::of_words([small(1), boxed].into_iter()).is_none());
        assert!(Flat::of_words([0u64; 0].into_iter()).is_none());
        assert!(Flat::of_words([small(0); FLAT_MAX + 1].into_iter()).is_none());
        assert!(Flat::of_words([small(0); FLAT_MAX].into_iter()).is_some());
    }
}

/// The walkers of the byte format on terms a million levels deep (nested
/// lists, tuples, maps, improper lists): none of them recurses, so none
/// overflows a thread's stack (a test thread has 2 MB; a dirty scheduler's
/// is smaller still).
mod deep_terms {
    use super::compare::{equal_at, terms_equal, Floats};
    use super::format::*;

    const DEPTH: usize = 1_000_000;

    fn imm(out: &mut Vec<u8>, w: u64) {
        out.push(IMMEDIATE);
        out.extend_from_slice(&w.to_le_bytes());
    }

    fn float(out: &mut Vec<u8>, f: f64) {
        out.push(FLOAT);
        out.extend_from_slice(&f.to_bits().to_le_bytes());
    }

    const NIL: u64 = 0x3b;

    /// `Wrap(Wrap(... leaf ...))`, `depth` times, built without recursion:
    /// every level's header, the leaf, then every level's closing part.
    fn nested(depth: usize, open: &[u8], leaf: impl Fn(&mut Vec<u8>), close: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(depth * (open.len() + close.len()) + 16);
        for _ in 0..depth {
            b.extend_from_slice(open);
        }
        leaf(&mut b);
        for _ in 0..depth {
            b.extend_from_slice(close);
        }
        b
    }

    fn nil_bytes() -> Vec<u8> {
        let mut v = vec![];
        imm(&mut v, NIL);
        v
    }

    /// `[[[... X ...]]]`: a list of one cell whose head is the next level.
    fn deep_list(leaf: f64) -> Vec<u8> {
        nested(DEPTH, &[LIST, 1], |b| float(b, leaf), &nil_bytes())
    }

    /// `{{{... X ...}}}`, each level `{Inner, 7}`.
    fn deep_tuple(leaf: f64) -> Vec<u8> {
        let mut seven = vec![];
        imm(&mut seven, 0x7f);
        nested(DEPTH, &[TUPLE, 2], |b| float(b, leaf), &seven)
    }

    /// `#{k => #{k => ... X ...}}`: the map's key first, then its value.
    fn deep_map(leaf: f64) -> Vec<u8> {
        let mut open = vec![MAP, 1];
        imm(&mut open, 0x1f);
        nested(DEPTH, &open, |b| float(b, leaf), &[])
    }

    /// `[a | [a | ... | X]]` improper at the bottom, as nested cells.
    fn deep_improper(leaf: f64) -> Vec<u8> {
        let mut open = vec![LIST, 1];
        imm(&mut open, 0x0b);
        nested(DEPTH, &open, |b| float(b, leaf), &[])
    }

    fn all(leaf: f64) -> Vec<Vec<u8>> {
        vec![
            deep_list(leaf),
            deep_tuple(leaf),
            deep_map(leaf),
            deep_improper(leaf),
        ]
    }

    #[test]
    fn skip_and_walk_reach_the_end() {
        for b in all(1.5) {
            assert_eq!(skip(&b, 0), b.len());
            let mut floats = 0;
            assert_eq!(
                walk(&b, 0, |tag, _, _| floats += (tag == FLOAT) as usize),
                b.len()
            );
            assert_eq!(floats, 1);
            assert_eq!(tuple_arity(&b, 0).is_some(), b[0] == TUPLE);
        }
    }

    #[test]
    fn negative_zero_is_found_and_normalised_at_the_bottom() {
        for (mut neg, pos) in all(-0.0).into_iter().zip(all(0.0)) {
            assert!(contains_neg_zero(&neg));
            assert!(!contains_neg_zero(&pos));
            normalise_neg_zero(&mut neg);
            assert_eq!(neg, pos);
        }
    }

    #[test]
    fn equality_walks_both_terms_in_step() {
        for ((a, b), c) in all(1.5).into_iter().zip(all(1.5)).zip(all(2.5)) {
            assert!(terms_equal(&a, &b));
            assert!(!terms_equal(&a, &c), "they differ only at the bottom");
            assert!(equal_at(&a, 0, &b, 0, Floats::ByBits));
        }
        // Floats by value (0.0 == -0.0) or bit for bit.
        for (z, nz) in all(0.0).into_iter().zip(all(-0.0)) {
            assert!(equal_at(&z, 0, &nz, 0, Floats::ByValue));
            assert!(!equal_at(&z, 0, &nz, 0, Floats::ByBits));
        }
        assert!(!terms_equal(&deep_list(1.5), &deep_tuple(1.5)));
    }

    #[test]
    fn shared_binaries_are_found_at_the_bottom() {
        let shared = |b: &mut Vec<u8>| {
            b.push(SHARED_BIN);
            b.extend_from_slice(&0x1000u64.to_le_bytes());
            put_varint(b, 128);
            put_varint(b, 100);
        };
        let b = nested(DEPTH, &[LIST, 1], shared, &nil_bytes());
        let mut found = vec![];
        assert_eq!(shared_bins(&b, 0, &mut |s| found.push(s)), b.len());
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].base, found[0].offset, found[0].len),
            (0x1000, 128, 100)
        );
    }
}
