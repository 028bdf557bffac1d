#!/usr/bin/env bash
# The zcimport demo, what `make demo` runs (after `make deps`):
#   1. build and install the extension (make all, make install) and the
#      client's C module (make python-ext);
#   2. start a private, durable throwaway cluster (test/cluster.sh with
#      ZC_PGDURABLE=1) on its own port, ZC_PGPORT (default 54330);
#   3. bench/demo.py: create the extension, build the 10M-row seed frame, load
#      it with zcimport and with the CSV recipe of the pandas docs, verify the
#      row count and checksums read back, print rows/s and the ratio.
# The cluster is stopped and deleted on exit, whatever happens.  Idempotent:
# a cluster left on that port by an earlier, interrupted run is removed first.
# DEMO_ROWS (default 10000000) sets the size of the frame.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(bash test/venv.sh latest)}
export ZC_PGPORT=${ZC_PGPORT:-54330}
export ZC_PGDURABLE=1
DEMO_ROWS=${DEMO_ROWS:-10000000}

step() { printf '\n==== %s ====\n' "$*"; }

step "build and install the extension"
make -s all
make -s install
make -s python-ext
echo "installed zcimport into $(pg_config --pkglibdir 2>/dev/null || echo 'the PostgreSQL of pg_config')"

step "start a private durable cluster on port $ZC_PGPORT"
test/cluster.sh stop # a leftover of an interrupted run, if any
trap 'test/cluster.sh stop && echo "cluster on port $ZC_PGPORT stopped and removed"' EXIT
test/cluster.sh start
eval "$(test/cluster.sh env)"
echo "running: PGHOST=$PGHOST PGPORT=$PGPORT"

step "load the ${DEMO_ROWS}-row seed frame"
rc=0
PYTHONPATH=python "$PYTHON" bench/demo.py --rows "$DEMO_ROWS" || rc=$?

step "done"
if [ "$rc" -eq 0 ]; then
	echo "demo: OK"
else
	echo "demo: FAILED (exit $rc)"
fi
exit "$rc"
