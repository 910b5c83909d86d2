#!/usr/bin/env bash
# Measure how fast query-svc rebuilds its read model. This starts a real
# Kafka broker and a PostgreSQL cluster on 127.0.0.1 under .bench/ and
# runs query-svc/cmd/rebuild-bench with the arguments given (default: a
# log of 1,000,000 events), which prints its figures. Both servers stop
# on exit.
# Environment: BENCH_KAFKA_PORT (19192), BENCH_PG_PORT (15532).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

kafka_port=${BENCH_KAFKA_PORT:-19192}
pg_port=${BENCH_PG_PORT:-15532}
state=$root/.bench

cleanup() {
	local status=$?
	bash scripts/kafka.sh stop "$state/kafka" >/dev/null 2>&1 || true
	bash scripts/pg.sh stop "$state/pg" >/dev/null 2>&1 || true
	exit "$status"
}

bash scripts/kafka.sh stop "$state/kafka" >/dev/null 2>&1 || true
bash scripts/pg.sh stop "$state/pg" >/dev/null 2>&1 || true
rm -rf "$state"
mkdir -p "$state"
trap cleanup EXIT INT TERM

database_url=$(bash scripts/pg.sh start "$state/pg" "$pg_port" | tail -n 1)
brokers=$(bash scripts/kafka.sh start "$state/kafka" "$kafka_port" | tail -n 1)

go build -o "$state/rebuild-bench" ./query-svc/cmd/rebuild-bench
if (($# == 0)); then
	set -- -events 1000000
fi

"$state/rebuild-bench" -brokers "$brokers" -database "$database_url" "$@"
