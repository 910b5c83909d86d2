// Package dbtest gives the integration tests of a service a fresh
// PostgreSQL database with the service's schema, on the server that the
// project's test tooling starts (TEST_DATABASE_URL), and reads rows back.
package dbtest

import (
	"context"
	"io/fs"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafkablog/blog/shared/outbox"
	"github.com/kafkablog/blog/shared/postgres"
	"github.com/kafkablog/blog/shared/testenv"
)

// New creates an empty database for t, applies the outbox migrations and
// then the service's migrations from migrations, in the order the service
// applies them at start-up, and returns a pool on it. service names the
// service in failures. The pool is closed and the database dropped when t
// ends. Without TEST_DATABASE_URL the test is skipped, or fails when CI is
// set.
func New(t testing.TB, migrations fs.FS, service string) *pgxpool.Pool {
	t.Helper()

	url := testenv.Database(t)
	ctx := testenv.Context(t, 30*time.Second)

	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("open pool on the test database: %v", err)
	}
	t.Cleanup(pool.Close)

	if err := outbox.Migrate(ctx, pool); err != nil {
		t.Fatalf("apply outbox migrations: %v", err)
	}

	err = postgres.Migrate(ctx, pool, migrations, "schema_version")
	if err != nil {
		t.Fatalf("apply %s migrations: %v", service, err)
	}

	return pool
}

// Count returns the number of rows in table.
func Count(t testing.TB, pool *pgxpool.Pool, table string) int {
	t.Helper()

	var n int
	query := "SELECT count(*) FROM " + pgx.Identifier{table}.Sanitize()
	if err := pool.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("count rows of %s: %v", table, err)
	}

	return n
}

// OutboxRow is one event waiting in the outbox.
type OutboxRow struct {
	Topic     string
	Key       string
	EventID   uuid.UUID
	EventType string
	Payload   []byte
}

// Outbox returns the outbox rows whose record key is key, in the order the
// relay publishes them.
func Outbox(t testing.TB, pool *pgxpool.Pool, key string) []OutboxRow {
	t.Helper()

	rows, err := pool.Query(context.Background(), `
		SELECT topic, key, event_id, event_type, payload
		FROM outbox WHERE key = $1 ORDER BY id`, key)
	if err != nil {
		t.Fatalf("select outbox rows of key %s: %v", key, err)
	}

	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (OutboxRow, error) {
		var r OutboxRow
		err := row.Scan(&r.Topic, &r.Key, &r.EventID, &r.EventType, &r.Payload)
		return r, err
	})
	if err != nil {
		t.Fatalf("read outbox rows of key %s: %v", key, err)
	}

	return out
}
