package service

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/shared/config"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/httpapi"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/outbox"
	"github.com/kafkablog/blog/shared/postgres"
)

// Deps holds the connections every service opens at start-up.
type Deps struct {
	Pool   *pgxpool.Pool
	Writer *kafka.Writer
	Topics event.Topics
	cfg    config.Common
}

// Open connects to the database and applies the outbox and service
// migrations, creates every contract topic and its dead-letter topic when
// missing, and builds the producer. It waits for the database and the
// broker until ctx is done.
func Open(ctx context.Context, cfg config.Common, migrations fs.FS) (*Deps, error) {
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}

	if err := outbox.Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}

	if err := postgres.Migrate(ctx, pool, migrations, "schema_version"); err != nil {
		pool.Close()
		return nil, err
	}

	topics := event.NewTopics(cfg.TopicPrefix)
	names := []string{topics.Posts, topics.Comments, topics.Moderation}
	for _, t := range names[:3] {
		names = append(names, event.DeadLetter(t))
	}

	spec := messaging.TopicSpec{
		Partitions:        cfg.TopicPartitions,
		ReplicationFactor: cfg.TopicReplication,
	}
	if err := messaging.EnsureTopics(ctx, cfg.Brokers, spec, names...); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ensure topics: %w", err)
	}

	return &Deps{
		Pool:   pool,
		Writer: messaging.NewWriter(cfg.Brokers),
		Topics: topics,
		cfg:    cfg,
	}, nil
}

// Checks returns the readiness checks every service shares: the
// database. A broker outage does not make a service unready, because
// writes wait in the outbox and reads come from PostgreSQL; the relay and
// consumers retry until the broker is back.
func (d *Deps) Checks() []httpapi.Check {
	return []httpapi.Check{
		{Name: "postgres", Check: func(ctx context.Context) error {
			return d.Pool.Ping(ctx)
		}},
	}
}

// KafkaClient returns a client for metadata, offset and group requests to
// the brokers.
func (d *Deps) KafkaClient() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(d.cfg.Brokers...), Timeout: 5 * time.Second}
}

// LagGauge returns a worker that exports the lag of group as the
// consumer_lag_events gauge. Its readiness check is not used, because a
// backlog of events must not turn away the service's HTTP traffic.
func (d *Deps) LagGauge(group, clientID string, topics []string) Worker {
	monitor := messaging.NewLagMonitor(d.KafkaClient(), group, clientID,
		topics, math.MaxInt64, 5*time.Second)

	return Worker{Name: "lag monitor", Run: monitor.Run}
}

// Relay returns the outbox relay as a worker.
func (d *Deps) Relay() (Worker, error) {
	relay, err := outbox.NewRelay(d.Pool, d.Writer, 500)
	if err != nil {
		return Worker{}, err
	}

	return Worker{Name: "outbox relay", Run: relay.Run}, nil
}

// Close closes the producer and the pool.
func (d *Deps) Close() {
	if err := d.Writer.Close(); err != nil {
		slog.Warn("close kafka writer", "error", err)
	}
	d.Pool.Close()
}
