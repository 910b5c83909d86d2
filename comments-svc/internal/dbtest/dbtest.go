// Package dbtest gives the integration tests of comments-svc a fresh
// PostgreSQL database with the service's schema, on the server that the
// project's test tooling starts (TEST_DATABASE_URL).
package dbtest

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafkablog/blog/comments-svc/migrations"
	"github.com/kafkablog/blog/shared/testenv/dbtest"
)

// OutboxRow is one event waiting in the outbox.
type OutboxRow = dbtest.OutboxRow

// New returns a pool on a fresh database with the outbox and comments-svc
// schemas, dropped when t ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()

	return dbtest.New(t, migrations.FS, "comments-svc")
}

// Count returns the number of rows in table.
func Count(t testing.TB, pool *pgxpool.Pool, table string) int {
	t.Helper()

	return dbtest.Count(t, pool, table)
}

// Outbox returns the outbox rows whose record key is key, in the order the
// relay publishes them.
func Outbox(t testing.TB, pool *pgxpool.Pool, key string) []OutboxRow {
	t.Helper()

	return dbtest.Outbox(t, pool, key)
}
