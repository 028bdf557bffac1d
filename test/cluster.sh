#!/usr/bin/env bash
# Start, stop or describe the private throwaway PostgreSQL cluster that
# make test, make demo and the benchmarks run against.
#
#   test/cluster.sh start   initdb (if needed) and start; prints nothing on success
#   test/cluster.sh stop    stop and delete the cluster
#   test/cluster.sh env     print PGHOST/PGPORT/PGUSER/PGDATABASE exports
#
# initdb and postgres refuse to run as root, so as root the cluster runs as
# the unprivileged "postgres" user through runuser.  The cluster listens on a
# private socket directory and port: ZC_PGPORT (default 54329) and ZC_PGROOT
# (default /tmp/zcimport-pg-$ZC_PGPORT).  ZC_PGDURABLE=1 keeps fsync on, as the
# benchmarks want; otherwise fsync is off, since the cluster is thrown away.
# The parts shared with test/citus.sh are in test/pgnode.sh.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=pgnode.sh
. "$(dirname "$0")/pgnode.sh"
port=${ZC_PGPORT:-54329}
root=${ZC_PGROOT:-/tmp/zcimport-pg-$port}
data=$root/data

case "${1:-}" in
start)
	node_init "$root" "$data" "$port" "$root/initdb.log"
	node_start "$data" "$root/server.log"
	;;
stop)
	node_stop "$data"
	rm -rf "$root"
	;;
env)
	echo "export PGHOST=$root PGPORT=$port PGUSER=postgres PGDATABASE=postgres"
	;;
*)
	echo "usage: $0 start|stop|env" >&2
	exit 2
	;;
esac
