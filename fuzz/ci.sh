#!/usr/bin/env bash
# Builds every fuzz target and runs each for a short time (FUZZ_SECONDS,
# default 30) from the committed corpus, failing on any crash, panic,
# timeout or out-of-memory. The committed corpus is read, never written:
# new inputs go to a temporary folder. See docs/FUZZING.md.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-30}"
# cargo-fuzz passes nightly-only flags to rustc; the stable toolchain
# accepts them with this.
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

if ! cargo fuzz --version > /dev/null 2>&1; then
    cargo install cargo-fuzz --version 0.13.2 --locked
fi

# tierseal's crates forbid unsafe code, and what these targets look for
# (panics, overflows, hangs, memory blow-ups) needs no sanitizer; without
# AddressSanitizer they run several times faster. `cargo fuzz run TARGET`
# (ASan by default) also checks the dependencies' unsafe code.
cargo fuzz build --sanitizer none

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for target in $(cargo fuzz list); do
    echo "== fuzz $target (${seconds} s)"
    mkdir -p "$work/$target"
    log="$work/$target.log"
    if ! cargo fuzz run --sanitizer none "$target" "$work/$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 > "$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E 'DONE|stat::number_of_executed_units' "$log" || true
done
