#!/usr/bin/env bash
# Sourced by .ci/run before the tests: start a throwaway PostgreSQL on loopback and export
# POSTTRAIN_TEST_PG_URL, so the feedback store's tests run on PostgreSQL as well as SQLite.
# (Without it those tests skip.) The server's files live in a temp dir, removed at exit.
#   source scripts/ci_postgres.sh && python -m pytest -q tests/feedback
_posttrain_start_postgres() {
    local bindir dir port as_owner=()
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)  # none yet: not an error
    if [ -z "$bindir" ]; then  # scripts/install.sh --test installs it; here for a machine set up before that
        local sudo; sudo=$([ "$(id -u)" = 0 ] || echo sudo)
        $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    dir=$(mktemp -d /tmp/posttrain-pg.XXXXXX)
    if [ "$(id -u)" = 0 ]; then  # postgres refuses to run as root: run it as Debian's postgres user
        chown postgres "$dir"
        as_owner=(runuser -u postgres --)
    fi
    port=$(python -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
    "${as_owner[@]}" "$bindir/initdb" -D "$dir/data" -U posttrain --auth=trust -E UTF8 >/dev/null
    "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-k $dir -h 127.0.0.1 -p $port -c fsync=off" start >/dev/null
    trap "${as_owner[*]} $bindir/pg_ctl -D $dir/data -m immediate stop >/dev/null 2>&1; rm -rf $dir" EXIT
    export POSTTRAIN_TEST_PG_URL="postgresql://posttrain@127.0.0.1:$port/postgres"
    echo "PostgreSQL for the tests: $POSTTRAIN_TEST_PG_URL"
}
_posttrain_start_postgres
