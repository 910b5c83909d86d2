package moderation_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafkablog/blog/moderation-svc/migrations"
	"github.com/kafkablog/blog/shared/testenv/dbtest"
	"github.com/kafkablog/blog/shared/testenv/kafkatest"
)

// The shared Kafka test helpers under their local names.
var (
	ensureTopics = kafkatest.EnsureTopics
	runConsumer  = kafkatest.RunConsumer
	message      = kafkatest.Message
	header       = kafkatest.Header
	readTopic    = kafkatest.ReadTopic
)

// newDB returns a pool on a fresh database with the outbox and
// moderation-svc schemas, dropped when t ends.
func newDB(t testing.TB) *pgxpool.Pool {
	t.Helper()

	return dbtest.New(t, migrations.FS, "moderation-svc")
}

func countRows(t testing.TB, pool *pgxpool.Pool, table string) int {
	t.Helper()

	return dbtest.Count(t, pool, table)
}

type outboxRow struct {
	topic     string
	key       string
	eventID   uuid.UUID
	eventType string
	payload   []byte
}

// outboxRows returns the outbox rows in the order the relay publishes
// them.
func outboxRows(t testing.TB, pool *pgxpool.Pool) []outboxRow {
	t.Helper()

	rows, err := pool.Query(context.Background(), `
		SELECT topic, key, event_id, event_type, payload
		FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatalf("select outbox rows: %v", err)
	}

	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (outboxRow, error) {
		var r outboxRow
		err := row.Scan(&r.topic, &r.key, &r.eventID, &r.eventType, &r.payload)
		return r, err
	})
	if err != nil {
		t.Fatalf("read outbox rows: %v", err)
	}

	return out
}
