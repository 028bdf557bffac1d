#!/usr/bin/env bash
# Load a CSV file with the command line: zcimport load.
#
#   ZCIMPORT_DSN="dbname=mydb" bash cli_load.sh
#
# `zcimport` is the console script that `pip install ./python` installs;
# `python3 -m zcimport` is the same program without installing.  Run
# `zcimport load --help` for every option (CSV/TSV, JSON lines, pickle,
# NumPy, Parquet and .zci files; --create, --if-exists; exit codes).
set -euo pipefail
: "${ZCIMPORT_DSN:?set ZCIMPORT_DSN to a conninfo string or URL}"
PYTHON=${PYTHON:-python3}
if command -v zcimport >/dev/null 2>&1; then
	cli=(zcimport)
else
	cli=("$PYTHON" -m zcimport)
fi
table=zcimport_example_cli
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

cat >"$dir/cities.csv" <<'CSV'
city,country,population,updated
Paris,FR,2102650,2023-01-01
Berlin,DE,3677472,2022-12-31
Zürich,CH,421878,
Lyon,FR,,2023-01-01
CSV

# The DSN comes from -d, else from $ZCIMPORT_DSN.  --create makes the table
# from the types of the file's columns; --if-exists replace drops it first if
# it is there, as pandas' to_sql does.  It prints a summary line (and a
# progress bar on a terminal); -q for neither.
"${cli[@]}" load -d "$ZCIMPORT_DSN" -t "$table" --create --if-exists replace \
	--parse-dates updated "$dir/cities.csv"

psql -X -At -d "$ZCIMPORT_DSN" -c "SELECT 'loaded ' || count(*) || ' rows into $table' FROM $table"
