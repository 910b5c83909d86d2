// Package live notifies connected browsers when the read model changes.
// The read model's transactions send a PostgreSQL notification when they
// commit, so every query-svc replica receives every change, whichever
// replica applied it. Each replica passes it on to its own subscribers.
package live

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Channel is the PostgreSQL notification channel that read-model
// transactions notify on commit.
const Channel = "read_model_changed"

// Hub fans a change signal out to subscribers. A subscriber that has not
// taken the last signal yet gets no second one, so a burst of changes
// reaches it as one.
type Hub struct {
	mu     sync.Mutex
	subs   map[chan struct{}]struct{}
	closed chan struct{}
	once   sync.Once
}

// NewHub returns a hub without subscribers.
func NewHub() *Hub {
	return &Hub{subs: map[chan struct{}]struct{}{}, closed: make(chan struct{})}
}

// Subscribe returns a channel that receives a value after each change,
// and a function that ends the subscription.
func (h *Hub) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()

	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

// Publish signals every subscriber without waiting for any of them.
func (h *Hub) Publish() {
	h.mu.Lock()
	defer h.mu.Unlock()

	for ch := range h.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Close signals every subscriber, through Done, to end its stream, as
// the service shuts down.
func (h *Hub) Close() {
	h.once.Do(func() { close(h.closed) })
}

// Done is closed by Close.
func (h *Hub) Done() <-chan struct{} {
	return h.closed
}

// Listen holds a LISTEN connection on Channel and publishes to hub after
// each notification, until ctx ends. A lost connection is opened again
// after a second; changes in between reach subscribers with the next
// notification.
func Listen(ctx context.Context, pool *pgxpool.Pool, hub *Hub) error {
	for {
		err := listenOnce(ctx, pool, hub)
		if ctx.Err() != nil {
			return nil
		}

		slog.WarnContext(ctx, "read-model notifications lost; listening again",
			"error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func listenOnce(ctx context.Context, pool *pgxpool.Pool, hub *Hub) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire listen connection: %w", err)
	}
	defer conn.Release()

	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer conn.Exec(context.Background(), "UNLISTEN "+Channel)

	// Changes may have been missed while no connection listened.
	hub.Publish()
	for {
		_, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}

			return fmt.Errorf("wait for notification: %w", err)
		}

		hub.Publish()
	}
}
