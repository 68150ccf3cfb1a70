//! Unit tests of the match-spec engine's VM-free arithmetic (Erlang number
//! semantics on native integers and floats).

// Some operations are used only by the engine itself.
#[allow(dead_code)]
#[path = "../src/ms/num.rs"]
mod num;
