// The NIF API symbols (enif_*) are resolved by the VM when it loads the
// library. Unit-test binaries never call them, so let them link unresolved
// and bind lazily (a test binary would otherwise fail at start-up).
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg=-Wl,--unresolved-symbols=ignore-in-object-files");
        println!("cargo:rustc-link-arg=-Wl,-z,lazy");
    }
}
