//! The owned term encoding: how objects and keys live outside any process.

pub mod compare;
pub mod decode;
pub mod encode;
pub mod flat;
pub mod format;
pub mod hash;
pub mod object;
pub mod order;
pub mod rope;
pub mod shared_bin;
pub mod sort_key;

pub use compare::terms_equal;
pub use object::Obj;

use rustler::sys::ErlNifTerm;

/// The raw word of a term (stored for immediates, which need no heap).
#[inline]
pub fn to_raw(t: ErlNifTerm) -> u64 {
    // SAFETY: `ErlNifTerm` is `repr(transparent)` over the 64-bit term word.
    unsafe { std::mem::transmute::<ErlNifTerm, u64>(t) }
}

/// A term from its raw word; only meaningful for immediates or for words
/// taken from a term that is still alive in the target environment.
#[inline]
pub fn from_raw(w: u64) -> ErlNifTerm {
    // SAFETY: as for `to_raw`; any word is a bit pattern the VM may interpret,
    // and callers only pass words that were terms.
    unsafe { std::mem::transmute::<u64, ErlNifTerm>(w) }
}
