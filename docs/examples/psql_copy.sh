#!/usr/bin/env bash
# Dump a DataFrame to a .zci file, then load it with psql's \copy.
#
#   ZCIMPORT_DSN="dbname=mydb" bash psql_copy.sh
#
# \copy sends the file in arbitrary chunks; a zcimport function must run
# first in the session, so that the server library (and its COPY format)
# is loaded.
set -euo pipefail
: "${ZCIMPORT_DSN:?set ZCIMPORT_DSN to a conninfo string or URL}"
PYTHON=${PYTHON:-python3}
table=zcimport_example_psql
file=$(mktemp --suffix=.zci)
trap 'rm -f "$file"' EXIT

"$PYTHON" - "$file" <<'PY'
import sys
import numpy as np
import pandas as pd
import zcimport

df = pd.DataFrame({"id": np.arange(500, dtype=np.int32), "name": [f"row {i}" for i in range(500)]})
zcimport.dump(df, sys.argv[1])
PY

psql -X -q -v ON_ERROR_STOP=1 -d "$ZCIMPORT_DSN" \
	-c "DROP TABLE IF EXISTS $table" \
	-c "CREATE TABLE $table (id integer, name text)" \
	-c "SELECT zcimport.version()" \
	-c "\\copy $table (id, name) FROM '$file' WITH (FORMAT zcimport)"
echo "loaded $(psql -X -At -d "$ZCIMPORT_DSN" -c "SELECT count(*) FROM $table") rows into $table with psql \\copy"
