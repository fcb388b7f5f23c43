//! Link flags for the libc-free binary: origin provides `_start`, so the C
//! start files must stay out, and the result is a static executable.
fn main() {
    if std::env::var_os("CARGO_FEATURE_GUEST").is_some() {
        println!("cargo:rustc-link-arg-bins=-nostartfiles");
        println!("cargo:rustc-link-arg-bins=-static");
    }
}
