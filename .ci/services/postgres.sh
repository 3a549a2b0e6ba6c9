# PostgreSQL for the database tests: tierseal's column traits
# (crates/tierseal/tests/sql_postgres.rs) and `rewrap --db` / `keys retire
# --data` over PostgreSQL (crates/tierseal-cli/tests/db_postgres.rs).
#
# Sourced by .ci/run (bash, set -euo pipefail). Expects the machine's
# server on 127.0.0.1:5432 with trust auth for user postgres; starts the
# installed cluster if it is down, creates the database `test` if missing,
# and exports TIERSEAL_TEST_PG. Fails loudly when PostgreSQL is absent.

tierseal_pg_fail() {
    echo "postgres.sh: $*" >&2
    return 1 2>/dev/null || exit 1
}

tierseal_pg_url="postgres://postgres@127.0.0.1:5432/test"

if ! command -v pg_isready >/dev/null 2>&1; then
    tierseal_pg_fail "pg_isready not found: PostgreSQL is not installed (apt-get -y install postgresql)"
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    tierseal_pg_version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$tierseal_pg_version" ]; then
        tierseal_pg_fail "no server answers on 127.0.0.1:5432 and no cluster is configured under /etc/postgresql"
    fi
    echo "postgres.sh: starting cluster $tierseal_pg_version/main"
    pg_ctlcluster --skip-systemctl-redirect "$tierseal_pg_version" main start ||
        tierseal_pg_fail "pg_ctlcluster could not start $tierseal_pg_version/main"
    for _ in $(seq 1 30); do
        pg_isready -h 127.0.0.1 -p 5432 -q && break
        sleep 1
    done
    pg_isready -h 127.0.0.1 -p 5432 -q ||
        tierseal_pg_fail "cluster $tierseal_pg_version/main started but 127.0.0.1:5432 does not answer after 30 s"
fi

if ! psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -tAc "SELECT 1" >/dev/null 2>&1; then
    tierseal_pg_fail "127.0.0.1:5432 answers but user postgres cannot log in without a password (the tests expect trust auth)"
fi
if [ "$(psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'")" != "1" ]; then
    createdb -h 127.0.0.1 -p 5432 -U postgres test ||
        tierseal_pg_fail "could not create the database test"
fi

export TIERSEAL_TEST_PG="${TIERSEAL_TEST_PG:-$tierseal_pg_url}"
echo "postgres.sh: PostgreSQL ready, TIERSEAL_TEST_PG=$TIERSEAL_TEST_PG"
