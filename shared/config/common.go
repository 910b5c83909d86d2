package config

import (
	"log/slog"
	"time"
)

// Common holds the settings every service reads.
type Common struct {
	// HTTPAddr is the listen address of the HTTP server.
	HTTPAddr string
	// DatabaseURL is the service's own PostgreSQL database.
	DatabaseURL string
	// Brokers lists the Kafka bootstrap brokers.
	Brokers []string
	// TopicPrefix precedes every topic name. Empty in production.
	TopicPrefix string
	// TopicPartitions is the partition count of topics the service creates.
	TopicPartitions int
	// TopicReplication is the replication factor of topics it creates.
	TopicReplication int
	// ShutdownTimeout bounds a graceful shutdown.
	ShutdownTimeout time.Duration
	// LogLevel is the minimum level of log records.
	LogLevel slog.Level
}

// ReadCommon reads the settings every service shares. defaultPort and
// defaultDB name the service's port and database.
func ReadCommon(r *Reader, defaultPort, defaultDB string) Common {
	c := Common{
		HTTPAddr: r.Addr("HTTP_ADDR", ":"+defaultPort),
		DatabaseURL: r.PostgresURL("DATABASE_URL",
			"postgres://postgres@127.0.0.1:5432/"+defaultDB+"?sslmode=disable"),
		Brokers:          r.Brokers("KAFKA_BROKERS", []string{"127.0.0.1:9092"}),
		TopicPrefix:      r.String("KAFKA_TOPIC_PREFIX", ""),
		TopicPartitions:  r.Int("KAFKA_TOPIC_PARTITIONS", 3, 1, 1000),
		TopicReplication: r.Int("KAFKA_REPLICATION_FACTOR", 1, 1, 10),
		ShutdownTimeout:  r.Duration("SHUTDOWN_TIMEOUT", 10*time.Second),
	}

	level := r.String("LOG_LEVEL", "info")
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		r.Fail("LOG_LEVEL", "invalid level %q: want debug, info, warn or error",
			level)
	}

	return c
}

// Group returns the consumer group id for name. It carries the topic
// prefix, so test runs that share a broker never share a group.
func (c Common) Group(name string) string {
	return c.TopicPrefix + name
}
