//! Unit tests of the match-spec engine's VM-free arithmetic (Erlang number
//! semantics on native integers and floats).

#[path = "../src/ms/num.rs"]
mod num;
