# shellcheck shell=bash
# SoftHSM2 for the PKCS#11 provider tests (crates/tierseal/tests/pkcs11.rs).
#
# Sourced by .ci/run (bash, set -euo pipefail), or by hand:
#   source .ci/services/softhsm.sh
#   cargo test -p tierseal --features pkcs11 --test pkcs11
#
# Installs softhsm2 when missing, creates a token directory in a fresh temp
# folder with its own SOFTHSM2_CONF (nothing outside it is touched),
# initialises one token and exports:
#   SOFTHSM2_CONF, TIERSEAL_TEST_PKCS11_MODULE, TIERSEAL_TEST_PKCS11_TOKEN,
#   TIERSEAL_TEST_PKCS11_PIN (a throwaway test PIN, not a secret).

softhsm_fail() {
    echo "softhsm.sh: $*" >&2
    return 1
}

if ! command -v softhsm2-util >/dev/null 2>&1; then
    echo "softhsm.sh: installing softhsm2"
    if [ "$(id -u)" -eq 0 ]; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >/dev/null; } \
            || softhsm_fail "apt-get install softhsm2 failed"
    else
        { sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >/dev/null; } \
            || softhsm_fail "sudo apt-get install softhsm2 failed"
    fi
fi

TIERSEAL_TEST_PKCS11_MODULE=""
for softhsm_candidate in \
    /usr/lib/softhsm/libsofthsm2.so \
    /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
    /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so \
    /usr/local/lib/softhsm/libsofthsm2.so; do
    if [ -e "$softhsm_candidate" ]; then
        TIERSEAL_TEST_PKCS11_MODULE="$softhsm_candidate"
        break
    fi
done
[ -n "$TIERSEAL_TEST_PKCS11_MODULE" ] || softhsm_fail "libsofthsm2.so not found after installing softhsm2"

softhsm_dir="$(mktemp -d "${TMPDIR:-/tmp}/tierseal-softhsm.XXXXXX")" || softhsm_fail "mktemp failed"
mkdir -p "$softhsm_dir/tokens"
cat > "$softhsm_dir/softhsm2.conf" <<CONF
directories.tokendir = $softhsm_dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF

export SOFTHSM2_CONF="$softhsm_dir/softhsm2.conf"
export TIERSEAL_TEST_PKCS11_MODULE
export TIERSEAL_TEST_PKCS11_TOKEN="tierseal-ci"
export TIERSEAL_TEST_PKCS11_PIN="ci-user-pin-1234"

softhsm2-util --init-token --free --label "$TIERSEAL_TEST_PKCS11_TOKEN" \
    --pin "$TIERSEAL_TEST_PKCS11_PIN" --so-pin "ci-so-pin-5678" >/dev/null \
    || softhsm_fail "softhsm2-util --init-token failed (SOFTHSM2_CONF=$SOFTHSM2_CONF)"

echo "softhsm.sh: token '$TIERSEAL_TEST_PKCS11_TOKEN' in $softhsm_dir (module $TIERSEAL_TEST_PKCS11_MODULE)"
unset softhsm_candidate softhsm_dir
