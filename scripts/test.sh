#!/usr/bin/env bash
# Run every test of the project against a real Apache Kafka broker (KRaft,
# from its Maven Central jars) and a real PostgreSQL server, both started
# here on 127.0.0.1 in a fresh .testenv folder and stopped on exit:
#   1. Go unit and integration tests of every module but e2e,
#   2. client component tests and the production build,
#   3. the whole system started with devrun on real Kafka and PostgreSQL,
#      then the Go end-to-end tests (HTTP and kcat) and the browser test.
# Environment: TEST_KAFKA_PORT (19092), TEST_PG_PORT (15432),
# TEST_BLOG_ADDR (127.0.0.1:18080), TEST_PORT_BASE (14000, the first of
# the four service ports), GO_TEST_FLAGS (extra go test flags).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

kafka_port=${TEST_KAFKA_PORT:-19092}
pg_port=${TEST_PG_PORT:-15432}
blog_addr=${TEST_BLOG_ADDR:-127.0.0.1:18080}
# Away from make dev's 4000-4003, so the tests run beside it.
port_base=${TEST_PORT_BASE:-14000}
state=$root/.testenv
# PostgreSQL runs as the user postgres when the tests run as root, and that
# user must enter every folder above its data. A checkout under a private
# folder (mode 0700, as mktemp -d makes) does not allow that, so the
# cluster then lives under /tmp, at a path fixed by the port so that a
# later run finds and stops a cluster left behind.
pg_dir=$state/pg
if ((EUID == 0)) && id postgres >/dev/null 2>&1 &&
	! runuser -u postgres -- test -x "$root"; then
	pg_dir=${TMPDIR:-/tmp}/blog-testenv-pg-$pg_port
fi
system_pid=

log() {
	printf '\n== %s\n' "$*" >&2
}

cleanup() {
	local status=$?
	if [[ -n $system_pid ]] && kill -0 "$system_pid" 2>/dev/null; then
		kill -TERM "$system_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$system_pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$system_pid" 2>/dev/null || true
	fi
	bash scripts/kafka.sh stop "$state/kafka" >/dev/null 2>&1 || true
	bash scripts/pg.sh stop "$pg_dir" >/dev/null 2>&1 || true
	if [[ $pg_dir != "$state/pg" ]]; then
		rm -rf "$pg_dir"
	fi
	exit "$status"
}

log "installing test dependencies"
bash scripts/install-deps.sh

# Start a fresh broker and database every run, so no run reads data that
# an earlier run left behind.
bash scripts/kafka.sh stop "$state/kafka" >/dev/null 2>&1 || true
bash scripts/pg.sh stop "$pg_dir" >/dev/null 2>&1 || true
rm -rf "$state" "$pg_dir"
mkdir -p "$state"
trap cleanup EXIT INT TERM

log "starting PostgreSQL and Kafka"
TEST_DATABASE_URL=$(bash scripts/pg.sh start "$pg_dir" "$pg_port" | tail -n 1)
TEST_KAFKA_BROKERS=$(bash scripts/kafka.sh start "$state/kafka" "$kafka_port" | tail -n 1)
export TEST_DATABASE_URL TEST_KAFKA_BROKERS

mapfile -t modules < <(go list -m -f '{{.Dir}}' | grep -v '/e2e$')
packages=()
for dir in "${modules[@]}"; do
	packages+=("$dir/...")
done

log "go vet"
go vet "${packages[@]}"

log "go test (unit and integration)"
# shellcheck disable=SC2086 # GO_TEST_FLAGS is a list of flags.
go test -count=1 -timeout 20m ${GO_TEST_FLAGS:-} "${packages[@]}"

log "client component tests and build"
npm --prefix client test
npm --prefix client run build

log "starting the whole system on real Kafka and PostgreSQL"
go build -o "$state/devrun" ./devrun
BLOG_ADDR=$blog_addr DEV_PORT_BASE=$port_base KAFKA_BROKERS=$TEST_KAFKA_BROKERS \
	DATABASE_URL=$TEST_DATABASE_URL DEV_SKIP_CLIENT=1 \
	"$state/devrun" >"$state/system.log" 2>&1 &
system_pid=$!

for _ in $(seq 1 300); do
	if curl -fsS "http://$blog_addr/posts?limit=1" >/dev/null 2>&1; then
		break
	fi
	if ! kill -0 "$system_pid" 2>/dev/null; then
		tail -n 50 "$state/system.log" >&2
		echo "test.sh: the system exited during start-up" >&2
		exit 1
	fi
	sleep 0.2
done

log "end-to-end tests (HTTP through the router, kcat)"
E2E_BLOG_URL=http://$blog_addr E2E_KAFKA_BROKERS=$TEST_KAFKA_BROKERS \
	go test -count=1 -v ./e2e/...

log "browser test (Chromium driven by playwright-core)"
BLOG_URL=http://$blog_addr E2E_ARTIFACTS=$root/client/e2e/artifacts \
	npm --prefix client run e2e

log "all tests passed"
