//! The migrations are compiled in (`embed_migrations!`), but cargo does not know that a
//! new or changed migration file changes this crate: it is told here.
#[allow(clippy::print_stdout)] // cargo reads a build script's instructions from its standard output
fn main() {
    println!("cargo:rerun-if-changed=../../../migrations/sqlite");
}
