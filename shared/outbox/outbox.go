// Package outbox implements the transactional outbox: a service stores an
// event in the same transaction as the change it announces, and a Relay
// publishes stored events to Kafka in id order and deletes them once the
// broker has acknowledged them.
package outbox

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/postgres"
)

// Channel is the LISTEN/NOTIFY channel that wakes the relay.
const Channel = "outbox"

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate creates the outbox table if the database does not have it. It
// records its version in its own table, apart from the service's schema.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}

	return postgres.Migrate(ctx, pool, sub, "outbox_schema_version")
}

// Enqueue stores env for publication to topic with the given record key.
// It runs inside tx, so the event is published only if tx commits, and the
// relay is notified when it does.
func Enqueue(
	ctx context.Context,
	tx pgx.Tx,
	topic, key string,
	env event.Envelope,
) error {
	payload, err := env.Marshal()
	if err != nil {
		return fmt.Errorf("encode event %s: %w", env.ID, err)
	}

	_, err = tx.Exec(ctx, `
		INSERT INTO outbox (topic, key, event_id, event_type, payload)
		VALUES ($1, $2, $3, $4, $5)`,
		topic, key, env.ID, env.Type, payload)
	if err != nil {
		return fmt.Errorf("insert outbox event %s: %w", env.ID, err)
	}

	// NOTIFY is delivered at commit, and repeats within one transaction
	// are folded into one.
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, '')", Channel); err != nil {
		return fmt.Errorf("notify relay: %w", err)
	}

	return nil
}
