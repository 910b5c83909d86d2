package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/shared/event"
)

// relayLockID is the transaction advisory lock that lets one relay per
// database publish at a time, which keeps records in id order when several
// replicas run.
const relayLockID = 0x6f7574626f78 // "outbox"

var (
	published = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "outbox_events_published_total",
		Help: "Outbox events acknowledged by Kafka, by topic.",
	}, []string{"topic"})
	publishErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "outbox_publish_errors_total",
		Help: "Relay rounds that failed and will be retried.",
	})
)

// Writer publishes records and returns after the broker acknowledged all
// of them or with an error. *kafka.Writer implements it.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Relay publishes outbox rows. It reads rows in id order under a row lock,
// writes them to Kafka and deletes them in the same transaction. A row that
// commits after a higher id was published is still found on the next
// round, because rows are deleted, not skipped past. A crash between the
// write and the commit publishes those rows again, which consumers absorb
// since their handlers are idempotent.
type Relay struct {
	pool      *pgxpool.Pool
	writer    Writer
	batchSize int
	// Poll is the longest wait between rounds without a notification,
	// which bounds the delay if a notification is lost.
	Poll time.Duration
	// DrainTimeout bounds the final round run after ctx is cancelled.
	DrainTimeout time.Duration
}

// NewRelay returns a relay that publishes up to batchSize rows per round.
func NewRelay(pool *pgxpool.Pool, writer Writer, batchSize int) (*Relay, error) {
	if pool == nil || writer == nil {
		return nil, errors.New("outbox relay needs a pool and a writer")
	}

	if batchSize < 1 {
		batchSize = 500
	}

	return &Relay{
		pool:         pool,
		writer:       writer,
		batchSize:    batchSize,
		Poll:         2 * time.Second,
		DrainTimeout: 3 * time.Second,
	}, nil
}

// Run publishes rows until ctx is cancelled, then makes one last bounded
// round so events of requests that finished during shutdown leave too. It
// waits for NOTIFY on Channel between rounds and returns nil on shutdown.
func (r *Relay) Run(ctx context.Context) error {
	defer r.drain()

	for ctx.Err() == nil {
		if err := r.listen(ctx); err != nil && ctx.Err() == nil {
			publishErrors.Inc()
			slog.ErrorContext(ctx, "outbox relay failed; retrying",
				"error", err)
			sleep(ctx, time.Second)
		}
	}

	return nil
}

// listen holds one LISTEN connection and publishes after each wake-up
// until an error or cancellation.
func (r *Relay) listen(ctx context.Context) error {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire listen connection: %w", err)
	}
	defer conn.Release()

	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer conn.Exec(context.Background(), "UNLISTEN "+Channel)

	for {
		if err := r.Flush(ctx); err != nil {
			return err
		}

		wait, cancel := context.WithTimeout(ctx, r.Poll)
		_, err := conn.Conn().WaitForNotification(wait)
		cancel()
		if ctx.Err() != nil {
			return nil
		}

		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("wait for notification: %w", err)
		}
	}
}

// Flush publishes rounds until the outbox is empty.
func (r *Relay) Flush(ctx context.Context) error {
	for {
		n, err := r.publishRound(ctx)
		if err != nil {
			return err
		}

		if n < r.batchSize {
			return nil
		}
	}
}

func (r *Relay) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), r.DrainTimeout)
	defer cancel()

	if err := r.Flush(ctx); err != nil {
		slog.Warn("outbox rows left unpublished at shutdown; "+
			"they are published at the next start", "error", err)
	}
}

type row struct {
	id        int64
	topic     string
	key       string
	eventID   string
	eventType string
	payload   []byte
}

func (r *Relay) publishRound(ctx context.Context) (int, error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin relay transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", relayLockID); err != nil {
		return 0, fmt.Errorf("take relay lock: %w", err)
	}

	rows, err := r.lockRows(ctx, tx)
	if err != nil || len(rows) == 0 {
		return 0, err
	}

	msgs := make([]kafka.Message, len(rows))
	ids := make([]int64, len(rows))
	for i, row := range rows {
		msgs[i] = kafka.Message{
			Topic: row.topic,
			Key:   []byte(row.key),
			Value: row.payload,
			Headers: []kafka.Header{
				{Key: event.HeaderType, Value: []byte(row.eventType)},
				{Key: event.HeaderID, Value: []byte(row.eventID)},
				{Key: event.HeaderContentType, Value: []byte(event.ContentTypeJSON)},
			},
		}
		ids[i] = row.id
	}

	if err := r.writer.WriteMessages(ctx, msgs...); err != nil {
		return 0, fmt.Errorf("publish %d outbox events: %w", len(msgs), err)
	}

	if _, err := tx.Exec(ctx, "DELETE FROM outbox WHERE id = ANY($1)", ids); err != nil {
		return 0, fmt.Errorf("delete published outbox rows: %w", err)
	}

	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit relay transaction: %w", err)
	}

	for _, row := range rows {
		published.WithLabelValues(row.topic).Inc()
	}

	return len(rows), nil
}

func (r *Relay) lockRows(ctx context.Context, tx pgx.Tx) ([]row, error) {
	rows, err := tx.Query(ctx, `
		SELECT id, topic, key, event_id::text, event_type, payload
		FROM outbox ORDER BY id LIMIT $1 FOR UPDATE`, r.batchSize)
	if err != nil {
		return nil, fmt.Errorf("select outbox rows: %w", err)
	}

	var out []row
	for rows.Next() {
		var rw row
		if err := rows.Scan(&rw.id, &rw.topic, &rw.key, &rw.eventID,
			&rw.eventType, &rw.payload); err != nil {
			return nil, fmt.Errorf("scan outbox row: %w", err)
		}
		out = append(out, rw)
	}

	return out, rows.Err()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()

	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
