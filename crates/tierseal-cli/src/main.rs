//! The `tierseal` binary. See `tierseal --help`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    tierseal_cli::main()
}
