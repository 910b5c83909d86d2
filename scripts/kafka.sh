#!/usr/bin/env bash
# Fetch, start and stop a throwaway single-node Apache Kafka broker (KRaft,
# broker and controller in one JVM on 127.0.0.1) for tests and local runs.
# Run it without arguments for usage.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT
readonly POM="$REPO_ROOT/scripts/kafka/pom.xml"
readonly TOOLS_LOG4J="$REPO_ROOT/scripts/kafka/tools-log4j2.properties"
readonly DEFAULT_PORT=19092

usage() {
	cat >&2 <<EOF
usage:
  $0 fetch
      Download the Kafka jars from Maven Central into the cache folder.
  $0 start DIR [PORT]
      Start a broker with its data, configuration and logs in DIR, listening
      on 127.0.0.1:PORT (default $DEFAULT_PORT). Prints the bootstrap address
      as the last line of stdout.
  $0 stop DIR
      Stop the broker started in DIR.
  $0 tool NAME [ARGS...]
      Run a Kafka command-line tool. NAME is one of:
      $(tool_names | paste -sd ' ')

environment:
  KAFKA_CACHE_DIR        jar folder (default: $REPO_ROOT/.cache/kafka/libs)
  KAFKA_HEAP_OPTS        broker heap options (default: -Xms256m -Xmx512m)
  KAFKA_START_TIMEOUT    seconds to wait for the broker (default: 60)
  KAFKA_STOP_TIMEOUT     seconds before SIGKILL on stop (default: 20)
  JAVA_HOME              Java 17 or newer; otherwise java from PATH
EOF
}

die() {
	echo "kafka.sh: $*" >&2
	exit 1
}

log() {
	echo "kafka.sh: $*" >&2
}

cache_dir() {
	local dir=${KAFKA_CACHE_DIR:-$REPO_ROOT/.cache/kafka/libs}
	mkdir -p "$(dirname "$dir")"
	echo "$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")"
}

java_bin() {
	local java=java
	if [[ -n ${JAVA_HOME:-} ]]; then
		java=$JAVA_HOME/bin/java
	fi
	command -v "$java" >/dev/null ||
		die "$java not found: install Java 17 or newer (scripts/install-deps.sh)"
	echo "$java"
}

# The stamp records the Kafka version and the pom checksum, so editing the
# pom triggers a new fetch.
expected_stamp() {
	local version
	version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")
	[[ -n $version ]] || die "missing <kafka.version> property in $POM"
	echo "kafka_version=$version"
	echo "pom_sha256=$(sha256sum "$POM" | cut -d' ' -f1)"
}

cmd_fetch() {
	local libs
	libs=$(cache_dir)
	if [[ -f $libs/.stamp && $(<"$libs/.stamp") == "$(expected_stamp)" ]]; then
		return 0
	fi
	# The lock keeps parallel fetches (two first starts at once) from
	# replacing the folder under each other.
	{
		flock 8
		fetch_jars "$libs"
	} 8>"$libs.lock"
}

fetch_jars() {
	local libs=$1 stamp tmp mvn_log
	stamp=$(expected_stamp)
	if [[ -f $libs/.stamp && $(<"$libs/.stamp") == "$stamp" ]]; then
		return 0
	fi
	command -v mvn >/dev/null ||
		die "mvn not found: install Maven (scripts/install-deps.sh)"

	log "fetching $(head -n1 <<<"$stamp") into $libs"
	# Copy into a new folder and swap it in, so an interrupted fetch never
	# leaves a half-filled cache or jars of two versions side by side.
	tmp="$libs.tmp.$$"
	mvn_log="$libs.mvn.log"
	rm -rf "$tmp"
	if ! mvn -B -q -f "$POM" dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvn_log" 2>&1; then
		cat "$mvn_log" >&2
		rm -rf "$tmp"
		die "mvn dependency:copy-dependencies failed for $POM (output above)"
	fi
	echo "$stamp" >"$tmp/.stamp"
	rm -rf "$libs" "$mvn_log"
	mv "$tmp" "$libs"
	log "fetched $(find "$libs" -name '*.jar' | wc -l) jars"
}

# Print the process state letter of PID, or nothing when there is none.
process_state() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	# The command name in field 2 may contain spaces, so cut after its ")".
	stat=${stat##*) }
	echo "${stat%% *}"
}

# Treat a zombie as dead, because an exited broker stays a zombie until
# PID 1 reaps it, and in some containers PID 1 never does.
process_alive() {
	local state
	state=$(process_state "$1")
	[[ -n $state && $state != Z ]]
}

