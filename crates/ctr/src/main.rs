//! The kiln-ctr guest binary (placeholder until the runtime lands).
fn main() {}
