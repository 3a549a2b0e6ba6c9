//! Compile-pass and compile-fail cases of `#[derive(Classified)]`, one file
//! (and one `.stderr` snapshot) per rule.
#![allow(missing_docs, reason = "test code")]

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
