#!/usr/bin/env bash
# Create or update one of the project's Python virtual environments:
#
#   test/venv.sh NAME      .venv/NAME from python/requirements/NAME.txt
#
# NAME is latest (the default environment of make, make demo and the
# benchmarks), noarrow or oldest: the three environments of make test's
# matrix.  Idempotent: the environment is rebuilt only when its
# requirements file changed (its sha256 is kept in .venv/NAME/.requirements).
# Prints the environment's python on stdout.  The venvs are git-ignored.
set -euo pipefail
cd "$(dirname "$0")/.."

name=${1:-latest}
req=python/requirements/$name.txt
venv=.venv/$name
base=${ZC_BASE_PYTHON:-/usr/bin/python3}

if [ ! -f "$req" ]; then
	echo "venv.sh: no requirements file $req" >&2
	exit 2
fi
want=$(sha256sum "$req" | cut -d' ' -f1)
# one at a time: concurrent makes would otherwise rebuild it under each other
mkdir -p .venv
exec 9>".venv/.$name.lock"
flock 9
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements" 2>/dev/null)" = "$want" ]; then
	echo "$venv/bin/python"
	exit 0
fi

echo "venv.sh: installing $venv from $req (pip)" >&2
rm -rf "$venv"
if ! "$base" -m venv "$venv" >&2; then
	echo "venv.sh: $base -m venv failed: run 'make deps' (Debian package python3-venv)" >&2
	exit 1
fi
log=$venv/pip.log
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
		-r "$req" >"$log" 2>&1; then
	grep -v "^WARNING: Location" "$log" | tail -n 30 >&2
	echo "venv.sh: pip install -r $req failed (full log: $log)" >&2
	exit 1
fi
echo "$want" >"$venv/.requirements"
echo "$venv/bin/python"
