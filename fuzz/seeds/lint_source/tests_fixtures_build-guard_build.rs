//! Fails the build when a financial field is left unclassified.
fn main() {
    tierseal_lint::guard();
}
