//! Unit tests of the VM-free parts of the codec: the byte format, term
//! comparison and key hashing. They are compiled here on their own because
//! the NIF glue around them can only be linked into a running VM.

// Some helpers are used only by the NIF glue.
#[allow(dead_code)]
#[path = "../src/codec/format.rs"]
mod format;

#[path = "../src/codec/compare.rs"]
mod compare;

#[path = "../src/codec/hash.rs"]
mod hash;

// The class tags are used only by the NIF glue.
#[allow(dead_code)]
#[path = "../src/codec/order.rs"]
mod order;
