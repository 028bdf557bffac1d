#!/usr/bin/env bash
# Start, stop or describe a private throwaway Citus cluster: a coordinator and
# two workers on loopback, for the tests of zcimport against Citus tables.
#
#   test/citus.sh start   initdb (if needed), start, and set up every node;
#                         prints nothing on success; exits 3 with a one-line
#                         message when Citus is not installed
#   test/citus.sh stop    stop and delete the cluster
#   test/citus.sh env     print the coordinator's PGHOST/PGPORT/PGUSER/PGDATABASE
#                         exports, and ZC_CITUS_WORKER_PORTS (comma-separated)
#
# The coordinator listens on ZC_CITUS_PORT (default 54460), the workers on
# ZC_CITUS_PORT+1 and +2, all on 127.0.0.1 and in one socket directory,
# ZC_CITUS_ROOT (default /tmp/zcimport-citus-$ZC_CITUS_PORT), which also holds
# each node's data directory (coordinator, worker1, worker2) and log
# (<node>.log).  Every node preloads citus (only citus: Citus refuses to load
# unless it comes first in shared_preload_libraries, and zcimport's library
# pg_zcimport loads on demand, with the first call of zcimport.version()).
# Every node has the database ZC_CITUS_DB (default zcimport_citus) with the
# citus and zcimport extensions; the coordinator is in the metadata and both
# workers are added to it.  Nodes run as the "postgres" OS user, as in
# test/cluster.sh (whose shared parts are in test/pgnode.sh); ZC_PGDURABLE=1
# keeps fsync on.  Running start again starts what is down and redoes the
# setup, which changes nothing that is already in place.
#
# Citus is not in Debian's archive: it must be built from source and
# installed into this PostgreSQL (nothing of it belongs in this repository).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=pgnode.sh
. "$(dirname "$0")/pgnode.sh"
port=${ZC_CITUS_PORT:-54460}
root=${ZC_CITUS_ROOT:-/tmp/zcimport-citus-$port}
db=${ZC_CITUS_DB:-zcimport_citus}
nodes=(coordinator worker1 worker2)
ports=("$port" $((port + 1)) $((port + 2)))

# psql on node number $1, in database $2, as postgres; the rest are its arguments
node_psql() {
	local n=$1 dbname=$2
	shift 2
	"$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$root" -p "${ports[$n]}" -U postgres \
		-d "$dbname" "$@"
}

# run one SQL statement on node number $1 in $db; its errors go to stderr
node_sql() {
	node_psql "$1" "$db" -t -A -c "$2" >/dev/null ||
		{ echo "citus.sh: on the ${nodes[$1]} (port ${ports[$1]}) this failed: $2" >&2; exit 1; }
}

case "${1:-}" in
start)
	if ! [[ $db =~ ^[a-z_][a-z0-9_]*$ ]]; then
		echo "citus.sh: ZC_CITUS_DB must be a lower-case SQL identifier, not '$db'" >&2
		exit 2
	fi
	control=$("$PG_CONFIG" --sharedir)/extension/citus.control
	if [ ! -f "$control" ]; then
		echo "citus.sh: Citus is not installed in this PostgreSQL (no $control)" >&2
		exit 3
	fi
	for n in 0 1 2; do
		node_init "$root" "$root/${nodes[$n]}" "${ports[$n]}" "$root/${nodes[$n]}-initdb.log" \
			"shared_preload_libraries = 'citus'" \
			"max_connections = 100" \
			"max_prepared_transactions = 100" \
			"wal_level = logical"
		node_start "$root/${nodes[$n]}" "$root/${nodes[$n]}.log"
	done
	for n in 0 1 2; do
		exists=$(node_psql "$n" postgres -t -A \
			-c "SELECT 1 FROM pg_catalog.pg_database WHERE datname = '$db'")
		if [ -z "$exists" ]; then
			node_psql "$n" postgres -c "CREATE DATABASE $db" >/dev/null
		fi
		# (a worker in the metadata refuses CREATE EXTENSION, even a no-op)
		for ext in citus zcimport; do
			exists=$(node_psql "$n" "$db" -t -A \
				-c "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = '$ext'")
			if [ -z "$exists" ]; then
				node_sql "$n" "CREATE EXTENSION $ext"
			fi
		done
	done
	node_sql 0 "SELECT pg_catalog.citus_set_coordinator_host('127.0.0.1', ${ports[0]})"
	for n in 1 2; do
		node_sql 0 "SELECT pg_catalog.citus_add_node('127.0.0.1', ${ports[$n]})"
	done
	;;
stop)
	for n in 2 1 0; do
		node_stop "$root/${nodes[$n]}"
	done
	rm -rf "$root"
	;;
env)
	echo "export PGHOST=$root PGPORT=$port PGUSER=postgres PGDATABASE=$db" \
		"ZC_CITUS_WORKER_PORTS=${ports[1]},${ports[2]}"
	;;
*)
	echo "usage: $0 start|stop|env" >&2
	exit 2
	;;
esac
