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
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-pg_config}
if [ -x /usr/lib/postgresql/15/bin/pg_config ] && [ "$PG_CONFIG" = pg_config ]; then
	PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
fi
bindir=$("$PG_CONFIG" --bindir)
port=${ZC_PGPORT:-54329}
root=${ZC_PGROOT:-/tmp/zcimport-pg-$port}
data=$root/data

as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

running() {
	[ -f "$data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

case "${1:-}" in
start)
	if running; then
		exit 0
	fi
	mkdir -p "$root"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$root"
	fi
	if [ ! -f "$data/PG_VERSION" ]; then
		as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust \
			--encoding=UTF8 --locale=C.UTF-8 >"$root/initdb.log" 2>&1 ||
			{ cat "$root/initdb.log" >&2; exit 1; }
		# a self-signed certificate, so that tests can use SSL over TCP
		as_owner openssl req -new -x509 -days 3650 -nodes -subj "/CN=localhost" \
			-keyout "$data/server.key" -out "$data/server.crt" >>"$root/initdb.log" 2>&1 ||
			{ cat "$root/initdb.log" >&2; exit 1; }
		chmod 600 "$data/server.key"
		{
			echo "ssl = on"
			echo "listen_addresses = '127.0.0.1'"
			echo "port = $port"
			echo "unix_socket_directories = '$root'"
			echo "max_connections = 40"
			echo "shared_buffers = 256MB"
			echo "max_wal_size = 4GB"
			echo "log_min_messages = warning"
			echo "lc_messages = 'C'"
			if [ "${ZC_PGDURABLE:-0}" != 1 ]; then
				echo "fsync = off"
				echo "synchronous_commit = off"
				echo "full_page_writes = off"
			fi
		} >>"$data/postgresql.conf"
	fi
	as_owner "$bindir/pg_ctl" -D "$data" -l "$root/server.log" -w -t 60 start >/dev/null ||
		{ tail -n 30 "$root/server.log" >&2; exit 1; }
	;;
stop)
	if running; then
		as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
	fi
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
