#!/usr/bin/env bash
# Start and stop a throwaway PostgreSQL cluster on 127.0.0.1 for tests and
# local runs, made from the machine's PostgreSQL server binaries.
# Run it without arguments for usage.
set -euo pipefail

readonly DEFAULT_PORT=15432

usage() {
	cat >&2 <<EOF
usage:
  $0 start DIR [PORT]
      Create a cluster in DIR on first use and start it on 127.0.0.1:PORT
      (default $DEFAULT_PORT). Prints the admin URL as the last line of
      stdout. A cluster already running in DIR is reused.
  $0 stop DIR
      Stop the cluster in DIR (fast shutdown).
  $0 createdb DIR PORT NAME...
      Create each database NAME that does not exist yet.

The cluster trusts every local connection and runs with fsync=off: it is
for throwaway test data only. Files in DIR: data/ (the cluster), sock/
(the Unix socket), postgres.log and initdb.log. When run as root, the
server runs as the user postgres, which must be able to reach DIR.

environment:
  PG_BINDIR   PostgreSQL bin folder (default: the highest version in
              /usr/lib/postgresql/*/bin)
EOF
}

die() {
	echo "pg.sh: $*" >&2
	exit 1
}

log() {
	echo "pg.sh: $*" >&2
}

find_bindir() {
	if [[ -n ${PG_BINDIR:-} ]]; then
		[[ -x $PG_BINDIR/initdb ]] || die "PG_BINDIR=$PG_BINDIR contains no initdb"
		echo "$PG_BINDIR"
		return 0
	fi
	local initdb
	initdb=$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1) ||
		true
	[[ -n $initdb ]] ||
		die "no /usr/lib/postgresql/*/bin/initdb: install postgresql (scripts/install-deps.sh)"
	dirname "$initdb"
}

# Run a server command. initdb and pg_ctl reject root, so as root they run
# as the user postgres, from / because the caller's working directory may be
# closed to that user. Every path passed in is absolute. fd 9 is the lock of
# DIR and must not leak into the server process.
as_owner() {
	if ((EUID == 0)); then
		(cd / && runuser -u postgres -- "$@" 9>&-)
	else
		"$@" 9>&-
	fi
}

validate_port() {
	if [[ ! $1 =~ ^[1-9][0-9]{0,4}$ ]] || (($1 > 65535)); then
		die "invalid port: $1 (expected 1-65535)"
	fi
}

admin_url() {
	echo "postgres://postgres@127.0.0.1:$1/postgres?sslmode=disable"
}

port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Create DIR and its socket folder, owned by the user that runs the server,
# and print the absolute path of DIR.
prepare_dir() {
	mkdir -p "$1/sock"
	local dir
	dir=$(cd "$1" && pwd)
	if ((EUID == 0)); then
		id postgres >/dev/null 2>&1 ||
			die "user postgres not found: install postgresql (scripts/install-deps.sh)"
		chown postgres: "$dir" "$dir/sock"
		runuser -u postgres -- test -w "$dir" -a -x "$dir" ||
			die "user postgres cannot write $dir: pick a folder whose parents" \
				"it can enter (for example under /tmp)"
	fi
	echo "$dir"
}

# Hold an exclusive lock on DIR until the script exits, so concurrent
# start and stop calls for one DIR run one after the other.
lock_dir() {
	exec 9>>"$1/.lock"
	flock 9
}

cluster_running() {
	[[ -f $1/data/PG_VERSION ]] &&
		as_owner "$BINDIR/pg_ctl" status -D "$1/data" >/dev/null 2>&1
}

# Print the port of the running cluster in DIR: line 4 of postmaster.pid.
running_port() {
	sed -n 4p "$1/data/postmaster.pid"
}

init_cluster() {
	local dir=$1
	[[ -f $dir/data/PG_VERSION ]] && return 0

	# The path goes into postgresql.conf as a single-quoted string.
	[[ $dir != *\'* ]] || die "invalid DIR $dir: it must not contain a single quote"
	log "creating cluster in $dir/data with $BINDIR/initdb"
	# --no-sync skips flushing the new files to disk, because the cluster is
	# disposable.
	if ! as_owner "$BINDIR/initdb" -D "$dir/data" -A trust -U postgres \
		-E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		die "initdb failed for $dir/data (output above)"
	fi
	cat >>"$dir/data/postgresql.conf" <<EOF

# Added by scripts/pg.sh for a throwaway test cluster.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/sock'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

wait_until_ready() {
	local port=$1 deadline=$((SECONDS + 30))
	until "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$port"; do
		((SECONDS < deadline)) ||
			die "PostgreSQL not ready on 127.0.0.1:$port after 30 s"
		sleep 0.1
	done
}

cmd_start() {
	(($# >= 1 && $# <= 2)) || {
		usage
		exit 2
	}
	local port=${2:-$DEFAULT_PORT} dir
	validate_port "$port"
	dir=$(prepare_dir "$1")
	lock_dir "$dir"

	if cluster_running "$dir"; then
		if [[ $(running_port "$dir") != "$port" ]]; then
			port=$(running_port "$dir")
			log "PostgreSQL in $dir already runs on port $port, not the requested one"
		fi
		log "reusing PostgreSQL already running in $dir on port $port"
		wait_until_ready "$port"
		admin_url "$port"
		return 0
	fi

	port_in_use "$port" && die "port $port on 127.0.0.1 is already in use"
	init_cluster "$dir"
	if ! as_owner "$BINDIR/pg_ctl" start -D "$dir/data" -l "$dir/postgres.log" \
		-w -t 60 -o "-p $port" >&2; then
		tail -n 40 "$dir/postgres.log" >&2 || true
		die "pg_ctl start failed for $dir/data; see $dir/postgres.log"
	fi
	wait_until_ready "$port"
	admin_url "$port"
}

cmd_stop() {
	(($# == 1)) || {
		usage
		exit 2
	}
	[[ -d $1 ]] || die "no such directory: $1"
	local dir
	dir=$(prepare_dir "$1")
	lock_dir "$dir"

	if ! cluster_running "$dir"; then
		log "no PostgreSQL running in $dir"
		return 0
	fi
	as_owner "$BINDIR/pg_ctl" stop -D "$dir/data" -m fast -w -t 60 >&2
}

cmd_createdb() {
	(($# >= 3)) || {
		usage
		exit 2
	}
	local dir port=$2 name url
	[[ -d $1 ]] || die "no such directory: $1"
	dir=$(cd "$1" && pwd)
	shift 2
	validate_port "$port"
	cluster_running "$dir" ||
		die "no PostgreSQL running in $dir: start it with $0 start $dir $port"
	url=$(admin_url "$port")

	for name; do
		# psql substitutes the quoted variables :'name' and :"name" in input
		# read from stdin but not in a -c command, so the queries are piped in.
		if "$BINDIR/psql" "$url" -X -q -t -A -v ON_ERROR_STOP=1 -v name="$name" \
			<<<"select 1 from pg_database where datname = :'name'" | grep -q 1; then
			continue
		fi
		"$BINDIR/psql" "$url" -X -q -v ON_ERROR_STOP=1 -v name="$name" \
			<<<'create database :"name"' ||
			die "creating database $name on 127.0.0.1:$port failed"
		log "created database $name"
	done
}

main() {
	local command=${1:-}
	shift || true
	case $command in
	start | stop | createdb)
		BINDIR=$(find_bindir)
		;;
	esac
	case $command in
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	createdb) cmd_createdb "$@" ;;
	-h | --help | help) usage ;;
	*)
		usage
		exit 2
		;;
	esac
}

main "$@"
