//! Erlang arithmetic on native numbers, VM-free (unit-tested without a VM).
//!
//! Integers are held as `i64`; a result that does not fit is `Unsupported`
//! (the object is then handed to ETS's own engine), never a wrong number.
//! Floats follow the VM: every result must be finite, and conversions from
//! big integers round as the VM's `big_to_double` does.

use std::cmp::Ordering;

/// Why an operation gave no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    /// The operation raises in Erlang (`badarg`, `badarith`, ...).
    Error,
    /// Correct only with bignum support: let ETS evaluate this object.
    Unsupported,
}

pub type NumRes<T> = Result<T, Fail>;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    I(i64),
    F(f64),
}

pub const MAX_SMALL: i64 = (1 << 59) - 1;
pub const MIN_SMALL: i64 = -(1 << 59);

/// Integer -> float as the VM converts it: small integers by a plain
/// conversion, bignums by their magnitude (a single 64-bit digit here).
pub fn int_to_f64(i: i64) -> f64 {
    if (MIN_SMALL..=MAX_SMALL).contains(&i) {
        return i as f64;
    }
    let d = i.unsigned_abs() as f64;
    if i < 0 {
        -d
    } else {
        d
    }
}

fn finite(f: f64) -> NumRes<Num> {
    if f.is_finite() {
        Ok(Num::F(f))
    } else {
        Err(Fail::Error)
    }
}

fn floats(a: Num, b: Num) -> (f64, f64) {
    let f = |n| match n {
        Num::I(i) => int_to_f64(i),
        Num::F(f) => f,
    };
    (f(a), f(b))
}

fn int(r: Option<i64>) -> NumRes<Num> {
    r.map(Num::I).ok_or(Fail::Unsupported)
}

pub fn add(a: Num, b: Num) -> NumRes<Num> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => int(x.checked_add(y)),
        _ => {
            let (x, y) = floats(a, b);
            finite(x + y)
        }
    }
}

pub fn sub(a: Num, b: Num) -> NumRes<Num> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => int(x.checked_sub(y)),
        _ => {
            let (x, y) = floats(a, b);
            finite(x - y)
        }
    }
}

pub fn mul(a: Num, b: Num) -> NumRes<Num> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => int(x.checked_mul(y)),
        _ => {
            let (x, y) = floats(a, b);
            finite(x * y)
        }
    }
}

/// `/`: always a float; dividing by zero (`0` or `0.0`) raises.
pub fn fdiv(a: Num, b: Num) -> NumRes<Num> {
    let (x, y) = floats(a, b);
    if y == 0.0 {
        return Err(Fail::Error);
    }
    finite(x / y)
}

pub fn neg(a: Num) -> NumRes<Num> {
    match a {
        Num::I(x) => int(x.checked_neg()),
        Num::F(f) => Ok(Num::F(-f)),
    }
}

/// `abs/1`: like the VM, a float not below zero (`-0.0` included) is
/// returned as it is.
pub fn abs(a: Num) -> NumRes<Num> {
    match a {
        Num::I(x) => int(x.checked_abs()),
        Num::F(f) if f < 0.0 => Ok(Num::F(-f)),
        Num::F(f) => Ok(Num::F(f)),
    }
}

/// `div` and `rem` (integers only, truncating as Rust's operators do).
pub fn idiv(x: i64, y: i64) -> NumRes<i64> {
    if y == 0 {
        return Err(Fail::Error);
    }
    x.checked_div(y).ok_or(Fail::Unsupported)
}

pub fn irem(x: i64, y: i64) -> NumRes<i64> {
    if y == 0 {
        return Err(Fail::Error);
    }
    x.checked_rem(y).ok_or(Fail::Unsupported)
}

/// `X bsl N` (a negative `N` shifts right).
pub fn bsl(x: i64, n: i64) -> NumRes<i64> {
    if n < 0 {
        return bsr(x, n.checked_neg().ok_or(Fail::Unsupported)?);
    }
    if x == 0 {
        return Ok(0);
    }
    if n >= 63 {
        return Err(Fail::Unsupported);
    }
    let r = x << n;
    if r >> n == x {
        Ok(r)
    } else {
        Err(Fail::Unsupported)
    }
}

/// `X bsr N` (arithmetic; a negative `N` shifts left).
pub fn bsr(x: i64, n: i64) -> NumRes<i64> {
    if n < 0 {
        return bsl(x, n.checked_neg().ok_or(Fail::Unsupported)?);
    }
    Ok(if n >= 63 { x >> 63 } else { x >> n })
}

/// A float's integer value (`trunc`, `round` results), when it fits.
pub fn float_to_int(f: f64) -> NumRes<i64> {
    // Every float at or above 2^53 is an integer; below 2^63 it fits.
    if f.is_finite() && f.abs() < LIMIT {
        Ok(f as i64)
    } else {
        Err(Fail::Unsupported)
    }
}

