#!/usr/bin/env bash
# Run every test suite of zcimport against a private throwaway cluster:
#   1. C unit tests of the stream decoder (ASan + UBSan)
#   2. a bounded libFuzzer run of the decoder
#   3. mypy --strict over the Python package (in the first environment)
#   4. pytest: the Python client, and end-to-end loads against the cluster,
#      once in each Python environment of the matrix (ZC_PY_ENVS):
#        latest   today's releases: pandas 3, NumPy 2, pyarrow, polars,
#                 SQLAlchemy 2.1, psycopg 3.3
#        noarrow  the same without pyarrow (pandas 3's str is Python-backed)
#        oldest   the lower bounds python/pyproject.toml declares
#      Each is a virtual environment made with pip by test/venv.sh.  The
#      randomized slices run whole in the first and a quarter in the others
#      (ZC_TEST_SCALE); the server suites (pytest marker server_side) and
#      the slow packaging and memory tests (marker once) run in the first
#      environment only.
#   5. pg_regress: the SQL surface and the server's error paths
# The cluster is started here and stopped (and deleted) on exit.  The last
# lines repeat each runner's summary line.  Exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

ZC_PY_ENVS=${ZC_PY_ENVS:-latest noarrow oldest}
first=${ZC_PY_ENVS%% *}
export ZC_PGPORT=${ZC_PGPORT:-54329}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
summaries=()
failed=0

step() { printf '\n==== %s ====\n' "$*"; }

step "Python environments: $ZC_PY_ENVS"
for env in $ZC_PY_ENVS; do
	t0=$SECONDS
	py=$(bash test/venv.sh "$env") || exit 1
	echo "$env: $("$py" -c 'import sys, importlib.metadata as m
def v(p):
    try: return m.version(p)
    except m.PackageNotFoundError: return "-"
print("Python %d.%d" % sys.version_info[:2], ", ".join(p + " " + v(p) for p in
      ("pandas", "numpy", "pyarrow", "polars", "psycopg", "SQLAlchemy")))') ($((SECONDS - t0)) s)"
done

step "build and install"
# warnings are errors here (ZC_WERROR=1), not in a user's make
make -s all ZC_WERROR=1 && make -s install && make -s python-ext ZC_WERROR=1 || exit 1

step "start the test cluster"
test/cluster.sh stop
test/cluster.sh start || exit 1
trap 'test/cluster.sh stop' EXIT
eval "$(test/cluster.sh env)"

step "C unit tests of the stream decoder"
out=$(make -s check-c 2>&1); rc=$?
echo "$out"
summaries+=("$(echo "$out" | tail -n 1)")
[ $rc -eq 0 ] || failed=1

step "fuzzing the stream decoder for ${FUZZ_SECONDS}s"
out=$(make -s fuzz FUZZ_SECONDS="$FUZZ_SECONDS" 2>&1); rc=$?
echo "$out" | tail -n 20
summaries+=("$(echo "$out" | tail -n 1)")
[ $rc -eq 0 ] || failed=1

step "mypy --strict over the Python package"
if ".venv/$first/bin/python" -c "import mypy" 2>/dev/null; then
	out=$(".venv/$first/bin/python" -m mypy --config-file python/pyproject.toml python/zcimport 2>&1); rc=$?
	echo "$out" | tail -n 40
	summaries+=("mypy ($first): $(echo "$out" | tail -n 1)")
	[ $rc -eq 0 ] || failed=1
else
	summaries+=("mypy: skipped, not installed in $first (python/requirements/latest.txt has it)")
	echo "${summaries[-1]}"
fi

for env in $ZC_PY_ENVS; do
	step "pytest ($env)"
	db=zcimport_pytest_$env
	createdb "$db" 2>/dev/null
	psql -Xq -d "$db" -c "CREATE EXTENSION IF NOT EXISTS zcimport" || failed=1
	export ZC_TEST_DSN="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$db"
	# the cluster's log, where the crash checks look for a backend killed by a signal
	export ZC_TEST_SERVER_LOG="$PGHOST/server.log"
	# the randomized slices: whole in the first environment, a quarter in
	# the others; the server suites (marker server_side: mutation fuzzing,
	# indexes, hook order, Citus) only in the first, as the server they
	# test is the same in each, and so are the slow packaging and memory
	# tests (marker once)
	if [ "$env" = "$first" ]; then
		scale=1
		select=()
	else
		scale=0.25
		select=(-m "not server_side and not once")
		echo "pytest ($env): the server_side and once tests ran in the first environment; deselected here"
	fi
	# the object-column packers in pure Python (ZCIMPORT_IMPL=python) in
	# noarrow, where pandas' str columns are Python objects and most loads
	# go through them; the C packers elsewhere
	impl=
	[ "$env" = noarrow ] && impl=python
	t0=$SECONDS
	out=$(ZCIMPORT_IMPL=$impl ZC_TEST_SCALE=$scale PYTHONPATH=python ".venv/$env/bin/python" -m pytest test/python "${select[@]}" -q -p no:cacheprovider -rsfE --durations=12 2>&1); rc=$?
	# the failures' tracebacks, then the summary (skip reasons, FAILED/ERROR lines)
	if [ $rc -ne 0 ]; then
		echo "$out" | sed -n '/^=* FAILURES =*$/,/^=* slowest 12 durations =*$/p' | head -n 400
	fi
	echo "$out" | sed -n '/^=* slowest 12 durations =*$/,$p' | tail -n 150
	summaries+=("pytest ($env${impl:+, ZCIMPORT_IMPL=$impl}, $((SECONDS - t0)) s): $(echo "$out" | tail -n 1)")
	[ $rc -eq 0 ] || failed=1
done

step "pg_regress"
out=$(make -s installcheck 2>&1); rc=$?
echo "$out"
if [ $rc -ne 0 ] && [ -f regression.diffs ]; then
	head -n 200 regression.diffs
fi
summaries+=("pg_regress: $(echo "$out" | grep -E 'tests? (passed|failed)' | sed 's/^ *//' | tail -n 1)")
[ $rc -eq 0 ] || failed=1

step "summary"
for s in "${summaries[@]}"; do
	echo "$s"
done
exit $failed
