//! The `build.rs` guard: fail `cargo build` on unclassified financial data.

use std::path::PathBuf;

/// Lints the crate being built and fails the build on any error-severity
/// finding (warnings, such as money amounts by default, and lock drift are
/// passed to cargo as warnings).
///
/// Call it from the crate's `build.rs`:
///
/// ```no_run
/// // build.rs
/// tierseal_lint::guard();
/// ```
///
/// with `tierseal-lint` under `[build-dependencies]`. It lints every Rust
/// source of the crate in `CARGO_MANIFEST_DIR`, honours the nearest
/// `tierseal.toml` and the crate's `tierseal.lock` (a downgraded or removed
/// field fails like an error; drift is a cargo warning), prints the
/// findings rustc-style and, if any is an error, exits with status 1 so
/// that cargo stops; an unreadable source, invalid configuration or lock,
/// or a crate with no source to check exits with status 2. It asks cargo to rerun it when
/// anything in the crate's folder changes (but its build and hidden
/// folders), `tierseal.toml` and `tierseal.lock` included.
#[allow(clippy::print_stdout, reason = "build scripts talk to cargo on stdout")]
pub fn guard() {
    let dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from);
    // Sources may live outside `src/` (custom target paths), so watch
    // every entry but the build output, which changes on every build.
    let entries = std::fs::read_dir(&dir).into_iter().flatten().flatten();
    for entry in entries {
        let name = entry.file_name();
        if name != "target" && !name.to_string_lossy().starts_with('.') {
            println!("cargo:rerun-if-changed={}", entry.path().display());
        }
    }
    for file in [crate::config::FILE_NAME, crate::LOCK_FILE] {
        println!("cargo:rerun-if-changed={}", dir.join(file).display());
    }
    let result = crate::lint_paths(&[dir], None);
    match result {
        Ok(report) => {
            let failed = report.findings.iter().any(crate::Finding::is_error);
            if failed {
                eprintln!("{}", crate::report::human(&report));
            }
            for finding in &report.findings {
                println!("cargo:warning=tierseal-lint: {}", finding.message);
            }
            for drift in &report.lock_drift {
                println!(
                    "cargo:warning=tierseal-lint: lock drift: `{}::{}`: {}",
                    drift.type_id, drift.field_id, drift.change
                );
            }
            if failed {
                std::process::exit(1);
            }
        }
        Err(error) => {
            eprintln!("tierseal-lint: {error}");
            std::process::exit(2);
        }
    }
}
