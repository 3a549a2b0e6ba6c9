//! The `build.rs` guard: fail `cargo build` on unclassified financial data.

use std::path::PathBuf;

/// Lints the crate being built and fails the build on any error-severity
/// finding (warnings, such as money amounts by default, are passed to
/// cargo as warnings).
///
/// Call it from the crate's `build.rs`:
///
/// ```no_run
/// // build.rs
/// tierseal_lint::guard();
/// ```
///
/// with `tierseal-lint` under `[build-dependencies]`. It reads the crate
/// from `CARGO_MANIFEST_DIR` (following `mod` declarations from
/// `src/lib.rs` / `src/main.rs`), honours the nearest `tierseal.toml`,
/// prints the findings rustc-style and exits with status 1 so that cargo
/// stops. It asks cargo to rerun it when `src/` or `tierseal.toml` change.
#[allow(clippy::print_stdout, reason = "build scripts talk to cargo on stdout")]
pub fn guard() {
    let dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from);
    println!("cargo:rerun-if-changed={}", dir.join("src").display());
    println!(
        "cargo:rerun-if-changed={}",
        dir.join(crate::config::FILE_NAME).display()
    );
    let result = crate::lint_paths(&[dir], None);
    match result {
        Ok(report) if !report.findings.iter().any(crate::Finding::is_error) => {
            for finding in &report.findings {
                println!("cargo:warning=tierseal-lint: {}", finding.message);
            }
        }
        Ok(report) => {
            eprintln!("{}", crate::report::human(&report.findings));
            for finding in &report.findings {
                println!("cargo:warning=tierseal-lint: {}", finding.message);
            }
            std::process::exit(1);
        }
        Err(error) => {
            eprintln!("tierseal-lint: {error}");
            std::process::exit(2);
        }
    }
}
