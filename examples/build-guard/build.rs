//! Fails `cargo build` when a financial-looking field is left unclassified.
fn main() {
    tierseal_lint::guard();
}
