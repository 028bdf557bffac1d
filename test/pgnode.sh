# shellcheck shell=bash
# Shared parts of the private throwaway clusters of test/cluster.sh and
# test/citus.sh: sourced, not run.  It sets PG_CONFIG (Debian's PostgreSQL 15
# unless PG_CONFIG names another) and bindir, and defines:
#
#   as_owner CMD...           run CMD as the cluster owner: the "postgres" OS
#                             user when we are root (initdb and postgres
#                             refuse to run as root), else ourselves
#   node_running DATA         is the server of data directory DATA up?
#   node_init ROOT DATA PORT LOG [SETTING...]
#                             initdb DATA unless it exists (its output in
#                             LOG), with a self-signed certificate and the
#                             settings every throwaway node shares: listening
#                             on 127.0.0.1:PORT and in the socket directory
#                             ROOT; fsync off unless ZC_PGDURABLE=1.  Each
#                             SETTING is a postgresql.conf line appended
#                             after those (a later line wins).  ROOT is
#                             created and given to the owner.
#   node_start DATA LOG       start the server (unless it is up), logging to LOG
#   node_stop DATA            stop the server (if it is up)
#
# Failures print the relevant log on stderr and exit 1.

PG_CONFIG=${PG_CONFIG:-pg_config}
if [ -x /usr/lib/postgresql/15/bin/pg_config ] && [ "$PG_CONFIG" = pg_config ]; then
	PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
fi
bindir=$("$PG_CONFIG" --bindir)

as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

node_running() {
	[ -f "$1/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$1" status >/dev/null 2>&1
}

node_init() {
	local root=$1 data=$2 port=$3 log=$4
	shift 4
	mkdir -p "$root"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$root"
	fi
	if [ -f "$data/PG_VERSION" ]; then
		return 0
	fi
	as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C.UTF-8 >"$log" 2>&1 ||
		{ cat "$log" >&2; exit 1; }
	# a self-signed certificate, so that tests can use SSL over TCP (if
	# this PostgreSQL was built with OpenSSL; the tests that need SSL skip
	# when the server has none)
	local ssl=off
	if "$PG_CONFIG" --configure | grep -q -- --with-openssl; then
		ssl=on
		as_owner openssl req -new -x509 -days 3650 -nodes -subj "/CN=localhost" \
			-keyout "$data/server.key" -out "$data/server.crt" >>"$log" 2>&1 ||
			{ cat "$log" >&2; exit 1; }
		chmod 600 "$data/server.key"
	fi
	{
		echo "ssl = $ssl"
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
		local setting
		for setting in "$@"; do
			echo "$setting"
		done
	} >>"$data/postgresql.conf"
}

node_start() {
	local data=$1 log=$2
	if node_running "$data"; then
		return 0
	fi
	as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null ||
		{ tail -n 30 "$log" >&2; exit 1; }
}

node_stop() {
	if node_running "$1"; then
		as_owner "$bindir/pg_ctl" -D "$1" -m fast -w stop >/dev/null
	fi
}
