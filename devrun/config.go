package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the runner's configuration, read once from environment
// variables by loadConfig.
type Config struct {
	// DatabaseURL is an existing PostgreSQL server to use. When it is nil,
	// the runner starts a throwaway cluster under .dev/postgres.
	DatabaseURL *url.URL
	// KafkaBrokers lists existing Kafka brokers. When it is empty, the
	// runner starts an embedded broker on 127.0.0.1:KafkaPort.
	KafkaBrokers []string
	// PostgresPort is the TCP port of the throwaway cluster.
	PostgresPort int
	// PostgresBinDir is the folder with initdb, pg_ctl and postgres. Empty
	// means the newest /usr/lib/postgresql/*/bin, then the PATH.
	PostgresBinDir string
	// KafkaPort is the TCP port of the embedded broker.
	KafkaPort int
	// PortBase is the HTTP port of posts-svc; comments-svc, query-svc and
	// moderation-svc take the next three.
	PortBase int
	// BlogAddr is the listen address of the router.
	BlogAddr string
	// LogLevel is the minimum level of the runner's own log records. The
	// services read LOG_LEVEL themselves.
	LogLevel slog.Level
	// SkipClient turns off building the client before the start.
	SkipClient bool
	// ReadyTimeout bounds the wait for every service's /readyz.
	ReadyTimeout time.Duration
	// TopicPrefix is the services' KAFKA_TOPIC_PREFIX, which names their
	// topics and consumer groups.
	TopicPrefix string
	// StopTimeout bounds the wait for each service after SIGTERM, before
	// the runner sends SIGKILL.
	StopTimeout time.Duration
}

// envReader reads typed environment variables and collects one error per
// invalid variable, so the runner reports all of them at once.
type envReader struct {
	lookup func(string) (string, bool)
	errs   []error
}

func (r *envReader) value(name string) (string, bool) {
	v, ok := r.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (r *envReader) fail(name, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.errs = append(r.errs, fmt.Errorf("%s: %s", name, msg))
}

func (r *envReader) port(name string, def int) int {
	v, ok := r.value(name)
	if !ok {
		return def
	}

	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		r.fail(name, "invalid port %q: want a number from 1 to 65535", v)
		return def
	}

	return n
}

func (r *envReader) duration(name string, def time.Duration) time.Duration {
	v, ok := r.value(name)
	if !ok {
		return def
	}

	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, "invalid duration %q: want a positive Go duration "+
			"such as 500ms or 60s", v)
		return def
	}

	return d
}

func (r *envReader) addr(name, def string) string {
	v, ok := r.value(name)
	if !ok {
		return def
	}

	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		r.fail(name, "invalid address %q: want host:port, such as "+
			"127.0.0.1:8080", v)
	}

	return v
}

func (r *envReader) brokers(name string) []string {
	v, ok := r.value(name)
	if !ok {
		return nil
	}

	var brokers []string
	for _, b := range strings.Split(v, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}

		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			r.fail(name, "invalid broker address %q: want host:port", b)
		}

		brokers = append(brokers, b)
	}

	if len(brokers) == 0 {
		r.fail(name, "no broker in %q: want a comma-separated list of "+
			"host:port", v)
	}

	return brokers
}

// postgresURL parses the variable as a postgres:// or postgresql:// URL.
// Error messages never contain the URL, because it may carry a password.
func (r *envReader) postgresURL(name string) *url.URL {
	v, ok := r.value(name)
	if !ok {
		return nil
	}

	u, err := url.Parse(v)
	if err != nil {
		r.fail(name, "invalid URL: want postgres://user@host:port/db")
		return nil
	}

	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		r.fail(name, "invalid scheme %q: want postgres or postgresql",
			u.Scheme)
		return nil
	}

	return u
}

func (r *envReader) level(name string) slog.Level {
	v, ok := r.value(name)
	if !ok {
		return slog.LevelInfo
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(v)); err != nil {
		r.fail(name, "invalid level %q: want debug, info, warn or error", v)
	}

	return level
}

func (r *envReader) flag(name string) bool {
	v, ok := r.value(name)
	if !ok {
		return false
	}

	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, "invalid value %q: want 1 or 0", v)
	}

	return b
}

// loadConfig reads the runner's settings through lookup, which is
// os.LookupEnv outside tests. The error joins one message per invalid
// variable, each starting with the variable's name.
func loadConfig(lookup func(string) (string, bool)) (Config, error) {
	r := &envReader{lookup: lookup}
	pgBin, _ := r.value("DEV_PG_BIN")
	prefix, _ := r.value("KAFKA_TOPIC_PREFIX")
	cfg := Config{
		DatabaseURL:    r.postgresURL("DATABASE_URL"),
		KafkaBrokers:   r.brokers("KAFKA_BROKERS"),
		PostgresPort:   r.port("DEV_PG_PORT", 5432),
		PostgresBinDir: pgBin,
		KafkaPort:      r.port("DEV_KAFKA_PORT", 9092),
		PortBase:       r.port("DEV_PORT_BASE", 4000),
		BlogAddr:       r.addr("BLOG_ADDR", "127.0.0.1:8080"),
		LogLevel:       r.level("LOG_LEVEL"),
		SkipClient:     r.flag("DEV_SKIP_CLIENT"),
		ReadyTimeout:   r.duration("DEV_READY_TIMEOUT", 60*time.Second),
		StopTimeout:    r.duration("DEV_STOP_TIMEOUT", 15*time.Second),
		TopicPrefix:    prefix,
	}

	if cfg.PortBase > 65535-len(services)+1 {
		r.fail("DEV_PORT_BASE", "invalid port %d: the services need it "+
			"and the next %d ports", cfg.PortBase, len(services)-1)
	}

	return cfg, errors.Join(r.errs...)
}
