//! Comparing encoded terms (VM-free, so unit-tested without a VM).

use super::format::*;

/// `=:=` on two encoded terms, except that `0.0` equals `-0.0` (as ETS keys and
/// objects compare in OTP 25) and shared binaries compare by content.
pub fn terms_equal(a: &[u8], b: &[u8]) -> bool {
    a == b || equal_at(a, 0, b, 0, Floats::ByValue)
}

/// How two floats are told equal.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Floats {
    /// By value: `0.0` equals `-0.0`.
    ByValue,
    /// Bit for bit, as a match-spec head compares a float constant.
    ByBits,
}

/// Whether the term at `a[pa]` equals the one at `b[pb]` (either slice may
/// run past its term). Walks both in step without recursion: the terms can
/// only be equal if their headers agree, so one count of terms still to
/// compare serves both.
pub fn equal_at(a: &[u8], mut pa: usize, b: &[u8], mut pb: usize, floats: Floats) -> bool {
    let mut pending = 1usize;
    while pending > 0 {
        pending -= 1;
        let (ta, tb) = (a[pa], b[pb]);
        if is_binary_tag(ta) && is_binary_tag(tb) {
            if binary_at(a, &mut pa) != binary_at(b, &mut pb) {
                return false;
            }
            continue;
        }
        if ta != tb {
            return false;
        }
        pa += 1;
        pb += 1;
        match ta {
            FLOAT => {
                let (x, y) = (get_u64(a, &mut pa), get_u64(b, &mut pb));
                let same = match floats {
                    Floats::ByValue => f64::from_bits(x) == f64::from_bits(y),
                    Floats::ByBits => x == y,
                };
                if !same {
                    return false;
                }
            }
            TUPLE | LIST | MAP => {
                let (na, nb) = (get_varint(a, &mut pa), get_varint(b, &mut pb));
                if na != nb {
                    return false;
                }
                pending += match ta {
                    TUPLE => na,
                    LIST => na + 1,
                    _ => 2 * na,
                };
            }
            _ => {
                // Immediates and external terms: canonical bytes.
                let (ea, eb) = (skip(a, pa - 1), skip(b, pb - 1));
                if a[pa..ea] != b[pb..eb] {
                    return false;
                }
                pa = ea;
                pb = eb;
            }
        }
    }
    true
}

fn is_binary_tag(t: u8) -> bool {
    t == BINARY || t == SHARED_BIN
}

/// The bytes of the binary (inline or shared) at `*pos`, advancing past it.
pub fn binary_at<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let tag = buf[*pos];
    *pos += 1;
    if tag == SHARED_BIN {
        let base = get_u64(buf, pos);
        let offset = get_varint(buf, pos);
        let len = get_varint(buf, pos);
        // SAFETY: a shared binary inside a live encoding is kept alive by
        // it; its bytes lie at `offset..offset + len` from the resource.
        unsafe { std::slice::from_raw_parts(shared_bytes_at(base, offset), len) }
    } else {
        let len = get_varint(buf, pos);
        let s = &buf[*pos..*pos + len];
        *pos += len;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(f: f64) -> Vec<u8> {
        let mut v = vec![FLOAT];
        v.extend_from_slice(&f.to_bits().to_le_bytes());
        v
    }

    fn tuple(es: &[Vec<u8>]) -> Vec<u8> {
        let mut v = vec![TUPLE];
        put_varint(&mut v, es.len());
        es.iter().for_each(|e| v.extend_from_slice(e));
        v
    }

    fn imm(w: u64) -> Vec<u8> {
        let mut v = vec![IMMEDIATE];
        v.extend_from_slice(&w.to_le_bytes());
        v
    }

    #[test]
    fn zero_and_negative_zero_are_equal_but_other_floats_are_not() {
        assert!(terms_equal(&float(0.0), &float(-0.0)));
        assert!(terms_equal(
            &tuple(&[imm(0xf), float(-0.0)]),
            &tuple(&[imm(0xf), float(0.0)])
        ));
        assert!(!terms_equal(&float(1.0), &float(1.5)));
        assert!(!terms_equal(&float(1.0), &imm(0x1f)), "1.0 =/= 1");
        assert!(!terms_equal(&tuple(&[imm(1)]), &tuple(&[imm(1), imm(1)])));
    }
}
