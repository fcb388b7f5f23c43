//! Link flags for the libc-free binary: origin provides `_start`, so the C
//! start files must stay out, and the result is a static executable (as kiln-init).
fn main() {
    // Without this, cargo reruns the script, and so rebuilds the library and everything
    // that depends on it (kiln-image, xtask), whenever any file of the package changes.
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_GUEST").is_some() {
        println!("cargo:rustc-link-arg-bins=-nostartfiles");
        println!("cargo:rustc-link-arg-bins=-static");
    }
}
