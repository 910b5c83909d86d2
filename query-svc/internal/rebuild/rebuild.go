// Package rebuild empties the read model and rewinds the query service's
// consumer group to the start of the log, so the next start replays every
// event.
package rebuild

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/shared/messaging"
)

// ErrGroupActive is wrapped by Run's error when the consumer group still
// has members, in which case nothing was changed.
var ErrGroupActive = errors.New("query-svc is still running")

// Run empties the read model and resets the group's committed offsets to
// the earliest offset of every partition of topics, then writes a report
// to out. Both steps happen or neither: the tables are truncated inside a
// transaction that commits only after Kafka has stored the new offsets and
// they were read back. Kafka rejects the reset while the group has
// members, so a service that starts during Run cannot see a half-done
// rebuild.
func Run(
	ctx context.Context,
	pool *pgxpool.Pool,
	client *kafka.Client,
	group string,
	topics []string,
	out io.Writer,
) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '10s'"); err != nil {
		return fmt.Errorf("set lock timeout: %w", err)
	}

	var posts, comments int64
	err = tx.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM comments)`).
		Scan(&posts, &comments)
	if err != nil {
		return fmt.Errorf("count read model rows: %w", err)
	}

	if _, err := tx.Exec(ctx, "TRUNCATE posts, comments"); err != nil {
		return fmt.Errorf("empty the read model: %w", err)
	}

	resets, err := messaging.ResetToEarliest(ctx, client, group, topics)
	var active *messaging.ActiveGroupError
	if errors.As(err, &active) {
		return fmt.Errorf("%w: %v; nothing was changed. Scale query-svc to "+
			"zero (stop it locally, or kubectl scale deployment/query-svc "+
			"--replicas=0) and run the rebuild again", ErrGroupActive, active)
	}
	if err != nil {
		return fmt.Errorf("reset offsets of group %s; the read model is "+
			"unchanged: %w", group, err)
	}

	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("offsets were reset but emptying the read model "+
			"failed; the next start replays the log onto the old rows, "+
			"which is safe because every event applies idempotently: %w", err)
	}

	report(out, group, posts, comments, resets)
	return nil
}

func report(
	out io.Writer,
	group string,
	posts, comments int64,
	resets []messaging.OffsetReset,
) {
	fmt.Fprintf(out, "read model emptied: %d posts and %d comments removed\n",
		posts, comments)
	fmt.Fprintf(out, "consumer group %s reset to the earliest offsets:\n", group)
	for _, r := range resets {
		from := fmt.Sprint(r.From)
		if r.From < 0 {
			from = "none"
		}
		fmt.Fprintf(out, "  %s/%d: %s -> %d\n", r.Topic, r.Partition, from, r.To)
	}
	fmt.Fprintln(out, "start query-svc to replay the log")
}
