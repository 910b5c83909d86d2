package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/twmb/franz-go/pkg/kfake"
)

// startKafka starts an embedded Kafka-protocol broker (kfake) with one
// node on 127.0.0.1:port, or on a free port when port is 0, and returns
// it with its host:port. The broker writes its topics, records and
// committed offsets to dataDir and loads them from there when it starts,
// so the log outlives the runner as PostgreSQL's data does. Consumer
// groups, offset commits and CreateTopics work as on Kafka. Topics are
// not created on first use: the services create theirs.
func startKafka(port int, dataDir string, log *slog.Logger) (*kfake.Cluster, string, error) {
	cluster, err := kfake.NewCluster(
		kfake.Ports(port),
		kfake.DataDir(dataDir),
		kfake.ListenFn(listenLoopback),
		kfake.ClusterID("devrun"),
		kfake.WithLogger(kfakeLogger{log: log}),
	)
	if err != nil {
		return nil, "", fmt.Errorf("start embedded Kafka broker on "+
			"127.0.0.1:%d: %w", port, err)
	}

	addrs := cluster.ListenAddrs()
	if len(addrs) != 1 {
		cluster.Close()
		return nil, "", fmt.Errorf("embedded Kafka broker listens on %d "+
			"addresses, want 1", len(addrs))
	}

	return cluster, addrs[0], nil
}

// listenLoopback listens on 127.0.0.1 at the port of address, whatever
// host address names, so the broker is never reachable from other
// machines.
func listenLoopback(network, address string) (net.Listener, error) {
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("parse broker address %q: %w", address, err)
	}

	return net.Listen("tcp4", net.JoinHostPort("127.0.0.1", port))
}

// kfakeLogger sends kfake's log lines to slog. kfake logs each failed
// request at warn level, and a client asking about a topic before it
// exists fails a request, so those lines go out at debug level.
type kfakeLogger struct {
	log *slog.Logger
}

// Logf implements kfake.Logger.
func (l kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	slogLevel := slog.LevelDebug
	if level == kfake.LogLevelError {
		slogLevel = slog.LevelError
	}

	if !l.log.Enabled(context.Background(), slogLevel) {
		return
	}

	l.log.Log(context.Background(), slogLevel, fmt.Sprintf(format, args...),
		"component", "kafka")
}
