//! Integers for update_counter: i128 when it fits, else sign and magnitude
//! (little-endian bytes), so counters of any size work as in ETS.

use rustler::sys::{enif_binary_to_term, enif_get_int64};
use rustler::{Encoder, Env, Term};
use std::cmp::Ordering;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Int {
    Small(i128),
    /// Magnitude without trailing zero bytes; never a value that fits i128.
    Big {
        neg: bool,
        mag: Vec<u8>,
    },
}

impl Int {
    pub fn from_term(t: Term<'_>) -> Option<Int> {
        let mut v: i64 = 0;
        // SAFETY: `t` is a live term of its environment. (Not rustler's
        // `decode`, whose error value costs more than the read itself.)
        if unsafe { enif_get_int64(t.get_env().as_c_arg(), t.as_c_arg(), &mut v) } != 0 {
            return Some(Int::Small(v as i128));
        }
        if !t.is_number() || t.is_float() {
            return None;
        }
        // A bignum: read its external format (SMALL_BIG_EXT / LARGE_BIG_EXT).
        let bin = t.to_binary();
        let b = bin.as_slice();
        let (n, sign, digits) = match b.get(1)? {
            110 => (*b.get(2)? as usize, *b.get(3)?, b.get(4..)?),
            111 => (
                u32::from_be_bytes(b.get(2..6)?.try_into().ok()?) as usize,
                *b.get(6)?,
                b.get(7..)?,
            ),
            _ => return None,
        };
        Some(Int::from_parts(sign != 0, digits.get(..n)?.to_vec()))
    }

    fn from_parts(neg: bool, mut mag: Vec<u8>) -> Int {
        while mag.last() == Some(&0) {
            mag.pop();
        }
        if mag.len() <= 15 {
            let mut bytes = [0u8; 16];
            bytes[..mag.len()].copy_from_slice(&mag);
            let m = i128::from_le_bytes(bytes);
            return Int::Small(if neg { -m } else { m });
        }
        Int::Big { neg, mag }
    }

    fn parts(&self) -> (bool, Vec<u8>) {
        match self {
            Int::Small(v) => {
                let mut mag = v.unsigned_abs().to_le_bytes().to_vec();
                while mag.last() == Some(&0) {
                    mag.pop();
                }
                (*v < 0, mag)
            }
            Int::Big { neg, mag } => (*neg, mag.clone()),
        }
    }

    pub fn add(&self, other: &Int) -> Int {
        if let (Int::Small(a), Int::Small(b)) = (self, other) {
            if let Some(v) = a.checked_add(*b) {
                return Int::Small(v);
            }
        }
        let ((an, am), (bn, bm)) = (self.parts(), other.parts());
        if an == bn {
            return Int::from_parts(an, mag_add(&am, &bm));
        }
        match mag_cmp(&am, &bm) {
            Ordering::Less => Int::from_parts(bn, mag_sub(&bm, &am)),
            _ => Int::from_parts(an, mag_sub(&am, &bm)),
        }
    }

    pub fn is_negative(&self) -> bool {
        match self {
            Int::Small(v) => *v < 0,
            Int::Big { neg, .. } => *neg,
        }
    }

    pub fn to_term<'a>(&self, env: Env<'a>) -> Term<'a> {
        if let Int::Small(v) = self {
            if let Ok(small) = i64::try_from(*v) {
                return small.encode(env);
            }
        }
        let (neg, mag) = self.parts();
        let mut ext = vec![131];
        if mag.len() < 256 {
            ext.extend_from_slice(&[110, mag.len() as u8]);
        } else {
            ext.push(111);
            ext.extend_from_slice(&(mag.len() as u32).to_be_bytes());
        }
        ext.push(neg as u8);
        ext.extend_from_slice(&mag);
        let mut t = crate::codec::from_raw(0);
        // SAFETY: `ext` is a well-formed SMALL_BIG_EXT or LARGE_BIG_EXT.
        unsafe {
            enif_binary_to_term(env.as_c_arg(), ext.as_ptr(), ext.len(), &mut t, 0);
            Term::new(env, t)
        }
    }
}

impl PartialOrd for Int {
    fn partial_cmp(&self, other: &Int) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Int {
    fn cmp(&self, other: &Int) -> Ordering {
        if let (Int::Small(a), Int::Small(b)) = (self, other) {
            return a.cmp(b);
        }
        let ((an, am), (bn, bm)) = (self.parts(), other.parts());
        match (an, bn) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => mag_cmp(&am, &bm),
            (true, true) => mag_cmp(&bm, &am),
        }
    }
}

fn mag_cmp(a: &[u8], b: &[u8]) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().rev().cmp(b.iter().rev()))
}

fn mag_add(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let mut carry = 0u16;
    for i in 0..a.len().max(b.len()) {
        let s = *a.get(i).unwrap_or(&0) as u16 + *b.get(i).unwrap_or(&0) as u16 + carry;
        out.push(s as u8);
        carry = s >> 8;
    }
    if carry > 0 {
        out.push(carry as u8);
    }
    out
}

/// `a - b` for `a >= b`.
fn mag_sub(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let mut borrow = 0i16;
    for (i, &x) in a.iter().enumerate() {
        let mut d = x as i16 - *b.get(i).unwrap_or(&0) as i16 - borrow;
        borrow = (d < 0) as i16;
        if d < 0 {
            d += 256;
        }
        out.push(d as u8);
    }
    out
}
