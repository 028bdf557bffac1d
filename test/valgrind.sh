#!/usr/bin/env bash
# Run the pg_regress suite and the randomized differential and mutation
# slices against a server running under valgrind's memcheck: what
# `make check-valgrind` runs.
#
# A throwaway cluster (ZC_VG_PORT, default 54338) is started with its
# postmaster under valgrind --trace-children=yes, so every backend is
# checked, with the installed extension (make install first).  Each process
# writes its report to ZC_VG_ROOT (default /tmp/zcimport-valgrind)/reports.
#
# PostgreSQL's own code reports errors that its source tree suppresses
# (valgrind.supp, not installed by Debian): uninitialised padding written
# to files and sockets.  So each reported error is counted as zcimport's
# when a frame of its stack is in pg_zcimport.so, and as the server's
# otherwise; only zcimport's fail the run, along with failed suites and
# backends killed by a signal.  ZC_VG_PYTEST names the pytest files; the
# mutation slice sends ZC_MUTFUZZ_COUNT (here 1,000) streams.  Everything
# is deleted on exit, unless ZC_VG_KEEP=1.
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR source=pgnode.sh
. test/pgnode.sh

PYTHON=${PYTHON:-$(bash test/venv.sh latest)}
port=${ZC_VG_PORT:-54338}
root=${ZC_VG_ROOT:-/tmp/zcimport-valgrind}
data=$root/data
log=$root/server.log
reports=$root/reports
read -r -a suites <<<"${ZC_VG_PYTEST:-test/python/test_random_differential.py test/python/test_mutfuzz.py}"

step() { printf '\n==== %s ====\n' "$*"; }

cleanup() {
	node_stop "$data"
	if [ "${ZC_VG_KEEP:-0}" != 1 ]; then
		rm -rf "$root"
	fi
}

step "start a cluster under valgrind on port $port"
node_stop "$data" 2>/dev/null
rm -rf "$root"
trap cleanup EXIT
node_init "$root" "$data" "$port" "$root/initdb.log" "shared_buffers = 64MB" "max_connections = 20"
mkdir -p "$reports"
chown postgres: "$reports" 2>/dev/null || true
as_owner valgrind --quiet --trace-children=yes --num-callers=40 ${ZC_VG_OPTIONS:-} \
	--error-limit=no --log-file="$reports/vg.%p" \
	"$bindir/postgres" -D "$data" >"$log" 2>&1 &
export PGHOST=$root PGPORT=$port PGUSER=postgres PGDATABASE=postgres
for _ in $(seq 120); do
	"$bindir/pg_isready" -q && break
	sleep 1
done
"$bindir/pg_isready" -q || { tail -n 30 "$log" >&2; exit 1; }
failed=0

step "pg_regress"
make -s installcheck 2>&1 | tail -n 3
[ "${PIPESTATUS[0]}" -eq 0 ] || { failed=1; head -n 100 regression.diffs 2>/dev/null; }

step "pytest: ${suites[*]}"
createdb zcimport_pytest
psql -Xq -d zcimport_pytest -c "CREATE EXTENSION zcimport" || failed=1
existing=()
for s in "${suites[@]}"; do
	[ -e "$s" ] && existing+=("$s")
done
if [ ${#existing[@]} -gt 0 ]; then
	ZC_TEST_DSN="host=$PGHOST port=$PGPORT user=$PGUSER dbname=zcimport_pytest" \
		ZC_TEST_SERVER_LOG="$log" PYTHONPATH=python \
		ZC_MUTFUZZ_COUNT=${ZC_MUTFUZZ_COUNT:-1000} ZC_MUTFUZZ_SECONDS=${ZC_MUTFUZZ_SECONDS:-3600} \
		"$PYTHON" -m pytest "${existing[@]}" -q -p no:cacheprovider 2>&1 | tail -n 5
	[ "${PIPESTATUS[0]}" -eq 0 ] || failed=1
fi

step "valgrind reports"
node_stop "$data"
# split every report into error blocks (they end with an empty "==pid==" line)
read -r ours theirs < <(cat "$reports"/vg.* 2>/dev/null | awk '
	/^==[0-9]+== *$/ { if (block != "") { if (block ~ /pg_zcimport/) o++; else t++ }; block = ""; next }
	/^==[0-9]+== / { block = block $0 "\n" }
	END { if (block != "") { if (block ~ /pg_zcimport/) o++; else t++ }; print o + 0, t + 0 }')
if [ "$ours" -gt 0 ]; then
	failed=1
	cat "$reports"/vg.* | awk '
		/^==[0-9]+== *$/ { if (block ~ /pg_zcimport/) printf "%s\n", block; block = ""; next }
		/^==[0-9]+== / { block = block $0 "\n" }' | head -n 200
fi
signals=$(grep -c "terminated by signal" "$log")
[ "$signals" -eq 0 ] || failed=1
echo "valgrind: $ours errors in zcimport's code, $theirs in the server's own, $signals backends killed by a signal"
exit $failed