/// Term order between numbers: exact, so `1 == 1.0` but `2^53 + 1 > 2^53.0`.
pub fn cmp(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::I(x), Num::I(y)) => x.cmp(&y),
        (Num::F(x), Num::F(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Num::I(x), Num::F(y)) => cmp_int_float(x, y),
        (Num::F(x), Num::I(y)) => cmp_int_float(y, x).reverse(),
    }
}

/// 2^63: floats of at least this magnitude are beyond every `i64`.
const LIMIT: f64 = 9_223_372_036_854_775_808.0;

fn cmp_int_float(i: i64, f: f64) -> Ordering {
    if f >= LIMIT {
        return Ordering::Less;
    }
    if f < -LIMIT {
        return Ordering::Greater;
    }
    let t = f.trunc();
    match i.cmp(&(t as i64)) {
        Ordering::Equal => {
            // Same integer part: the fraction decides.
            let frac = f - t;
            if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        o => o,
    }
}

/// Reads an integer from external term format bytes (`131, ...`): `None`
/// if they hold something else, `Some(None)` for one too big for `i64`.
pub fn parse_ext_int(ext: &[u8]) -> Option<Option<i64>> {
    if ext.len() < 3 || ext[0] != 131 {
        return None;
    }
    let (n, sign_at) = match ext[1] {
        97 => return Some(Some(ext[2] as i64)),
        98 if ext.len() >= 6 => {
            return Some(Some(i32::from_be_bytes(ext[2..6].try_into().ok()?) as i64))
        }
        110 => (ext[2] as usize, 3),
        111 if ext.len() >= 7 => (u32::from_be_bytes(ext[2..6].try_into().ok()?) as usize, 6),
        _ => return None,
    };
    let digits = ext.get(sign_at + 1..sign_at + 1 + n)?;
    let negative = ext[sign_at] != 0;
    let significant = digits.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    if significant > 8 {
        return Some(None);
    }
    let mag = digits[..significant]
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | b as u64);
    Some(if negative {
        if mag <= i64::MAX as u64 + 1 {
            Some((mag as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(mag).ok()
    })
}

/// The external term format of an integer outside the small range, as
/// `term_to_binary/1` writes it (`SMALL_BIG_EXT`, least significant byte
/// first, no trailing zero bytes).
pub fn write_ext_bignum(i: i64, out: &mut Vec<u8>) {
    let mag = i.unsigned_abs();
    let bytes = mag.to_le_bytes();
    let n = bytes.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    out.extend_from_slice(&[131, 110, n as u8, (i < 0) as u8]);
    out.extend_from_slice(&bytes[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bignum_bytes_round_trip() {
        for i in [1i64 << 59, -(1i64 << 59) - 1, 1 << 62, i64::MAX, i64::MIN] {
            let mut b = Vec::new();
            write_ext_bignum(i, &mut b);
            assert_eq!(parse_ext_int(&b), Some(Some(i)), "{i}");
        }
        // 2^64 does not fit.
        let b = vec![131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(parse_ext_int(&b), Some(None));
    }

    #[test]
    fn ints_and_floats_compare_exactly() {
        let two53 = 9_007_199_254_740_992i64;
        assert_eq!(cmp(Num::I(1), Num::F(1.0)), Ordering::Equal);
        assert_eq!(
            cmp(Num::I(two53 + 1), Num::F(two53 as f64)),
            Ordering::Greater
        );
        assert_eq!(cmp(Num::I(-3), Num::F(-2.5)), Ordering::Less);
        assert_eq!(cmp(Num::F(0.5), Num::I(0)), Ordering::Greater);
        assert_eq!(cmp(Num::F(-0.0), Num::F(0.0)), Ordering::Equal);
        assert_eq!(cmp(Num::I(i64::MAX), Num::F(1e300)), Ordering::Less);
        assert_eq!(cmp(Num::I(i64::MAX), Num::F(9.3e18)), Ordering::Less);
    }

    #[test]
    fn arithmetic_follows_erlang() {
        assert_eq!(add(Num::I(1), Num::F(0.5)), Ok(Num::F(1.5)));
        let Ok(Num::F(z)) = abs(Num::F(-0.0)) else {
            panic!("abs of a float is a float")
        };
        assert!(z.is_sign_negative(), "abs(-0.0) is -0.0, as in the VM");
        assert_eq!(mul(Num::F(1e300), Num::F(1e300)), Err(Fail::Error));
        assert_eq!(fdiv(Num::I(1), Num::F(-0.0)), Err(Fail::Error));
        assert_eq!(idiv(-7, 2), Ok(-3));
        assert_eq!(irem(-7, 2), Ok(-1));
        assert_eq!(bsr(-7, 1), Ok(-4));
        assert_eq!(bsl(-7, -1), Ok(-4));
        assert_eq!(bsl(1, 60), Ok(1 << 60));
        assert_eq!(bsl(1, 100), Err(Fail::Unsupported));
        assert_eq!(bsl(0, 1 << 40), Ok(0));
        assert_eq!(add(Num::I(i64::MAX), Num::I(1)), Err(Fail::Unsupported));
        assert_eq!(float_to_int(-2.5f64.round()), Ok(-3));
        assert_eq!(int_to_f64((1 << 62) + 1025), 4.611686018427389e18);
    }
}
