//! Link flags for the libc-free binary: origin provides `_start`, so the C
//! start files must stay out, and the result is a static executable (as
//! kiln-init). `nounwind.ld` drops the unwind tables: the binary is built
//! with panic=abort and never unwinds, and they were 15 KB of its 95 KB.
fn main() {
    // Without this, cargo reruns the script, and so rebuilds the library and everything
    // that depends on it, whenever any file of the package changes.
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=nounwind.ld");
    if std::env::var_os("CARGO_FEATURE_GUEST").is_some() {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo:rustc-link-arg-bins=-nostartfiles");
        println!("cargo:rustc-link-arg-bins=-static");
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{dir}/nounwind.ld");
    }
}