process_group() {
	local stat pgrp
	stat=$(cat "/proc/$1/stat")
	stat=${stat##*) }
	read -r _ _ pgrp _ <<<"$stat"
	echo "$pgrp"
}

# Succeed when the PID in DIR/kafka.pid is alive and is the broker of DIR,
# which guards against a PID that the kernel has reused since.
broker_running() {
	local dir=$1 pid
	[[ -f $dir/kafka.pid ]] || return 1
	pid=$(<"$dir/kafka.pid")
	[[ $pid =~ ^[0-9]+$ ]] && process_alive "$pid" || return 1
	tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null |
		grep -qxF "$dir/server.properties"
}

validate_port() {
	if [[ ! $1 =~ ^[1-9][0-9]{0,4}$ ]] || (($1 > 65535)); then
		die "invalid port: $1 (expected 1-65535)"
	fi
}

# Print the wall-clock time in microseconds. EPOCHREALTIME uses the
# locale's decimal separator, which may be a comma.
now_micros() {
	echo "${EPOCHREALTIME//[.,]/}"
}

port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Print the controller port that DIR was set up with, or a free one for a
# new DIR. The port cannot change after formatting, because the standalone
# format writes the controller endpoint into the metadata log.
controller_port() {
	local dir=$1 broker_port=$2 port
	if [[ -f $dir/server.properties ]]; then
		port=$(sed -n 's/^controller\.quorum\.bootstrap\.servers=127\.0\.0\.1://p' \
			"$dir/server.properties")
		if [[ -n $port ]]; then
			echo "$port"
			return 0
		fi
	fi
	# Start 1000 above the broker port (1099 below it near 65535), so a
	# second broker started on PORT+1 finds its port free.
	local first=$((broker_port + 1000))
	if ((first + 99 > 65535)); then
		first=$((broker_port - 1099))
	fi
	for ((port = first; port <= first + 99; port++)); do
		if ! port_in_use "$port"; then
			echo "$port"
			return 0
		fi
	done
	die "no free controller port in $first-$((first + 99)) on 127.0.0.1"
}

write_broker_config() {
	local dir=$1 port=$2 controller=$3
	cat >"$dir/server.properties" <<EOF
# Written by scripts/kafka.sh start, which rewrites it on every start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF

	cat >"$dir/log4j2.properties" <<EOF
# Written by scripts/kafka.sh start. The broker logs to kafka.log only.
status = warn
name = kafka-broker

appender.file.type = File
appender.file.name = file
appender.file.fileName = $dir/kafka.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n

rootLogger.level = info
rootLogger.appenderRef.file.ref = file
EOF
}

# Format the storage once, with the single node as a standalone controller.
format_storage() {
	local dir=$1 libs=$2 cluster_id
	[[ -f $dir/data/meta.properties ]] && return 0

	# A cluster ID is 16 random bytes in URL-safe base64 without padding.
	cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
	if ! run_java "$libs" kafka.tools.StorageTool format \
		--config "$dir/server.properties" --cluster-id="$cluster_id" \
		--standalone >"$dir/format.log" 2>&1; then
		cat "$dir/format.log" >&2
		die "formatting the storage in $dir/data failed (output above)"
	fi
}

# Run a Kafka tool class with the quiet tools logging configuration.
run_java() {
	local libs=$1 java
	shift
	java=$(java_bin)
	"$java" -Xmx256m -Dlog4j2.configurationFile="$TOOLS_LOG4J" \
		-cp "$libs/*" "$@"
}

print_log_tail() {
	local dir=$1 file
	for file in "$dir/kafka.out" "$dir/kafka.log"; do
		if [[ -s $file ]]; then
			echo "---- last 40 lines of $file ----" >&2
			tail -n 40 "$file" >&2
		fi
	done
}

# Wait until the broker returns metadata listing itself. The broker
# processes client requests only after its controller has unfenced it, so
# the controller is up too. On failure the broker is stopped, so a failed
# start leaves no process behind.
wait_for_broker() {
	local dir=$1 port=$2 pid=$3
	local timeout=${KAFKA_START_TIMEOUT:-60}
	local deadline=$((SECONDS + timeout))
	until port_in_use "$port" &&
		kcat -b "127.0.0.1:$port" -L -m 5 2>/dev/null | grep -q ' 1 brokers:'; do
		if ! process_alive "$pid"; then
			print_log_tail "$dir"
			rm -f "$dir/kafka.pid"
			die "Kafka (PID $pid) exited during start-up;" \
				"see $dir/kafka.out and $dir/kafka.log"
		fi
		if ((SECONDS >= deadline)); then
			print_log_tail "$dir"
			stop_broker "$dir"
			die "Kafka (PID $pid) not ready on 127.0.0.1:$port after $timeout s;" \
				"stopped it; see $dir/kafka.out and $dir/kafka.log"
		fi
		sleep 0.2
	done
}

configured_port() {
	sed -n 's/^advertised\.listeners=PLAINTEXT:\/\/127\.0\.0\.1://p' \
		"$1/server.properties"
}

launch_broker() {
	local dir=$1 libs=$2 java
	local -a heap
	java=$(java_bin)
	read -r -a heap <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
	# setsid puts the JVM into its own session and process group (PGID =
	# PID), so stop can signal the whole group and a Ctrl-C in the caller's
	# terminal does not reach it. fd 9 is the start lock and must not leak.
	setsid "$java" "${heap[@]}" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
		-Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$dir/log4j2.properties" \
		-cp "$libs/*" kafka.Kafka "$dir/server.properties" \
		</dev/null >"$dir/kafka.out" 2>&1 9>&- &
	echo $! >"$dir/kafka.pid"
}

cmd_start() {
	(($# >= 1 && $# <= 2)) || {
		usage
		exit 2
	}
	local port=${2:-$DEFAULT_PORT}
	validate_port "$port"
	command -v kcat >/dev/null ||
		die "kcat not found: install it (scripts/install-deps.sh)"

	local dir libs controller pid started
	mkdir -p "$1"
	dir=$(cd "$1" && pwd)
	exec 9>"$dir/.lock"
	flock 9

	if broker_running "$dir"; then
		pid=$(<"$dir/kafka.pid")
		if [[ $(configured_port "$dir") != "$port" ]]; then
			port=$(configured_port "$dir")
			log "Kafka in $dir already runs on port $port, not the requested one"
		fi
		log "reusing Kafka (PID $pid) already running in $dir on port $port"
		wait_for_broker "$dir" "$port" "$pid"
		echo "127.0.0.1:$port"
		return 0
	fi
	rm -f "$dir/kafka.pid"

	cmd_fetch
	libs=$(cache_dir)
	port_in_use "$port" && die "port $port on 127.0.0.1 is already in use"
	controller=$(controller_port "$dir" "$port")
	port_in_use "$controller" &&
		die "controller port $controller on 127.0.0.1 is already in use;" \
			"it is fixed in the formatted storage of $dir, so free it or use a new DIR"

	started=$(now_micros)
	write_broker_config "$dir" "$port" "$controller"
	format_storage "$dir" "$libs"
	launch_broker "$dir" "$libs"
	pid=$(<"$dir/kafka.pid")
	wait_for_broker "$dir" "$port" "$pid"
	log "Kafka (PID $pid) ready on 127.0.0.1:$port after" \
		"$((($(now_micros) - started) / 1000)) ms; log: $dir/kafka.log"
	echo "127.0.0.1:$port"
}

# Stop the broker of DIR: SIGTERM to its process group, then SIGKILL after
# KAFKA_STOP_TIMEOUT seconds. The caller holds the lock of DIR.
stop_broker() {
	local dir=$1 pid target
	if ! broker_running "$dir"; then
		rm -f "$dir/kafka.pid"
		log "no Kafka running in $dir"
		return 0
	fi
	pid=$(<"$dir/kafka.pid")
	target=$pid
	if [[ $(process_group "$pid") == "$pid" ]]; then
		target=-$pid
	fi

	kill -TERM -- "$target" 2>/dev/null || true
	local deadline=$((SECONDS + ${KAFKA_STOP_TIMEOUT:-20}))
	while process_alive "$pid" && ((SECONDS < deadline)); do
		sleep 0.2
	done
	if process_alive "$pid"; then
		log "Kafka (PID $pid) still running after SIGTERM; sending SIGKILL"
		kill -KILL -- "$target" 2>/dev/null || true
		while process_alive "$pid"; do
			sleep 0.1
		done
	fi
	rm -f "$dir/kafka.pid"
	log "stopped Kafka (PID $pid) in $dir"
}

cmd_stop() {
	(($# == 1)) || {
		usage
		exit 2
	}
	[[ -d $1 ]] || die "no such directory: $1"
	local dir
	dir=$(cd "$1" && pwd)
	exec 9>"$dir/.lock"
	flock 9
	stop_broker "$dir"
}

tool_names() {
	cat <<EOF
kafka-configs
kafka-console-consumer
kafka-console-producer
kafka-consumer-groups
kafka-delete-records
kafka-get-offsets
kafka-metadata-quorum
kafka-storage
kafka-topics
EOF
}

tool_class() {
	case $1 in
	kafka-configs) echo org.apache.kafka.tools.ConfigCommand ;;
	kafka-console-consumer) echo org.apache.kafka.tools.consumer.ConsoleConsumer ;;
	kafka-console-producer) echo org.apache.kafka.tools.ConsoleProducer ;;
	kafka-consumer-groups) echo org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
	kafka-delete-records) echo org.apache.kafka.tools.DeleteRecordsCommand ;;
	kafka-get-offsets) echo org.apache.kafka.tools.GetOffsetShell ;;
	kafka-metadata-quorum) echo org.apache.kafka.tools.MetadataQuorumCommand ;;
	kafka-storage) echo kafka.tools.StorageTool ;;
	kafka-topics) echo org.apache.kafka.tools.TopicCommand ;;
	*) die "unknown tool: $1 (known: $(tool_names | paste -sd ' '))" ;;
	esac
}

cmd_tool() {
	(($# >= 1)) || {
		usage
		exit 2
	}
	local class libs
	class=$(tool_class "$1")
	shift
	cmd_fetch
	libs=$(cache_dir)
	run_java "$libs" "$class" "$@"
}

main() {
	local command=${1:-}
	shift || true
	case $command in
	fetch) cmd_fetch ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	tool) cmd_tool "$@" ;;
	-h | --help | help)
		usage
		;;
	*)
		usage
		exit 2
		;;
	esac
}

main "$@"
